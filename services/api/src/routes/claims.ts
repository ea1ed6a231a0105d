import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { randomUUID } from 'node:crypto';
import {
  ClaimListSchema,
  ClaimParamsSchema,
  ClaimViewSchema,
  CreateClaimBodySchema,
  ListClaimsQuerySchema,
  ProblemSchema,
  WriteHeadersSchema,
} from '@claimtrail/contract';
import { ClaimJsonBatcher, listClaims } from '@claimtrail/claims';
import { HttpProblem } from '../errors.ts';
import { actorOf } from '../plugins/auth.ts';
import { SECURED, claimIdParam, etag } from '../http/conventions.ts';
import { runCommand } from '../http/run-command.ts';
import { withDeadlines } from '../desk/deadline-flags.ts';
import { replicaRead } from '../http/replica-read.ts';

const errors = { 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema };

/** A repeated or comma-separated query parameter as one list of its values. */
function splitCommas(value: unknown): unknown {
  const values = Array.isArray(value) ? value : [value];
  return values.flatMap((v) => (typeof v === 'string' ? v.split(',') : [v]));
}

export const claimRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Concurrent reads share one query (fresh data: see ClaimJsonBatcher).
  const reader = new ClaimJsonBatcher(app.store.db);
  // What the service last wrote or read of each claim, kept current by every writer's
  // notification (see ClaimViewCache): most reads never reach the database.
  const views = app.claims.views;

  app.post(
    '/claims',
    {
      schema: {
        tags: ['claims'],
        operationId: 'submitClaim',
        summary: 'Submit a claim',
        security: SECURED,
        body: CreateClaimBodySchema,
        headers: WriteHeadersSchema,
        response: { 201: ClaimViewSchema, ...errors, 409: ProblemSchema, 422: ProblemSchema },
      },
    },
    async (request, reply) => runCommand(request, reply, randomUUID(), { type: 'submit_claim', ...request.body }, 201),
  );

  app.get(
    '/claims',
    {
      schema: {
        tags: ['claims'],
        operationId: 'listClaims',
        summary: 'List claims (filters, full-text q, keyset pagination; newest first)',
        security: SECURED,
        querystring: ListClaimsQuerySchema,
        response: { 200: ClaimListSchema, ...errors },
      },
      // `state=a,b` means the same as `state=a&state=b`: split before the schema checks each value.
      preValidation(request, _reply, done) {
        const query = request.query as Record<string, unknown>;
        if (query.state !== undefined) query.state = splitCommas(query.state);
        done();
      },
    },
    async (request) => {
      const { assignee, overdue, ...filter } = request.query;
      // `me` is the caller: a desk's "my claims" without knowing its own user id.
      const resolved = assignee === 'me' ? actorOf(request).id : assignee;
      const deadlines = { thresholds: app.config.deskDeadlines, at: app.desk.now() };
      return replicaRead(request, async (source) =>
        withDeadlines(
          source.db,
          await listClaims(source.db, {
            ...filter,
            ...(resolved !== undefined ? { assignee: resolved } : {}),
            ...(overdue !== undefined ? { overdue: { is: overdue, ...deadlines } } : {}),
          }),
          deadlines,
        ),
      );
    },
  );

  app.get(
    '/claims/:id',
    {
      schema: {
        tags: ['claims'],
        operationId: 'getClaim',
        summary: 'The claim view',
        security: SECURED,
        params: ClaimParamsSchema,
        response: { 200: ClaimViewSchema, 304: { type: 'null', description: 'Not modified (If-None-Match)' }, ...errors, 404: ProblemSchema },
      },
    },
    async (request, reply) => {
      const id = claimIdParam(request.params.id);
      // `Cache-Control: no-cache` (or `max-age=0`) asks for the database's row itself.
      const cacheControl = request.headers['cache-control'];
      const bypass = cacheControl !== undefined && /no-cache|max-age=0/i.test(cacheControl);
      let row = bypass ? undefined : views.get(id);
      if (row === undefined) {
        const read = await reader.get(id);
        if (!read) throw new HttpProblem('not_found', `claim ${id} not found`);
        views.offer(id, read.version, read.json);
        row = read;
      }
      const tag = etag(row.version);
      reply.header('etag', tag);
      const inm = request.headers['if-none-match'];
      if (inm !== undefined && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === tag || t.trim() === '*')) {
        return reply.code(304).send(null as never);
      }
      // Straight from the projection's jsonb text: no parse and re-serialise per read.
      return reply.type('application/json; charset=utf-8').send(row.json as never);
    },
  );
};
