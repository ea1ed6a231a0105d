import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { BoardQuerySchema, BoardSchema, ProblemSchema } from '@claimtrail/contract';
import { boardJson } from '@claimtrail/claims';
import { SECURED } from '../http/conventions.ts';
import { replicaRead } from '../http/replica-read.ts';

export const boardRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/board',
    {
      schema: {
        tags: ['claims'],
        operationId: 'getBoard',
        summary: 'Per workflow state: the count and the claims in it (most recently changed first)',
        security: SECURED,
        querystring: BoardQuerySchema,
        response: { 200: BoardSchema, 400: ProblemSchema, 401: ProblemSchema },
      },
    },
    async (request, reply) => {
      const limit = request.query.limit ?? 50;
      const json = await replicaRead(request, (source) => boardJson(source.db, limit));
      return reply.type('application/json; charset=utf-8').send(json as never);
    },
  );
};
