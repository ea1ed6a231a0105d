/**
 * buildApp: opens the database (unless given one), migrates, wires the store and the
 * command service, then registers plugins (parsers, validation, auth, errors, metrics,
 * rate limit, OpenAPI, websockets) and routes. server.ts only listens.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import swagger from '@fastify/swagger';
import rateLimit from '@fastify/rate-limit';
import websocket from '@fastify/websocket';
import { sql } from 'kysely';
import type { Actor, Role } from '@claimtrail/domain';
import {
  createEventStore,
  migrateToLatest,
  openDatabase,
  type Database,
  type EventStore,
  type EventStoreOptions,
} from '@claimtrail/event-store';
import { migrations } from '@claimtrail/migrations';
import {
  ClaimService,
  CLAIMS_CHANGED_CHANNEL,
  TOKEN_REVOKED_CHANNEL,
  applyClaimsChanged,
  TokenAuthenticator,
  ensureUsers,
  hashToken,
  isCommandError,
  revokeTokenById,
} from '@claimtrail/claims';
import { SEED_USERS, runSeed } from '@claimtrail/seeds';
import { defaultConfig, fastifyTrustProxy, type Config } from './config.ts';
import { redactUrl } from './redact.ts';
import { HttpProblem, sendProblem } from './errors.ts';
import { registerAuth, bearerToken } from './plugins/auth.ts';
import { AuthFailureLimiter } from './plugins/auth-limit.ts';
import { registerJsonParser, registerTextGuards } from './plugins/body.ts';
import { clientErrorHandler } from './plugins/client-errors.ts';
import { createMetrics, registerHttpMetrics, type Metrics } from './plugins/metrics.ts';
import { registerValidators } from './plugins/validation.ts';
import { registerRoutes } from './routes/index.ts';
import { livePlugin, type LivePluginOptions } from './live/index.ts';
import { boardPlugin } from './board/index.ts';
import { OPENAPI_LICENSE, openApiServers, problemResponses, requireOperationIds } from './openapi.ts';
import { prepareDemoTokens } from './demo-tokens.ts';
import { docsPlugin } from './plugins/security-headers.ts';

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

export const API_VERSION = '1.0.0';
export { redactUrl };


function loggerOptions(config: Config): FastifyServerOptions['logger'] {
  return {
    level: config.logLevel,
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'token'],
      censor: '[redacted]',
    },
    serializers: {
      req(request: { method: string; url: string; ip?: string; id?: string }) {
        return { method: request.method, url: redactUrl(request.url), remoteAddress: request.ip };
      },
      // @fastify/websocket logs a refused upgrade's raw URL as `path`.
      path(path: unknown) {
        return typeof path === 'string' ? redactUrl(path) : path;
      },
    },
  };
}

/**
 * One line per request at info: Fastify's "incoming request" line is dropped and its
 * "request completed" line carries the request (method, redacted URL, address) instead.
 */
