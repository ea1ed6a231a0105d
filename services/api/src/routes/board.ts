import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { BoardQuerySchema, BoardSchema, ProblemSchema } from '@claimtrail/contract';
import { SECURED } from '../http/conventions.ts';
import { boardReader } from '../http/board-reads.ts';
import { splitCommas } from '../http/query-lists.ts';

/** Whether an If-None-Match header names `etag` (or is `*`). */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  return ifNoneMatch.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}

export const boardRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const reader = boardReader(app);
  app.get(
    '/board',
    {
      schema: {
        tags: ['claims'],
        operationId: 'getBoard',
        summary: 'Per workflow state: the count and a page of the claims in it (most recently changed first)',
        security: SECURED,
        querystring: BoardQuerySchema,
        response: { 200: BoardSchema, 304: { type: 'null', description: 'Not modified (If-None-Match)' }, 400: ProblemSchema, 401: ProblemSchema },
      },
      preValidation(request, _reply, done) {
        const query = request.query as Record<string, unknown>;
        if (query.state !== undefined) query.state = splitCommas(query.state);
        if (query.cursor !== undefined) query.cursor = splitCommas(query.cursor);
        done();
      },
    },
    async (request, reply) => {
      const cacheControl = request.headers['cache-control'];
      const fresh = cacheControl !== undefined && /no-cache|max-age=0/i.test(cacheControl);
      const body = await reader.body(request.query, { fresh });
      reply.header('etag', body.etag).header('cache-control', 'private, no-cache');
      if (matches(request.headers['if-none-match'], body.etag)) return reply.code(304).send(null as never);
      return reply.type('application/json; charset=utf-8').send(body.bytes as never);
    },
  );
};
