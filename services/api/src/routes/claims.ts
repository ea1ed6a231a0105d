import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { randomUUID } from 'node:crypto';
import {
  ClaimCardListSchema,
  ClaimListSchema,
  ClaimParamsSchema,
  ClaimViewSchema,
  CreateClaimBodySchema,
  ListClaimsQuerySchema,
  ProblemSchema,
  WriteHeadersSchema,
} from '@claimtrail/contract';
import { ClaimJsonBatcher, DEFAULT_VIEW_MAX_AGE_MS, ReadBodies, listClaimsJson, readBody, type ListClaimsFilter } from '@claimtrail/claims';
import { sendReadBody, wantsFresh } from '../http/read-body-reply.ts';
import { HttpProblem } from '../errors.ts';
import { actorOf } from '../plugins/auth.ts';
import { SECURED, claimIdParam, etag } from '../http/conventions.ts';
import { runCommand } from '../http/run-command.ts';
import { splitCommas } from '../http/query-lists.ts';

const errors = { 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema };


/** One key per filter combination (states sorted and deduplicated, the tag as it is matched). */
function listKey(filter: ListClaimsFilter, overdue: boolean | undefined, second: number): string {
  const states = filter.state === undefined ? null : [...new Set(typeof filter.state === 'string' ? [filter.state] : filter.state)].sort();
  return JSON.stringify([
    states,
    filter.assignee ?? null,
    filter.tag?.trim().toLowerCase() ?? null,
    filter.rating ?? null,
    filter.draftRating ?? null,
    filter.q?.trim() ?? null,
    filter.limit ?? null,
    filter.cursor ?? null,
    filter.view ?? 'full',
    overdue ?? null,
    second,
  ]);
}

export const claimRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Concurrent reads share one query (fresh data: see ClaimJsonBatcher).
  const reader = new ClaimJsonBatcher(app.store.db);
  // What the service last wrote or read of each claim, kept current by every writer's
  // notification (see ClaimViewCache): most reads never reach the database.
  const views = app.claims.views;
  // Lists and searches as answered, per filter combination (the board's kind of cache).
  const lists = new ReadBodies(views, { maxAgeMs: DEFAULT_VIEW_MAX_AGE_MS, maxEntries: 512 });

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
        response: { 200: Type.Union([ClaimListSchema, ClaimCardListSchema]), 304: { type: 'null', description: 'Not modified (If-None-Match)' }, ...errors },
      },
      // `state=a,b` means the same as `state=a&state=b`: split before the schema checks each value.
      preValidation(request, _reply, done) {
        const query = request.query as Record<string, unknown>;
        if (query.state !== undefined) query.state = splitCommas(query.state);
        done();
      },
    },
    async (request, reply) => {
      const { assignee, overdue, ...filter } = request.query;
      // `me` is the caller: a desk's "my claims" without knowing its own user id.
      const resolved = assignee === 'me' ? actorOf(request).id : assignee;
      // Deadlines move with the clock, not only with writes: a kept body serves the second
      // of the desk's clock it was read in, so `deadline` flags are never a second late.
      const deadlines = { thresholds: app.config.deskDeadlines, at: app.desk.now() };
      const key = listKey({ ...filter, ...(resolved !== undefined ? { assignee: resolved } : {}) }, overdue, Math.floor(deadlines.at.getTime() / 1000));
      const query = {
        ...filter,
        ...(resolved !== undefined ? { assignee: resolved } : {}),
        ...(overdue !== undefined ? { overdue: { is: overdue, ...deadlines } } : {}),
      };
      // Kept per filter combination while no claim changed (see ReadBodies); read where this
      // instance's follower position has been replayed, like the board.
      const read = () => app.reads.read(app.storeFollower.position, (source) => listClaimsJson(source.db, query, deadlines));
      const body = wantsFresh(request) ? readBody(await read()) : await lists.get(key, read);
      return sendReadBody(request, reply, body) as never;
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
