/**
 * Read replicas (`READ_DATABASE_URL`): PostgreSQL streaming standbys of the primary that
 * serve the reads that need no write transaction — lists and search, the board, the feed,
 * a claim's history and time travel, the NDJSON export, and the websocket snapshots and
 * replays. Writes, the sequencer, idempotency, the store subscriptions (LISTEN, and what
 * they read after a wake-up) and the audit verifications (they compare in a scratch table)
 * stay on the primary. Nothing is ever written through a replica's URL.
 *
 * **Never older than asked for.** A read that must reflect a position (a request's
 * `Consistency-Token`; a websocket snapshot or replay, which must reach the live fan-out's
 * position) goes to a replica only once that replica is known to have replayed it: its
 * head (`max(position)` of its events, read on the replica) is at least that position.
 * Positions become visible on the primary in commit order, one sequencer pass at a time,
 * and a standby replays commits in the same order, so a replica whose head is P holds
 * every event up to P and every projection row written with them. A head read on the
 * replica is a lower bound of what it holds from then on (a standby only moves forward);
 * it is refreshed by the health check and, when a read needs more, at once (one query
 * per replica at a time, shared by every read waiting). A read that no replica can serve
 * within READ_REPLICA_WAIT_MS reads the primary. Each URL must name ONE server: a head read
 * on one standby says nothing about another behind the same address.
 *
 * **Staleness without a token** is the replica's lag, and a replica whose lag exceeds
 * READ_REPLICA_MAX_LAG_MS leaves the rotation. The lag is measured every
 * `checkIntervalMs`: zero when the replica's head is the primary's (as this instance's
 * store follower knows it), else the age on the primary of the first event the replica
 * lacks. `pg_last_xact_replay_timestamp()` is reported beside it (`replayAgeMs`) but not
 * used: on a quiet primary it grows without the replica being behind.
 *
 * **Failures are not the client's.** A replica that does not answer the check, or fails
 * a read with a connection error, leaves the rotation; the read that failed (whatever the
 * error) runs again on the primary. The check brings the replica back once it answers
 * and is within the lag bound.
 */
import { sql, type Kysely } from 'kysely';
import { createEventStore, openDatabase, type Database, type EventStore } from '@claimtrail/event-store';

/** Where a read runs: the primary or one replica. */
export interface ReadSource {
  /** `primary`, or the replica's host:port/database (no credentials). */
  readonly name: string;
  readonly replica: boolean;
  readonly db: Kysely<any>;
  /** The event store's reads over this source (a replica's store never appends nor sequences). */
  readonly store: EventStore;
}

/**
 * `in_use`: in the rotation; `lagging`: answers but is further behind than the bound;
 * `down`: does not answer (or failed a read with a connection error); `starting`: not
 * checked yet.
 */
export type ReplicaState = 'starting' | 'in_use' | 'lagging' | 'down';

/** One replica as readiness reports it. */
export interface ReplicaReport {
  name: string;
  state: ReplicaState;
  /** Whether reads go to it now. */
  inUse: boolean;
  /** Whether the server is a standby in recovery (false: a primary named as a replica). */
  standby: boolean | null;
  /** Its head position at the last check. */
  head: number | null;
  /** Positions the primary (as this instance's store follower knows it) had beyond `head`. */
  behind: number | null;
  /** How far behind it was at the last check, in ms (the decision's measure; 0 when caught up). */
  lagMs: number | null;
  /** now() − pg_last_xact_replay_timestamp() on the replica: the age of the last commit it replayed. */
  replayAgeMs: number | null;
  /** Reads it has served (including ones that failed and were answered by the primary). */
  reads: number;
  checkedAt: string | null;
  /** Why it is down. */
  error: string | null;
}

export interface ReadReplicasReport {
  maxLagMs: number;
  /** Reads that went to the primary: no replica in rotation, or none had replayed what the read needed in time. */
  readsOnPrimary: number;
  /** Reads a replica failed, answered by the primary. */
  retriedOnPrimary: number;
  servers: ReplicaReport[];
}

