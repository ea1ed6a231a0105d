/**
 * Audit routes.
 *
 * `GET /audit/verify[?claimId=]` → `{ok, checked, firstBroken?, projections}`:
 *   the hash chains and the projections against a rebuild (src/audit/verify.ts).
 *   Policy: auditor, editor and admin may call it (auditors prove integrity, the desk
 *   checks its own work, admins operate); fact-checkers get 403. It reads only. A
 *   whole-log verify is expensive: one runs at a time per instance, others queue. It runs
 *   on the primary even with read replicas: the projection comparison fills a scratch
 *   (or temporary) table, which a standby cannot create.
 *
 * `GET /events` with `Accept: application/x-ndjson` → every event after `?after=` (up to
 *   the head at the time of the request, or `?limit=`), one JSON object per line, the
 *   same objects as the JSON feed. Streamed from store.streamAll straight to the socket
 *   with backpressure (src/audit/ndjson.ts), so exporting millions of events uses
 *   constant memory; from a read replica when one serves (http/replica-read.ts). Same
 *   policy as the JSON feed (any authenticated role). Chosen by a route constraint on
 *   the Accept header, so the JSON route stays untouched.
 *
 * Nobody changes the log through HTTP: these routes only read.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { ProblemSchema } from '@claimtrail/contract';
import { canReadConcurrently } from '@claimtrail/claims';
import type { Role } from '@claimtrail/domain';
import { NDJSON_CONTENT_TYPE, writeNdjson } from '../audit/ndjson.ts';
import { verifyAll, verifyClaim } from '../audit/verify.ts';
import { HttpProblem } from '../errors.ts';
import { requireRole } from '../plugins/auth.ts';
import { SECURED, claimIdParam } from '../http/conventions.ts';
import { replicaRead } from '../http/replica-read.ts';

export const AUDIT_ROLES: readonly Role[] = ['auditor', 'editor', 'admin'];

function acceptsNdjson(request: { headers: Record<string, string | string[] | undefined> }): string | undefined {
  const accept = request.headers.accept;
  const value = Array.isArray(accept) ? accept.join(',') : accept ?? '';
  return /application\/x-ndjson/i.test(value) ? 'ndjson' : undefined;
}

async function streamExport(request: FastifyRequest<{ Querystring: { after?: number; limit?: number } }>, reply: FastifyReply) {
  const after = request.query.after ?? 0;
  const limit = request.query.limit;
  // The export ends at the head as of the request: a consistent end, and it terminates
  // even while writers keep appending. Head and events come from the same source (a read
  // replica when one serves; once streaming has begun, a failure cuts the export).
  const { store, head } = await replicaRead(request, async (source) => ({ store: source.store, head: await source.store.headPosition() }));
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    'content-type': `${NDJSON_CONTENT_TYPE}; charset=utf-8`,
    'cache-control': 'no-store',
    'x-request-id': request.id,
    'x-head-position': String(head),
  });
  try {
    const count = await writeNdjson(raw, store.streamAll({ after, batchSize: 2000 }), {
      until: head,
      ...(limit !== undefined ? { limit } : {}),
    });
    request.log.info({ after, head, count }, 'ndjson export');
    raw.end();
  } catch (error) {
    // Headers are gone: cut the connection so the client sees a truncated export, not a complete one.
    request.log.error({ err: error }, 'ndjson export failed');
    raw.destroy(error instanceof Error ? error : new Error(String(error)));
  }
}

export const auditRoutes: FastifyPluginAsync = async (app) => {
  // One whole-log verify at a time per instance: each holds a transaction for its duration.
  let verifyQueue: Promise<unknown> = Promise.resolve();
  const serialised = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = verifyQueue.then(fn, fn);
    verifyQueue = run.catch(() => undefined);
    return run;
  };

  if (!app.hasConstraintStrategy('ndjson')) {
    app.addConstraintStrategy({
      name: 'ndjson',
      storage() {
        const handlers = new Map<string, unknown>();
        return {
          get: (value: string) => (handlers.get(value) ?? null) as never,
          set: (value: string, handler: unknown) => {
            handlers.set(value, handler);
          },
        };
      },
      deriveConstraint: acceptsNdjson,
      mustMatchWhenDerived: false,
    });
  }

  app.get<{ Querystring: { claimId?: string } }>(
    '/audit/verify',
    {
      schema: {
        tags: ['audit'],
        operationId: 'verifyAudit',
        summary: 'Proof that the log is intact: hash chains, positions, and projections equal to a rebuild',
        description: 'Roles auditor, editor, admin. With ?claimId= only that claim (chain + projection row).',
        security: SECURED,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { claimId: { type: 'string', maxLength: 100 } },
        },
        response: {
          200: {
            type: 'object',
            additionalProperties: true,
            required: ['ok', 'checked'],
            properties: {
              ok: { type: 'boolean' },
              checked: { type: 'integer' },
              firstBroken: {
                type: 'object',
                additionalProperties: true,
                properties: {
                  streamId: { type: 'string' },
                  claimId: { type: ['string', 'null'] },
                  version: { type: ['integer', 'null'] },
                  eventId: { type: ['string', 'null'] },
                  position: { type: ['integer', 'null'] },
                  reason: { type: 'string' },
                  columns: { type: 'array', items: { type: 'string' } },
                },
              },
              projections: {
                type: 'object',
                properties: { checked: { type: 'integer' }, differences: { type: 'integer' } },
              },
              scope: {},
              durationMs: { type: 'integer' },
            },
          },
          400: ProblemSchema,
          401: ProblemSchema,
          403: ProblemSchema,
          404: ProblemSchema,
        },
      },
    },
    async (request) => {
      requireRole(request, AUDIT_ROLES);
      const { claimId } = request.query;
      if (claimId !== undefined) {
        const report = await verifyClaim(app.store, claimIdParam(claimId));
        if (!report) throw new HttpProblem('not_found', `claim ${claimId} not found`);
        return report;
      }
      // The rebuild it compares with holds a session advisory lock: DIRECT_DATABASE_URL behind a transaction pooler.
      return serialised(() => verifyAll(app.session.store, { concurrentReads: canReadConcurrently(app.session.database) }));
    },
  );

  app.get<{ Querystring: { after?: number; limit?: number } }>(
    '/events',
    {
      constraints: { ndjson: 'ndjson' },
      schema: {
        // Same method and path as the JSON feed: OpenAPI keeps one entry per path, the feed's.
        hide: true,
        tags: ['feed'],
        summary: 'NDJSON export: every event after ?after=, one per line (Accept: application/x-ndjson)',
        description:
          'Same route as the JSON feed, chosen by `Accept: application/x-ndjson`. Streams up to the head position at the ' +
          'time of the request (header X-Head-Position) or ?limit= events; constant memory, suitable for millions of events.',
        security: SECURED,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            after: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 },
            limit: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
          },
        },
        response: { 400: ProblemSchema, 401: ProblemSchema },
      },
    },
    async (request, reply) => {
      await streamExport(request, reply);
    },
  );
};