class CompletedOnlyLogController extends LogController {
  override incomingRequest(): void {}
  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) reply.log.error({ req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
// Request ids: a random prefix per process and a counter (unique across instances and
// restarts for all practical purposes; cheaper than a UUID per request).
const REQUEST_ID_PREFIX = randomUUID().slice(0, 13).replace('-', '');
let requestCounter = 0;
const UNLIMITED_URLS = new Set(['/healthz', '/readyz']);

export async function buildApp(options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const config = defaultConfig(options.config);
  const ownsDatabase = options.database === undefined;
  const database =
    options.database ??
    (await openDatabase({
      ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : { dataDir: config.dataDir }),
      poolSize: config.poolSize,
      statementTimeoutMs: config.statementTimeoutMs,
      connectionTimeoutMs: config.connectionTimeoutMs,
    }));

  let store: (EventStore & { close(): Promise<void> }) | undefined;
  try {
    if (options.migrate !== false) await migrateToLatest(database.db, migrations);
    store = createEventStore(database, options.store ?? {});
  } catch (error) {
    if (ownsDatabase) await database.close().catch(() => undefined);
    throw error;
  }

  // Revocations from any instance (or `npm run tokens -- revoke`) drop the token from this
  // instance's cache at once; after a listener reconnect (notices may be lost) drop all.
  const authenticator = new TokenAuthenticator(database.db, { ttlMs: config.authCacheTtlMs });
  let unlistenTokens: (() => Promise<void>) | undefined;
  let listenError: unknown;
  try {
    unlistenTokens = await database.listen(TOKEN_REVOKED_CHANNEL, (hash) => {
      if (hash === null) authenticator.clear();
      else authenticator.forget(hash);
    });
  } catch (error) {
    // Not fatal: the cache TTL still bounds how long a revoked token works.
    listenError = error;
  }
  const metrics = createMetrics(database.db);
  const claims = new ClaimService(store, {
    database,
    batch: config.writeBatchMax === 1 ? false : { concurrency: config.writeConcurrency, maxSize: config.writeBatchMax },
    onAppended(result, command) {
      for (const event of result.events) metrics.eventsAppended.inc({ type: event.type });
      metrics.commands.inc({ command: command.type, outcome: 'ok' });
    },
    onBatch(size) {
      metrics.writeBatchSize.observe(size);
    },
    onBatchWritten(path) {
      metrics.writeBatches.inc({ path });
    },
  });
  // Reads answer from the service's view cache; other writers are heard through the
  // claims-changed notifications (migration 0009). Without them (PGlite has one process,
  // but a PostgreSQL listener that failed to start hears nothing) only a single writer is
  // safe to cache for: a PostgreSQL service that cannot listen reads from the database.
  let unlistenClaims: (() => Promise<void>) | undefined;
  if (database.kind === 'postgres') {
    try {
      unlistenClaims = await database.listen(CLAIMS_CHANGED_CHANNEL, (payload) => applyClaimsChanged(claims.views, payload));
    } catch (error) {
      claims.views.disable();
      listenError ??= error;
    }
  }
  const authFailures = new AuthFailureLimiter({ max: config.authFailureMax, windowMs: config.authFailureWindowMs });

  const app = Fastify({
    // Caller options (level, stream) are merged over ours: redaction always applies.
    logger:
      options.logger === false
        ? false
        : { ...(loggerOptions(config) as object), ...(typeof options.logger === 'object' ? options.logger : {}) },
    bodyLimit: config.bodyLimit,
    // request.ip (failed-authentication limit, rate limit, logs) is the client behind these proxies.
    trustProxy: fastifyTrustProxy(config.trustProxy),
    // Time to receive a whole request (slow-loris bound). Not a socket idle timeout
    // (connectionTimeout): websockets and NDJSON feeds are long-lived on purpose.
    requestTimeout: config.requestTimeoutMs,
    // The timeouts go to Node's server constructor too: set only afterwards (as Fastify
    // does with requestTimeout), a body that stops arriving after complete headers was
    // never cut off. Node checks for timed-out requests every 30 s by default, so a 30 s
    // timeout fired after 30 to 60 s; checking at a quarter of the timeout keeps it within 25 %.
    ...(config.requestTimeoutMs > 0
      ? {
          http: {
            requestTimeout: config.requestTimeoutMs,
            headersTimeout: Math.min(60_000, config.requestTimeoutMs),
            connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(config.requestTimeoutMs / 4))),
          },
        }
      : {}),
    // One log line per request ("request completed", with status and time) instead of two.
    logController: new CompletedOnlyLogController(),
    requestIdHeader: false,
    genReqId(request) {
      const incoming = request.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : `${REQUEST_ID_PREFIX}-${(++requestCounter).toString(36)}`;
    },
    return503OnClosing: true,
    // Path segments may carry anything a client sends; length caps keep them cheap.
    routerOptions: { maxParamLength: 500, ignoreTrailingSlash: true },
    // Errors raised before routing (bad URL encoding, too-long params) are problems too.
    frameworkErrors: (error, request, reply) => {
      // An upgrade request's socket left Node's HTTP server; the websocket plugin closes it
      // after routed requests only. Unclosed, each such request would hold a socket open.
      if ((request.raw as { upgrade?: boolean }).upgrade === true) reply.raw.once('finish', () => request.raw.socket.destroy());
      sendProblem(error, request, reply);
    },
    // …and so are requests Node's HTTP parser refuses before Fastify sees them.
    clientErrorHandler,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorate('store', store);
  app.decorate('database', database);
  app.decorate('claims', claims);
  app.decorate('authenticateToken', (token: string) => authenticator.authenticate(token));
  app.decorate('revokeTokenById', async (id: string) => {
    const hashes = await revokeTokenById(database.db, id);
    // PGlite's notifications are an in-process bus that SQL NOTIFY does not reach: forget here too.
    for (const hash of hashes) authenticator.forget(hash);
    return hashes.length > 0;
  });
  app.decorate('config', config);
  app.decorate('metrics', metrics);
  app.decorate('demoTokens', {} as Partial<Record<Role, string>>);

  app.setErrorHandler((error, request, reply) => {
    if (isCommandError(error)) metrics.commands.inc({ command: commandOf(request.url), outcome: error.code });
    return sendProblem(error, request, reply);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(new HttpProblem('not_found', `no route ${request.method} ${redactUrl(request.url).split('?')[0]!.slice(0, 200)}`), request, reply),
  );
  // Per-request hooks are callback style: an async hook costs a promise and a microtask hop.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });

  registerJsonParser(app);
  registerValidators(app);
  registerTextGuards(app);
  registerAuth(app, { authenticator, failures: authFailures });
  registerHttpMetrics(app, metrics);

  if (config.rateLimitMax > 0) {
    await app.register(rateLimit, {
      global: true,
      max: config.rateLimitMax,
      timeWindow: 60_000,
      allowList: (request) => UNLIMITED_URLS.has(request.url),
      // Counted after authentication (which runs in preParsing): an authenticated request
      // spends its token's budget, a public one its address's. A request whose token fails
      // never gets here; guessing is bounded per address by the failed-auth limiter, so a
      // guesser cannot open a fresh bucket per guess.
      hook: 'preHandler',
      keyGenerator(request) {
        const token = request.actor === null ? null : bearerToken(request.headers.authorization);
        return token !== null ? `t:${hashToken(token)}` : `ip:${request.ip}`;
      },
      errorResponseBuilder(_request, context) {
        return new HttpProblem(
          'rate_limited',
          `rate limit of ${context.max} requests per minute exceeded; retry in ${Math.ceil(context.ttl / 1000)} s`,
          {},
          { 'retry-after': String(Math.max(1, Math.ceil(context.ttl / 1000))) },
        );
      },
    });
  }

  requireOperationIds(app);
  await app.register(swagger, {
    transformObject: problemResponses,
    openapi: {
      openapi: '3.1.0',
      servers: openApiServers(config.publicUrl),
      info: {
        title: 'claimtrail',
        version: API_VERSION,
        license: OPENAPI_LICENSE,
        description:
          'Event-sourced fact-check workflow. Errors are application/problem+json (RFC 9457) with a stable `code`. ' +
          'Writes return `ETag: "<version>"`, honour `If-Match` (412 when stale) and `Idempotency-Key`.',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearerAuth: [] }],
      tags: [
        { name: 'claims', description: 'Submit, read, list, search, board' },
        { name: 'workflow', description: 'Workflow steps' },
        { name: 'audit', description: 'History and time travel' },
        { name: 'feed', description: 'Global event feed' },
        { name: 'users', description: 'The user directory' },
        { name: 'system', description: 'Health, readiness, metrics' },
      ],
    },
  });
  await app.register(docsPlugin);
  app.get('/openapi.json', { schema: { hide: true }, config: { public: true } }, async () => app.swagger());

  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  // Open sockets' tokens are checked again as often as a cached token is (at least every second).
  await app.register(livePlugin, { tokenRecheckIntervalMs: Math.max(1000, config.authCacheTtlMs), ...options.live });
  await app.register(boardPlugin);
  await app.register(registerRoutes);

  if (listenError !== undefined) app.log.warn({ err: listenError }, 'not listening for token revocations or claim changes (token cache TTL applies; claim reads go to the database)');
  app.addHook('onClose', async () => {
    await unlistenTokens?.().catch(() => undefined);
    await unlistenClaims?.().catch(() => undefined);
    await store.close().catch((error: unknown) => app.log.warn({ err: error }, 'closing the event store'));
    if (ownsDatabase) await database.close().catch((error: unknown) => app.log.warn({ err: error }, 'closing the database'));
  });

  try {
    await prepareData(app, {
      seed: options.seed ?? config.seed,
      demoTokens: options.demoTokens ?? config.demoTokens,
      // The demo set is kept in the embedded database's folder only when this process opened it.
      dataDir: ownsDatabase && !config.databaseUrl ? config.dataDir : undefined,
    });
  } catch (error) {
    await app.close().catch(() => undefined);
    throw error;
  }
  return app;
}

function commandOf(url: string): string {
  const path = url.split('?')[0]!;
  const match = /^\/claims\/[^/]+\/([a-z-]+)$/.exec(path);
  return match ? match[1]! : path === '/claims' ? 'submit_claim' : 'other';
}

/** Seed users always exist (the seed's events name them); the case itself only on an empty database. */
async function prepareData(app: FastifyInstance, options: { seed: boolean; demoTokens: boolean; dataDir: string | undefined }): Promise<void> {
  const db = app.database.db;
  await ensureUsers(db, Object.values(SEED_USERS));
  if (options.seed) {
    const existing = await sql<{ n: number }>`select count(*)::int as n from claims`.execute(db);
    if ((existing.rows[0]?.n ?? 0) === 0) {
      const started = Date.now();
      try {
        const result = await runSeed((input) => app.claims.execute(input));
        app.log.info({ commands: result.commands, claims: result.claims.length, ms: Date.now() - started }, 'seeded the case');
      } catch (error) {
        // A broken seed must not keep the service from starting; it is loud in the log.
        app.log.error({ err: error }, 'seeding failed');
      }
    }
  }
  if (options.demoTokens) {
    Object.assign(app.demoTokens, await prepareDemoTokens(app.database, options.dataDir));
  }
}
