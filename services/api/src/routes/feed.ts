import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { EventFeedSchema, EventsQuerySchema, ProblemSchema } from '@claimtrail/contract';
import { toEventRecord } from '@claimtrail/claims';
import { SECURED } from '../http/conventions.ts';
import { replicaRead } from '../http/replica-read.ts';

/** The global feed: every event after a position, in position order. */
export const feedRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/events',
    {
      schema: {
        tags: ['feed'],
        operationId: 'listEvents',
        summary: 'Every event after ?after= (a position), in position order',
        security: SECURED,
        querystring: EventsQuerySchema,
        response: { 200: EventFeedSchema, 400: ProblemSchema, 401: ProblemSchema },
      },
    },
    async (request) => {
      const { after = 0, limit = 100 } = request.query;
      const page = await replicaRead(request, (source) => source.store.readAll({ after, limit }));
      return { events: page.events.map(toEventRecord), next: page.next };
    },
  );
};
