import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  ClaimEventsSchema,
  ClaimParamsSchema,
  ClaimViewSchema,
  ProblemSchema,
  StateQuerySchema,
} from '@claimtrail/contract';
import { claimStateAt, toEventRecord, type StateAt } from '@claimtrail/claims';
import { claimStreamId } from '@claimtrail/domain';
import { HttpProblem } from '../errors.ts';
import { SECURED, claimIdParam, etag } from '../http/conventions.ts';
import { replicaRead } from '../http/replica-read.ts';

const errors = { 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema, 404: ProblemSchema };

export const historyRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/claims/:id/events',
    {
      schema: {
        tags: ['audit'],
        operationId: 'listClaimEvents',
        summary: "The claim's full history, in stream order",
        security: SECURED,
        params: ClaimParamsSchema,
        response: { 200: ClaimEventsSchema, ...errors },
      },
    },
    async (request, reply) => {
      const id = claimIdParam(request.params.id);
      const events = await replicaRead(request, (source) => source.store.readStream(claimStreamId(id)));
      if (events.length === 0) throw new HttpProblem('not_found', `claim ${id} not found`);
      reply.header('etag', etag(events[events.length - 1]!.version));
      return { events: events.map(toEventRecord) };
    },
  );

  app.get(
    '/claims/:id/state',
    {
      schema: {
        tags: ['audit'],
        operationId: 'getClaimState',
        summary: 'The claim view as it was at a version (?version=N) or an instant (?at=ISO-8601)',
        description: 'Folds the stream prefix. 404 when the claim did not exist yet at that point (or the version is beyond its history).',
        security: SECURED,
        params: ClaimParamsSchema,
        querystring: StateQuerySchema,
        response: { 200: ClaimViewSchema, ...errors },
      },
    },
    async (request, reply) => {
      const id = claimIdParam(request.params.id);
      const { version, at } = request.query;
      if (version !== undefined && at !== undefined) {
        throw new HttpProblem('validation', 'give either version or at, not both', { field: 'at' });
      }
      let when: StateAt = { latest: true };
      if (version !== undefined) when = { version };
      else if (at !== undefined) {
        const instant = new Date(at);
        // The schema's date-time format admits a leap second (23:59:60), which Date cannot hold.
        if (Number.isNaN(instant.getTime())) {
          throw new HttpProblem('validation', 'at must be a date-time with a time zone, such as 2024-03-12T10:00:00Z (seconds 00 to 59)', { field: 'at' });
        }
        when = { at: instant };
      }
      const view = await replicaRead(request, (source) => claimStateAt(source.store, id, when));
      if (!view) {
        throw new HttpProblem(
          'not_found',
          version !== undefined
            ? `claim ${id} has no version ${version}`
            : `claim ${id} did not exist${at !== undefined ? ` at ${at}` : ''}`,
        );
      }
      reply.header('etag', etag(view.version));
      return view;
    },
  );
};
