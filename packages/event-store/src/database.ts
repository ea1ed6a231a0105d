import { mkdirSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { PGliteDialect } from 'kysely-pglite-dialect';
import type { Database, DatabaseConfig } from './types.ts';
import { lockDataDir, type DataDirLock } from './data-dir-lock.ts';
import { DatabaseOpenError } from './errors.ts';
import { pooledClientClass } from './postgres/pooled-client.ts';

const CHANNEL = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

function checkChannel(channel: string): void {
  if (!CHANNEL.test(channel)) throw new TypeError(`invalid channel name: ${channel}`);
}

/**
 * The pg pool behind a PostgreSQL Database (internal, not exported from index.ts): the
 * store's append hot path uses it for named (prepared) statements, which Kysely's driver
 * cannot send. Same pool and settings as `database.db`.
 */
const pools = new WeakMap<Database, pg.Pool>();

export function pgPoolOf(database: Database): pg.Pool | undefined {
  return pools.get(database);
}

function defaultOnError(error: Error): void {
  console.warn(`[event-store] database: ${error.message}`);
}

/**
 * Opens PostgreSQL (pg Pool) when `databaseUrl` is set, PGlite otherwise (a data folder,
 * or `memory://`). Never throws for a dropped pooled connection: pool errors are reported
 * through `config.onError` and the pool replaces the connection.
 */
export async function openDatabase(config: DatabaseConfig = {}): Promise<Database> {
  if (config.databaseUrl) return openPostgres(config, config.databaseUrl);
  return openPglite(config);
}

async function openPostgres(config: DatabaseConfig, url: string): Promise<Database> {
  const onError = config.onError ?? defaultOnError;
  const poolSize = config.poolSize ?? 10;
  const statementTimeoutMs = config.statementTimeoutMs ?? 30_000;
  // A transaction pooler refuses the statement_timeout startup parameter: pooled-client.ts
  // sets it per transaction instead.
  const pooled = config.pooler === 'transaction';
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    connectionTimeoutMillis: config.connectionTimeoutMs ?? 5000,
    ...(pooled
      ? { Client: pooledClientClass({ statementTimeoutMs, namedStatements: config.namedStatements ?? false }) }
      : { statement_timeout: statementTimeoutMs }),
    idleTimeoutMillis: 30_000,
    application_name: 'claimtrail',
  });
  // An idle client losing its server emits 'error' on the pool; unhandled it would kill the process.
  pool.on('error', (error) => onError(error));
  // pg-pool removes its idle 'error' listener while a client is checked out: a backend
  // terminated between two statements of a transaction would then emit an unhandled
  // 'error' and kill the process. The statement in progress (or the next one) still fails
  // and the pool discards the broken client on release.
  pool.on('connect', (client) => client.on('error', (error) => onError(error)));
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
  const listener = new PgListener(config.sessionUrl ?? url, config.connectionTimeoutMs ?? 5000, onError);
  let closed = false;
  const database: Database = {
    kind: 'postgres',
    db,
    poolSize,
    listen: (channel, handler) => listener.listen(channel, handler),
    async notify(channel, payload) {
      checkChannel(channel);
      await pool.query('select pg_notify($1, $2)', [channel, payload]);
    },
    async ping() {
      await pool.query('select 1');
    },
    async close() {
      if (closed) return;
      closed = true;
      await listener.close();
      await db.destroy();
    },
  };
  pools.set(database, pool);
  return database;
}

type Handler = (payload: string | null) => void;

/**
 * One dedicated connection for LISTEN. When it drops it is re-established with backoff,
 * every channel is listened to again, and every handler is called with `null` because
 * notifications sent in between are lost: listeners must re-read the store.
 */
class PgListener {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private readonly handlers = new Map<string, Set<Handler>>();
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private backoff = 100;

  constructor(
    private readonly url: string,
    private readonly connectTimeout: number,
    private readonly onError: (error: Error) => void,
  ) {}

