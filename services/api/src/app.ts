/**
 * buildApp: opens the backend (startup.ts), composes the plugins (parsers, validation,
 * auth, problems, metrics, rate limit, OpenAPI, websockets, the board) and then the
 * routes, and runs the start-up data work (seed users, the seed case, demo tokens).
 * server.ts only listens.
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import websocket from '@fastify/websocket';
import type { Actor, Role } from '@claimtrail/domain';
import type { Database, EventStore, EventStoreOptions } from '@claimtrail/event-store';
import type { ClaimService } from '@claimtrail/claims';
import { revokeTokenById } from '@claimtrail/identity';
import { defaultConfig, type Config } from './config.ts';
import { registerAuth } from './plugins/auth.ts';
import { SharedLimitWindows, createAuthFailureLimiter } from './plugins/auth-limit.ts';
import { registerJsonParser, registerTextGuards } from './plugins/body.ts';
import { registerHttpMetrics, type Metrics } from './plugins/metrics.ts';
import { registerOpenApi } from './plugins/openapi.ts';
import { registerProblemHandlers } from './plugins/problems.ts';
import { registerRateLimit } from './plugins/rate-limit.ts';
import { registerValidators } from './plugins/validation.ts';
import { registerConsistency } from './plugins/consistency.ts';
import { registerRoutes } from './routes/index.ts';
import { livePlugin, type LivePluginOptions } from './live/index.ts';
import { deskPlugin } from './desk/plugin.ts';
import { boardPlugin } from './board/index.ts';
import { publicPagesPlugin } from './public/index.ts';
import { serverOptions } from './server-options.ts';
import { openBackend, prepareData } from './startup.ts';
import { ReadReplicas } from './read-replicas.ts';
import { registerTransparency } from './transparency/plugin.ts';
import { registerWebhookWorker } from './webhooks/plugin.ts';

declare module 'fastify' {
  interface FastifyInstance {
    store: EventStore;
    database: Database;
    claims: ClaimService;
    authenticateToken(token: string): Promise<Actor | null>;
    /** Revokes a token by its public id; false when there is none. Effective at once here, and on other instances via NOTIFY. */
    revokeTokenById(id: string): Promise<boolean>;
    config: Config;
    metrics: Metrics;
    /** Role → token of the demo users created at this start (empty unless demo tokens are on). */
    demoTokens: Partial<Record<Role, string>>;
    /** Where work that needs a server session of its own runs: DIRECT_DATABASE_URL when set, else `database` (pooler.ts). */
    session: { database: Database; store: EventStore };
    /** Where reads that need no write transaction run: the read replicas, else the primary (read-replicas.ts). */
    reads: ReadReplicas;
  }
}

export interface BuildAppOptions {
  config?: Partial<Config>;
  /** An open database to use (the app then does not close it). */
  database?: Database;
  /** Pino options, `false` to silence; default: JSON logs at config.logLevel. */
  logger?: FastifyServerOptions['logger'];
  /** Run migrations at start (default true). */
  migrate?: boolean;
  /** Seed the case when there are no claims yet (default config.seed). */
  seed?: boolean;
  /** Create demo users and fresh tokens (default config.demoTokens). */
  demoTokens?: boolean;
  store?: EventStoreOptions;
  live?: LivePluginOptions;
}

export { API_VERSION } from './plugins/openapi.ts';
export { redactUrl } from './redact.ts';

export async function buildApp(options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const config = defaultConfig(options.config);
  const backend = await openBackend(config, options);
  const { database, authenticator } = backend;

  const app = Fastify(serverOptions(config, options.logger)).withTypeProvider<TypeBoxTypeProvider>();

  app.decorate('store', backend.store);
  app.decorate('database', database);
  app.decorate('claims', backend.claims);
  app.decorate('authenticateToken', (token: string) => authenticator.authenticate(token));
  app.decorate('revokeTokenById', async (id: string) => {
    const hashes = await revokeTokenById(database.db, id);
    // PGlite's notifications are an in-process bus that SQL NOTIFY does not reach: forget here too.
    for (const hash of hashes) authenticator.forget(hash);
    return hashes.length > 0;
  });
  app.decorate('config', config);
  app.decorate('metrics', backend.metrics);
  app.decorate('demoTokens', {} as Partial<Record<Role, string>>);
  app.decorate('session', { database: backend.session.database, store: backend.session.store });
  let reads: ReadReplicas;
  try {
    reads = await ReadReplicas.open(config.readDatabaseUrls, {
      primary: { db: database.db, store: backend.store },
      primaryHead: () => backend.follower.position,
      maxLagMs: config.readReplicaMaxLagMs,
      waitMs: config.readReplicaWaitMs,
      poolSize: config.poolSize,
      statementTimeoutMs: config.statementTimeoutMs,
      connectionTimeoutMs: config.connectionTimeoutMs,
      log: app.log,
    });
  } catch (error) {
    await backend.close(app.log);
    throw error;
  }
  app.decorate('reads', reads);
  await registerTransparency(app, { ownsDatabase: backend.ownsDatabase }).catch(async (error: unknown) => {
    await reads.close();
    await backend.close(app.log);
    throw error;
  });

  registerProblemHandlers(app);
  // Per-request hooks are callback style: an async hook costs a promise and a microtask hop.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });

  registerJsonParser(app);
  registerValidators(app);
  registerTextGuards(app);
  // Limits are counted by every instance on a PostgreSQL database together; PGlite is one process.
  const sharedLimits = database.kind === 'postgres' ? new SharedLimitWindows(database.db) : undefined;
  registerAuth(app, {
    authenticator,
    failures: createAuthFailureLimiter({ max: config.authFailureMax, windowMs: config.authFailureWindowMs, log: app.log }, sharedLimits),
  });
  registerHttpMetrics(app, backend.metrics);
  await registerRateLimit(app, config, sharedLimits);
  registerConsistency(app, backend.follower, config.consistencyWaitMs);
  backend.useLogger(app.log);
  await registerOpenApi(app, config);

  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  // Open sockets' tokens are checked again as often as a cached token is (at least every second).
  await app.register(livePlugin, { tokenRecheckIntervalMs: Math.max(1000, config.authCacheTtlMs), ...options.live });
  await app.register(boardPlugin);
  await app.register(publicPagesPlugin);
  await app.register(deskPlugin);
  await app.register(registerRoutes);
  registerWebhookWorker(app);

  if (backend.listenError !== undefined) {
    app.log.warn({ err: backend.listenError }, 'not listening for token revocations or rebuild notifications (the token cache TTL and the claim view cache\'s maximum age apply)');
  }
  app.addHook('onClose', async () => {
    await reads.close();
    await backend.close(app.log);
  });

  try {
    await prepareData(app, {
      seed: options.seed ?? config.seed,
      demoTokens: options.demoTokens ?? config.demoTokens,
      // The demo set is kept in the embedded database's folder only when this process opened it.
      dataDir: backend.ownsDatabase && !config.databaseUrl ? config.dataDir : undefined,
    });
  } catch (error) {
    await app.close().catch(() => undefined);
    throw error;
  }
  return app;
}