export interface ReadReplicaLogger {
  warn(obj: unknown, msg?: string): void;
  info(obj: unknown, msg?: string): void;
}

export interface ReadReplicasOptions {
  /** The primary, where every read goes that no replica serves. */
  primary: { db: Kysely<any>; store: EventStore };
  /** The primary's head as this instance knows it (its store follower's position; no query). */
  primaryHead(): number;
  /** A replica further behind than this (ms) leaves the rotation (READ_REPLICA_MAX_LAG_MS). */
  maxLagMs: number;
  /** How long a read that needs a position waits for a replica before it reads the primary (READ_REPLICA_WAIT_MS). */
  waitMs: number;
  /** Health check period (default 500 ms). */
  checkIntervalMs?: number;
  /** Pool settings of each replica (the primary's). */
  poolSize: number;
  statementTimeoutMs: number;
  connectionTimeoutMs: number;
  log: ReadReplicaLogger;
}

const DEFAULT_CHECK_INTERVAL_MS = 500;
/** How often a read waiting for a replica's head asks again. */
const WAIT_POLL_MS = 5;

/** The server and database of a URL, without credentials or parameters. */
export function replicaName(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`;
  } catch {
    return 'replica';
  }
}

/** Errors that say the server or the connection is gone, not that the statement was wrong. */
export function isConnectionFailure(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message, severity } = error as { code?: unknown; message?: unknown; severity?: unknown };
  const text = typeof code === 'string' ? code : '';
  if (/^(08|57P)/.test(text) || text === '53300') return true;
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', 'EAI_AGAIN', 'EHOSTUNREACH'].includes(text)) return true;
  if (severity === 'FATAL') return true;
  return /timeout exceeded when trying to connect|Connection terminated|connection error|not queryable|Cannot use a pool after calling end/i.test(
    typeof message === 'string' ? message : '',
  );
}

function errorText(error: unknown): string {
  if (error instanceof Error) return error.message || (error as { code?: string }).code || error.name;
  return String(error);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

class Replica implements ReadSource {
  readonly replica = true;
  readonly db: Kysely<any>;
  readonly store: EventStore & { close(): Promise<void> };
  state: ReplicaState = 'starting';
  /** Positions up to here are on the replica (a lower bound: read on the replica, which only moves forward). */
  head = 0;
  standby: boolean | null = null;
  behind: number | null = null;
  lagMs: number | null = null;
  replayAgeMs: number | null = null;
  reads = 0;
  checkedAt: Date | null = null;
  error: string | null = null;
  private refreshing: Promise<number> | undefined;

  constructor(
    readonly name: string,
    readonly database: Database,
  ) {
    this.db = database.db;
    this.store = createEventStore(database, { sequencer: false });
  }

  get inRotation(): boolean {
    return this.state === 'in_use';
  }

  /** Reads the replica's head now; concurrent callers share one query. */
  refreshHead(): Promise<number> {
    this.refreshing ??= sql<{ head: string | number | null }>`select max(position) as head from events`
      .execute(this.db)
      .then((result) => {
        this.head = Math.max(this.head, Number(result.rows[0]?.head ?? 0));
        return this.head;
      })
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  report(): ReplicaReport {
    return {
      name: this.name,
      state: this.state,
      inUse: this.inRotation,
      standby: this.standby,
      head: this.checkedAt === null ? null : this.head,
      behind: this.behind,
      lagMs: this.lagMs,
      replayAgeMs: this.replayAgeMs,
      reads: this.reads,
      checkedAt: this.checkedAt?.toISOString() ?? null,
      error: this.error,
    };
  }

  async close(): Promise<void> {
    await this.store.close().catch(() => undefined);
    await this.database.close().catch(() => undefined);
  }
}

/**
 * The read sources of this instance: the primary and the configured replicas, their
 * health checks, and the choice of where each read runs.
 */
export class ReadReplicas {
  readonly primary: ReadSource;
  private readonly replicas: Replica[];
  private next = 0;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private closed = false;
  private readsOnPrimary = 0;
  private retriedOnPrimary = 0;

  private constructor(
    private readonly options: ReadReplicasOptions,
    replicas: Replica[],
  ) {
    this.primary = { name: 'primary', replica: false, db: options.primary.db, store: options.primary.store };
    this.replicas = replicas;
  }

  /**
   * Opens a pool per replica URL (connections are made on first use: a replica that is
   * down does not keep the service from starting) and runs the first health check.
   */
  static async open(urls: readonly string[], options: ReadReplicasOptions): Promise<ReadReplicas> {
    const replicas: Replica[] = [];
    for (const url of urls) {
      const name = replicaName(url);
      const database = await openDatabase({
        databaseUrl: url,
        poolSize: options.poolSize,
        statementTimeoutMs: options.statementTimeoutMs,
        connectionTimeoutMs: options.connectionTimeoutMs,
        // A replica going away drops its idle connections: the state change is logged once instead.
        onError: () => undefined,
      });
      replicas.push(new Replica(name, database));
    }
    const reads = new ReadReplicas(options, replicas);
    if (replicas.length > 0) {
      await reads.checkAll();
      reads.schedule();
    }
    return reads;
  }

  /** Whether any replica is configured. */
  get configured(): boolean {
    return this.replicas.length > 0;
  }

  /**
   * Runs `fn` on a replica that has replayed `atLeast` (null: any replica in rotation), or
   * on the primary when none has within READ_REPLICA_WAIT_MS. A read that fails on a
   * replica runs again on the primary (a connection failure also takes the replica out).
   */
  async read<T>(atLeast: number | null, fn: (source: ReadSource) => Promise<T>): Promise<T> {
    if (this.replicas.length === 0) return fn(this.primary);
    const replica = this.pick(atLeast) ?? (atLeast !== null && this.options.waitMs > 0 ? await this.waitFor(atLeast) : undefined);
    if (replica === undefined) {
      this.readsOnPrimary++;
      return fn(this.primary);
    }
    replica.reads++;
    try {
      return await fn(replica);
    } catch (error) {
      if (isConnectionFailure(error)) this.takeOut(replica, error);
      this.retriedOnPrimary++;
      return fn(this.primary);
    }
  }

  /** A replica in rotation that has replayed `atLeast`, round robin. */
  private pick(atLeast: number | null): Replica | undefined {
    const n = this.replicas.length;
    for (let i = 0; i < n; i++) {
      const replica = this.replicas[(this.next + i) % n]!;
      if (replica.inRotation && (atLeast === null || replica.head >= atLeast)) {
        this.next = (this.next + i + 1) % n;
        return replica;
      }
    }
    return undefined;
  }

  /** Asks the replicas in rotation for their heads until one has `position`, at most waitMs. */
  private async waitFor(position: number): Promise<Replica | undefined> {
    const deadline = Date.now() + this.options.waitMs;
    for (;;) {
      const candidates = this.replicas.filter((replica) => replica.inRotation);
      if (candidates.length === 0) return undefined;
      await Promise.all(
        candidates.map((replica) =>
          replica.refreshHead().catch((error: unknown) => {
            if (isConnectionFailure(error)) this.takeOut(replica, error);
          }),
        ),
      );
      const ready = this.pick(position);
      if (ready !== undefined) return ready;
      const left = deadline - Date.now();
      if (left <= 0 || this.closed) return undefined;
      await sleep(Math.min(left, WAIT_POLL_MS));
    }
  }

  private takeOut(replica: Replica, error: unknown): void {
    const was = replica.state;
    replica.state = 'down';
    replica.error = errorText(error);
    if (was !== 'down') this.options.log.warn({ replica: replica.name, err: error }, 'read replica out of rotation: reads go to the primary');
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.checkAll().finally(() => this.schedule());
    }, this.options.checkIntervalMs ?? DEFAULT_CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  /** One health check of every replica (callers share a check in progress). */
  checkAll(): Promise<void> {
    this.checking ??= Promise.all(this.replicas.map((replica) => this.check(replica)))
      .then(() => undefined)
      .finally(() => {
        this.checking = undefined;
      });
    return this.checking;
  }

  private async check(replica: Replica): Promise<void> {
    const was = replica.state;
    try {
      const { rows } = await sql<{ head: string | number | null; standby: boolean; replay_age_ms: number | null }>`
        select (select max(position) from events) as head,
               pg_is_in_recovery() as standby,
               (extract(epoch from now() - pg_last_xact_replay_timestamp()) * 1000)::float8 as replay_age_ms`.execute(replica.db);
      const row = rows[0]!;
      replica.head = Math.max(replica.head, Number(row.head ?? 0));
      replica.standby = row.standby;
      replica.replayAgeMs = row.replay_age_ms === null ? null : Math.max(0, Math.round(row.replay_age_ms));
      const primaryHead = this.options.primaryHead();
      replica.behind = Math.max(0, primaryHead - replica.head);
      replica.lagMs = replica.behind === 0 ? 0 : await this.ageOfFirstEventAfter(replica.head);
      replica.checkedAt = new Date();
      replica.error = null;
      replica.state = replica.lagMs > this.options.maxLagMs ? 'lagging' : 'in_use';
    } catch (error) {
      replica.state = 'down';
      replica.error = errorText(error);
      replica.checkedAt = new Date();
      replica.behind = null;
      replica.lagMs = null;
    }
    if (replica.state === was || this.closed) return;
    const context = { replica: replica.name, head: replica.head, behind: replica.behind, lagMs: replica.lagMs, error: replica.error };
    if (replica.state === 'in_use') this.options.log.info(context, 'read replica in rotation');
    else if (replica.state === 'lagging') this.options.log.warn(context, `read replica out of rotation: more than ${this.options.maxLagMs} ms behind`);
    else this.options.log.warn(context, 'read replica out of rotation: it does not answer');
  }

  /** On the primary: how long ago the first event after `position` was recorded (ms). */
  private async ageOfFirstEventAfter(position: number): Promise<number> {
    const { rows } = await sql<{ age_ms: number }>`
      select (extract(epoch from clock_timestamp() - recorded_at) * 1000)::float8 as age_ms
        from events where position > ${position} order by position limit 1`.execute(this.primary.db);
    return Math.max(0, Math.round(rows[0]?.age_ms ?? 0));
  }

  report(): ReadReplicasReport {
    return {
      maxLagMs: this.options.maxLagMs,
      readsOnPrimary: this.readsOnPrimary,
      retriedOnPrimary: this.retriedOnPrimary,
      servers: this.replicas.map((replica) => replica.report()),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.checking?.catch(() => undefined);
    await Promise.all(this.replicas.map((replica) => replica.close()));
  }
}

/**
 * Refuses a primary that cannot be written: a standby in recovery, or a database whose
 * transactions are read-only by default. The service writes there from its first second
 * (migrations, users, events, the sequencer), and the database's own refusal would name
 * only the statement.
 */
export async function assertWritablePrimary(database: Database): Promise<void> {
  if (database.kind !== 'postgres') return;
  const { rows } = await sql<{ standby: boolean; read_only: string }>`
    select pg_is_in_recovery() as standby, current_setting('transaction_read_only') as read_only`.execute(database.db);
  const row = rows[0];
  if (row === undefined) return;
  if (row.standby || row.read_only === 'on') {
    const why = row.standby ? 'a standby in recovery (pg_is_in_recovery() is true)' : 'its transactions are read-only (default_transaction_read_only is on)';
    throw new ReadOnlyPrimaryError(
      `DATABASE_URL points at a database that cannot be written: ${why}. The service writes to DATABASE_URL (migrations, ` +
        'events, projections, the sequencer, tokens): point it at the primary, and give read replicas as READ_DATABASE_URL.',
    );
  }
}

export class ReadOnlyPrimaryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReadOnlyPrimaryError';
  }
}
