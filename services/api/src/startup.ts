/**
 * What the app needs before it can answer, and what it does once it can: open the
 * database (unless given one), migrate, create the store and the command service, follow
 * the store (other instances' writes), listen for token revocations and rebuilds; then, with the app built,
 * make sure the seed users exist, seed the case on an empty database and issue demo tokens.
 */
import { createEventStore, migrateToLatest, openDatabase, type Database, type EventStore, type EventStoreOptions } from '@claimtrail/event-store';
import { migrations } from '@claimtrail/migrations';
import { ClaimService, CLAIMS_CHANGED_CHANNEL, applyClaimsChanged } from '@claimtrail/claims';
import { TOKEN_REVOKED_CHANNEL, TokenAuthenticator, ensureUsers } from '@claimtrail/identity';
import { SEED_USERS, runSeed } from '@claimtrail/seeds';
import { sql } from 'kysely';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Config } from './config.ts';
import { prepareDemoTokens } from './demo-tokens.ts';
import { createMetrics, type Metrics } from './plugins/metrics.ts';
import { StoreFollower, type StoreFollowerLogger } from './consistency.ts';
import { explainPoolerRefusal, migrateOnSession, openSessionDatabase, poolerOptions, type SessionDatabase } from './pooler.ts';
import { assertWritablePrimary } from './read-replicas.ts';

/** The app's connections and services, opened before the app is built. */
export interface Backend {
  database: Database;
  /** Whether the backend opened the database (and so closes it). */
  ownsDatabase: boolean;
  store: EventStore;
  claims: ClaimService;
  authenticator: TokenAuthenticator;
  metrics: Metrics;
  /** This instance's subscription to the store: keeps the view cache current, answers consistency tokens. */
  follower: StoreFollower;
  /** Where work that needs a server session of its own runs (DIRECT_DATABASE_URL when set): pooler.ts. */
  session: SessionDatabase;
  /** Why a notification listener could not start (not fatal; logged once the app has a logger). */
  listenError: unknown;
  /** Where the backend's background work logs once the app exists (before: the console). */
  useLogger(log: FastifyBaseLogger): void;
  close(log: FastifyBaseLogger): Promise<void>;
}

export interface BackendOptions {
  /** An open database to use (then not closed here). */
  database?: Database;
  /** Run migrations (default true). */
  migrate?: boolean;
  store?: EventStoreOptions;
}

export async function openBackend(config: Config, options: BackendOptions = {}): Promise<Backend> {
  const ownsDatabase = options.database === undefined;
  const database =
    options.database ??
    (await openDatabase({
      ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : { dataDir: config.dataDir }),
      poolSize: config.poolSize,
      statementTimeoutMs: config.statementTimeoutMs,
      connectionTimeoutMs: config.connectionTimeoutMs,
      ...(config.databaseUrl ? poolerOptions(config) : {}),
    }));

  let store: (EventStore & { close(): Promise<void> }) | undefined;
  try {
    // A standby (or a read-only database) as DATABASE_URL: one clear refusal instead of the first failing write.
    await assertWritablePrimary(database);
    if (options.migrate !== false) await (ownsDatabase ? migrateOnSession(config, database) : migrateToLatest(database.db, migrations));
    store = createEventStore(database, options.store ?? {});
  } catch (error) {
    if (ownsDatabase) await database.close().catch(() => undefined);
    throw explainPoolerRefusal(error, config);
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
  // Reads answer from the service's view cache. Every writer's events (this instance's,
  // other instances', the seed's) reach it through the store subscription of the follower:
  // the sequencer's one notification per pass wakes it, no write transaction notifies (see
  // migration 0014). Writes that bypass the store are heard on the claims-changed channel
  // (a rebuild's swap sends `*`) and, whatever happens to notifications, are bounded by the
  // cache's maximum age (see view-cache.ts). A listener that failed to start is not fatal.
  const followerLog: { current: StoreFollowerLogger } = {
    current: { error: (obj, msg) => console.error(`[claimtrail] ${msg ?? 'error'}`, obj) },
  };
  let follower: StoreFollower;
  try {
    follower = await StoreFollower.start(store, claims, { error: (obj, msg) => followerLog.current.error(obj, msg) });
  } catch (error) {
    await unlistenTokens?.().catch(() => undefined);
    await store.close().catch(() => undefined);
    if (ownsDatabase) await database.close().catch(() => undefined);
    throw error;
  }
  let unlistenClaims: (() => Promise<void>) | undefined;
  if (database.kind === 'postgres') {
    try {
      unlistenClaims = await database.listen(CLAIMS_CHANGED_CHANNEL, (payload) => applyClaimsChanged(claims.views, payload));
    } catch (error) {
      listenError ??= error;
    }
  }

  const openStore = store;
  const session = ownsDatabase ? await openSessionDatabase(config, { database, store }) : { database, store, close: async () => undefined };
  return {
    database,
    ownsDatabase,
    store: openStore,
    claims,
    authenticator,
    metrics,
    follower,
    session,
    listenError,
    useLogger(appLog) {
      followerLog.current = appLog;
    },
    async close(log) {
      await unlistenTokens?.().catch(() => undefined);
      await unlistenClaims?.().catch(() => undefined);
      await follower.close().catch((error: unknown) => log.warn({ err: error }, 'closing the store follower'));
      await openStore.close().catch((error: unknown) => log.warn({ err: error }, 'closing the event store'));
      await session.close().catch((error: unknown) => log.warn({ err: error }, 'closing the session database'));
      if (ownsDatabase) await database.close().catch((error: unknown) => log.warn({ err: error }, 'closing the database'));
    },
  };
}

export interface StartOptions {
  seed: boolean;
  demoTokens: boolean;
  /** Where the embedded database keeps the demo token set; undefined when it is not ours. */
  dataDir: string | undefined;
}

/** Seed users always exist (the seed's events name them); the case itself only on an empty database. */
export async function prepareData(app: FastifyInstance, options: StartOptions): Promise<void> {
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
