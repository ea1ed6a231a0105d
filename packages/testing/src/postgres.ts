import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The PostgreSQL server tests may use: `TEST_DATABASE_URL`, else `DATABASE_URL`,
 * else the conventional local server. Tests never touch the database named in the URL
 * beyond creating and dropping their own.
 */
export function serverUrl(): string {
  return (
    process.env.TEST_DATABASE_URL ??
    process.env.DATABASE_URL ??
    'postgres://postgres@127.0.0.1:5432/postgres'
  );
}

let probe: Promise<boolean> | undefined;

/** Whether a PostgreSQL server answers. Cached per process. */
export function postgresAvailable(): Promise<boolean> {
  probe ??= (async () => {
    const client = new pg.Client({ connectionString: serverUrl(), connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.query('select 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return probe;
}

/**
 * Resolves to true when tests that need a real server should run. On CI a missing
 * server is an error, never a silent skip: CI must run every test.
 */
export async function requirePostgres(): Promise<boolean> {
  const available = await postgresAvailable();
  if (!available && process.env.CI) {
    throw new Error(`PostgreSQL is required in CI but ${redact(serverUrl())} did not answer`);
  }
  return available;
}

export interface TestDatabase {
  /** Connection string of the fresh database. */
  readonly url: string;
  readonly name: string;
  /** Drops the database, terminating any connection still open on it. */
  drop(): Promise<void>;
}

/** Creates an empty database with a unique name on the test server. */
export async function createTestDatabase(prefix = 'ct'): Promise<TestDatabase> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`.toLowerCase();
  await admin(`create database "${name}"`);
  const url = new URL(serverUrl());
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      await admin(`drop database if exists "${name}" with (force)`);
    },
  };
}

async function admin(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl() });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:***@');
}
