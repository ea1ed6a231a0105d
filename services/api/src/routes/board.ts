import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { BoardQuerySchema, BoardSchema, ProblemSchema } from '@claimtrail/contract';
import { SECURED } from '../http/conventions.ts';
import { boardReader } from '../http/board-reads.ts';
import { splitCommas } from '../http/query-lists.ts';
import { sendReadBody, wantsFresh } from '../http/read-body-reply.ts';

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
    async (request, reply) => sendReadBody(request, reply, await reader.body(request.query, { fresh: wantsFresh(request) })) as never,
  );
};