  async listen(channel: string, handler: Handler): Promise<() => Promise<void>> {
    checkChannel(channel);
    if (this.closed) throw new Error('database is closed');
    let set = this.handlers.get(channel);
    const isNew = !set;
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
    }
    set.add(handler);
    try {
      const client = await this.connect();
      if (isNew) await client.query(`listen "${channel}"`);
    } catch (error) {
      // The reconnect loop will LISTEN once the server is back; tell the caller now.
      this.scheduleReconnect();
      this.onError(error as Error);
    }
    return async () => {
      const current = this.handlers.get(channel);
      if (!current) return;
      current.delete(handler);
      if (current.size === 0) {
        this.handlers.delete(channel);
        await this.client?.query(`unlisten "${channel}"`).catch(() => undefined);
      }
    };
  }

  private connect(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      const client = new pg.Client({
        connectionString: this.url,
        connectionTimeoutMillis: this.connectTimeout,
        application_name: 'claimtrail-listen',
        keepAlive: true,
      });
      client.on('notification', (message) => {
        const set = this.handlers.get(message.channel);
        if (!set) return;
        for (const handler of [...set]) safeCall(handler, message.payload ?? '');
      });
      client.on('error', (error) => {
        this.onError(error);
        this.dropped(client);
      });
      client.on('end', () => this.dropped(client));
      try {
        await client.connect();
      } catch (error) {
        client.removeAllListeners('end');
        await client.end().catch(() => undefined);
        throw error;
      }
      for (const channel of this.handlers.keys()) await client.query(`listen "${channel}"`);
      if (this.closed) {
        await client.end().catch(() => undefined);
        throw new Error('database is closed');
      }
      this.client = client;
      this.backoff = 100;
      return client;
    })().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private dropped(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => undefined);
    if (!this.closed) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connect().then(
        () => {
          for (const set of this.handlers.values()) for (const handler of [...set]) safeCall(handler, null);
        },
        (error: Error) => {
          this.onError(error);
          this.backoff = Math.min(this.backoff * 2, 5000);
          this.scheduleReconnect();
        },
      );
    }, this.backoff);
    this.retryTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.handlers.clear();
    const client = this.client ?? (await this.connecting?.catch(() => undefined));
    this.client = undefined;
    if (client) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
    }
  }
}

function safeCall(handler: Handler, payload: string | null): void {
  try {
    handler(payload);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

async function openPglite(config: DatabaseConfig): Promise<Database> {
  const dataDir = config.dataDir ?? '.data/pglite';
  const memory = dataDir === 'memory://' || dataDir.startsWith('memory://');
  let lock: DataDirLock | undefined;
  if (!memory) {
    try {
      mkdirSync(dataDir, { recursive: true });
    } catch (error) {
      throw new DatabaseOpenError(dataDir, (error as Error).message, { cause: error });
    }
    // Before PGlite reads a byte: a refused process must not touch the folder.
    lock = lockDataDir(dataDir);
  }
  let pglite: PGlite;
  try {
    // pg_trgm: the application's duplicate suggestions (trigram similarity), as on PostgreSQL.
    pglite = new PGlite(memory ? 'memory://' : dataDir, { extensions: { pg_trgm } });
    await pglite.waitReady;
  } catch (error) {
    lock?.release();
    // PGlite reports a folder it cannot use as a bare WebAssembly `Aborted()`.
    throw new DatabaseOpenError(dataDir, (error as Error).message, { cause: error });
  }
  const db = new Kysely<any>({ dialect: new PGliteDialect(pglite) });
  // PGlite lives in this process: notifications are an in-process bus.
  const bus = new EventEmitter();
  bus.setMaxListeners(0);
  let closed = false;
  return {
    kind: 'pglite',
    db,
    poolSize: 1,
    async listen(channel, handler) {
      checkChannel(channel);
      const listener = (payload: string) => safeCall(handler, payload);
      bus.on(channel, listener);
      return async () => {
        bus.off(channel, listener);
      };
    },
    async notify(channel, payload) {
      checkChannel(channel);
      bus.emit(channel, payload);
    },
    async ping() {
      if (closed) throw new Error('database is closed');
      await pglite.query('select 1');
    },
    async close() {
      if (closed) return;
      closed = true;
      bus.removeAllListeners();
      try {
        await db.destroy();
      } finally {
        lock?.release();
      }
    },
  };
}
