import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type TSchema } from 'typebox';
import { sql } from 'kysely';
import { HealthSchema, ProblemSchema, RoleSchema } from '@claimtrail/contract';
import { migrations } from '@claimtrail/migrations';
import { PUBLIC, SECURED } from '../http/conventions.ts';
import { actorOf } from '../plugins/auth.ts';

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/** The read replicas (READ_DATABASE_URL), from their last health check: no query per probe. */
const ReplicasSchema = Type.Object(
  {
    maxLagMs: Type.Integer(),
    readsOnPrimary: Type.Integer(),
    retriedOnPrimary: Type.Integer(),
    servers: Type.Array(
      Type.Object({
        name: Type.String(),
        state: Type.Union([Type.Literal('starting'), Type.Literal('in_use'), Type.Literal('lagging'), Type.Literal('down')]),
        inUse: Type.Boolean(),
        standby: Nullable(Type.Boolean()),
        head: Nullable(Type.Integer()),
        behind: Nullable(Type.Integer()),
        lagMs: Nullable(Type.Integer()),
        replayAgeMs: Nullable(Type.Integer()),
        reads: Type.Integer(),
        checkedAt: Nullable(Type.String()),
        error: Nullable(Type.String()),
      }),
    ),
  },
  {
    description:
      'Present when read replicas are configured. A replica that is down or more than maxLagMs behind is out of rotation ' +
      '(its reads go to the primary); it does not make the service unready.',
  },
);

const ReadySchema = Type.Object(
  {
    status: Type.String(),
    database: Type.String(),
    migrations: Type.Object({ applied: Type.Integer(), expected: Type.Integer(), pending: Type.Array(Type.String()) }),
    replicas: Type.Optional(ReplicasSchema),
  },
  { additionalProperties: true },
);

/**
 * The probes have no 4xx of their own, but like every route they refuse a request that
 * cannot be read (malformed URL, oversized headers, a timed-out request) with a problem.
 */
const MALFORMED_REQUEST = { ...ProblemSchema, description: 'A request that cannot be read (problem+json)' };

export const systemRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // The migrations this build expects: fixed for the process, not recomputed per probe.
  const expected = Object.keys(migrations).sort();

  app.get(
    '/healthz',
    {
      schema: {
        tags: ['system'],
        operationId: 'getHealth',
        summary: 'Liveness: the process answers',
        security: PUBLIC,
        response: { 200: HealthSchema, '4xx': MALFORMED_REQUEST },
      },
    },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['system'],
        operationId: 'getReadiness',
        summary: 'Readiness: database reachable and every migration applied (else 503); the read replicas and their lag',
        security: PUBLIC,
        response: {
          200: ReadySchema,
          '4xx': MALFORMED_REQUEST,
          // Not an error document: the same report, for probes and people (Retry-After set).
          503: { ...ReadySchema, description: 'Not ready: the database is unreachable or migrations are pending (the readiness report, application/json)' },
        },
      },
    },
    async (_request, reply) => {
      // Replicas out of rotation leave the service ready: their reads go to the primary.
      const replicas = app.reads.configured ? { replicas: app.reads.report() } : {};
      try {
        await app.database.ping();
        const result = await sql<{ name: string }>`select name from kysely_migration`.execute(app.database.db);
        const applied = new Set(result.rows.map((r) => r.name));
        const pending = expected.filter((name) => !applied.has(name));
        const body = {
          status: pending.length === 0 ? 'ready' : 'migrations_pending',
          database: app.database.kind,
          migrations: { applied: applied.size, expected: expected.length, pending },
          ...replicas,
        };
        if (pending.length > 0) reply.code(503).header('retry-after', '5');
        return body;
      } catch (error) {
        app.log.warn({ err: error }, 'readiness check failed');
        reply.code(503).header('retry-after', '2');
        return {
          status: 'database_unavailable',
          database: app.database.kind,
          migrations: { applied: 0, expected: expected.length, pending: expected },
          ...replicas,
        };
      }
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['system'],
        operationId: 'getMetrics',
        summary: 'Prometheus metrics (any authenticated role)',
        security: SECURED,
        produces: ['text/plain'],
        response: { 200: Type.String(), 401: ProblemSchema },
      },
    },
    async (_request, reply) => {
      const text = await app.metrics.registry.metrics();
      return reply.type(app.metrics.registry.contentType).send(text);
    },
  );

  app.get(
    '/me',
    {
      schema: {
        tags: ['system'],
        operationId: 'getMe',
        summary: 'Who the token belongs to',
        security: SECURED,
        response: {
          200: Type.Object({ id: Type.String(), role: RoleSchema, name: Type.Optional(Type.String()) }, { additionalProperties: true }),
          401: ProblemSchema,
        },
      },
    },
    async (request) => actorOf(request),
  );
};
