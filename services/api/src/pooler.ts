/**
 * PostgreSQL behind a connection pooler (docs/scaling.md, "Connection poolers"): what the
 * pooled DATABASE_URL is opened with, the session database (DIRECT_DATABASE_URL) for the
 * work that needs a server session of its own, and a clear refusal when DATABASE_URL turns
 * out to be a pooler the configuration does not mention.
 */
import { createEventStore, migrateToLatest, openDatabase, type Database, type DatabaseConfig, type EventStore } from '@claimtrail/event-store';
import { migrations } from '@claimtrail/migrations';
import type { Config } from './config.ts';

/** How the database at DATABASE_URL is opened, beyond its address and pool. */
export function poolerOptions(config: Config): Pick<DatabaseConfig, 'pooler' | 'namedStatements' | 'sessionUrl'> {
  return {
    pooler: config.databasePooler,
    ...(config.databasePooler === 'transaction' ? { namedStatements: config.poolerPreparedStatements } : {}),
    // LISTEN is a session: through a transaction pooler it would hear nothing.
    ...(config.directDatabaseUrl ? { sessionUrl: config.directDatabaseUrl } : {}),
  };
}

/** Where work that needs a server session of its own runs: the whole-log verify's rebuild (a session advisory lock). */
export interface SessionDatabase {
  database: Database;
  /** A store without a sequencer over `database` (the app's store does the sequencing). */
  store: EventStore;
  /** Closes what was opened for it (nothing when it is the app's own database). */
  close(): Promise<void>;
}

/** The session database: DIRECT_DATABASE_URL when set (opened now, connecting on first use), else the app's own. */
export async function openSessionDatabase(config: Config, own: { database: Database; store: EventStore }): Promise<SessionDatabase> {
  if (!config.directDatabaseUrl) return { ...own, close: async () => undefined };
  const database = await openDatabase({
    databaseUrl: config.directDatabaseUrl,
    // The rebuild reads concurrently with three connections (canReadConcurrently).
    poolSize: Math.min(config.poolSize, 3),
    statementTimeoutMs: config.statementTimeoutMs,
    connectionTimeoutMs: config.connectionTimeoutMs,
  });
  const store = createEventStore(database, { sequencer: false });
  return {
    database,
    store,
    async close() {
      await store.close();
      await database.close();
    },
  };
}

/**
 * Migrations on DIRECT_DATABASE_URL when set (a migration may hold a session or run a
 * statement a transaction pooler would split from its neighbours), else on `database`.
 */
export async function migrateOnSession(config: Config, database: Database): Promise<void> {
  if (!config.directDatabaseUrl) {
    await migrateToLatest(database.db, migrations);
    return;
  }
  const direct = await openDatabase({
    databaseUrl: config.directDatabaseUrl,
    poolSize: 1,
    statementTimeoutMs: config.statementTimeoutMs,
    connectionTimeoutMs: config.connectionTimeoutMs,
  });
  try {
    await migrateToLatest(direct.db, migrations);
  } finally {
    await direct.close();
  }
}

/** PgBouncer's answer to a startup parameter it does not track (pg sends statement_timeout at start-up). */
const REFUSED_STARTUP_PARAMETER = /unsupported startup parameter/i;

/**
 * The error to report when opening the database failed: a pooler refusing the startup
 * parameters (DATABASE_POOLER not set) gets a message that says what to set; any other
 * error is returned as it is.
 */
export function explainPoolerRefusal(error: unknown, config: Config): unknown {
  const message = error instanceof Error ? error.message : String(error);
  if (config.databasePooler !== 'none' || !REFUSED_STARTUP_PARAMETER.test(message)) return error;
  return new Error(
    `DATABASE_URL leads to a connection pooler (it refused a startup parameter: "${message}"). ` +
      'Set DATABASE_POOLER=transaction and DIRECT_DATABASE_URL (a connection straight to PostgreSQL); see docs/scaling.md, "Connection poolers".',
    { cause: error },
  );
}
