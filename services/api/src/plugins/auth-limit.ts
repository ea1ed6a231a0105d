/**
 * Failed-authentication limiter, keyed on the client address (the general rate limit keys
 * on the token, so a guesser sending a new token each time would get a fresh bucket per
 * guess). It slows and flags guessers; it never refuses a valid token (see checkUncached
 * in auth.ts).
 *
 * Two kinds: on PostgreSQL the failures of every instance on the database are counted
 * together in `shared_limit_windows` (migration 0013), one upsert per failure — failures
 * are rare, and the count is exact across instances; on the embedded database (one
 * process) they are counted in memory (AuthFailureLimiter). This file also holds that
 * table's access (SharedLimitWindows), which the general rate limit (rate-limit.ts) uses
 * with batched statements.
 */
import { sql, type Kysely } from 'kysely';

/** What a failed token check leads to. */
export interface FailureVerdict {
  /** Seconds until the client may fail again without a 429; 0: answer this failure with 401. */
  retryAfter: number;
  /** This failure is the one that reaches the limit (once per window): worth a log line. */
  reachedLimit: boolean;
}

/** Counts failed token checks per client (key from clientKey in auth.ts). */
export interface FailureLimiter {
  readonly enabled: boolean;
  readonly max: number;
  /** Records a failure unless the client is already past the limit, and says how to answer it. */
  fail(client: string): FailureVerdict | Promise<FailureVerdict>;
}

const NOT_LIMITED: FailureVerdict = { retryAfter: 0, reachedLimit: false };

export interface AuthFailureLimiterOptions {
  /** Failures per window per client before further failures answer 429; 0 disables. */
  max: number;
  windowMs: number;
  /** Clients tracked at once (oldest window dropped first when full). */
  maxClients?: number;
}

interface Window {
  failures: number;
  resetAt: number;
}

/**
 * The in-memory limiter (one process): fixed windows per client in a bounded map, so
 * memory stays O(maxClients) whatever an attacker sends. Per process: N processes on one
 * database would allow N × max failures per window, which is why PostgreSQL uses
 * SharedAuthFailureLimiter.
 */
export class AuthFailureLimiter implements FailureLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly maxClients: number;

  constructor(private readonly options: AuthFailureLimiterOptions) {
    this.maxClients = options.maxClients ?? 50_000;
  }

  get enabled(): boolean {
    return this.options.max > 0;
  }

  get max(): number {
    return this.options.max;
  }

  fail(client: string, now = Date.now()): FailureVerdict {
    const wait = this.blockedFor(client, now);
    if (wait > 0) return { retryAfter: wait, reachedLimit: false };
    return this.recordFailure(client, now) ? { retryAfter: 0, reachedLimit: true } : NOT_LIMITED;
  }

  /** Seconds until the client may try again, or 0 when it is not limited. */
  blockedFor(client: string, now = Date.now()): number {
    if (!this.enabled) return 0;
    const window = this.windows.get(client);
    if (!window) return 0;
    if (window.resetAt <= now) {
      this.windows.delete(client);
      return 0;
    }
    return window.failures >= this.options.max ? Math.max(1, Math.ceil((window.resetAt - now) / 1000)) : 0;
  }

  /** Counts a failure; true when it is the one that reaches the limit (once per window). */
  recordFailure(client: string, now = Date.now()): boolean {
    if (!this.enabled) return false;
    const window = this.windows.get(client);
    if (window && window.resetAt > now) {
      window.failures++;
      return window.failures === this.options.max;
    }
    if (window) this.windows.delete(client);
    if (this.windows.size >= this.maxClients) this.evict(now);
    this.windows.set(client, { failures: 1, resetAt: now + this.options.windowMs });
    return this.options.max === 1;
  }

  /**
   * Every window lasts windowMs and is (re)inserted when it starts, so the Map's insertion
   * order is resetAt order: expired windows are a prefix, and eviction is O(evicted).
   */
  private evict(now: number): void {
    for (const [client, window] of this.windows) {
      if (window.resetAt > now) break;
      this.windows.delete(client);
    }
    if (this.windows.size >= this.maxClients) {
      const oldest = this.windows.keys().next();
      if (!oldest.done) this.windows.delete(oldest.value);
    }
  }

  get size(): number {
    return this.windows.size;
  }
}

/** The little a limiter logs: a database that stopped answering, and when it is back. */
export interface LimitLog {
  warn(object: object, message: string): void;
  info(object: object, message: string): void;
}

/** Hits to add to one key's shared window. */
export interface WindowHits {
  key: string;
  hits: number;
  windowMs: number;
}

/** A key's shared window after the hits were added. */
export interface SharedWindow {
  key: string;
  /** Hits in the window, every instance's, these included. */
  hits: number;
  /** Milliseconds until the window ends (by the database's clock, so instances agree). */
  ttlMs: number;
}

/** Expired windows are deleted at most CLEANUP_BATCH rows at a time. */
const CLEANUP_BATCH = 10_000;

export interface SharedLimitWindowsOptions {
  /** How often this instance deletes expired windows (after a statement that added hits); default a minute. */
  cleanupIntervalMs?: number;
}

/**
 * The `shared_limit_windows` table (migration 0013): fixed windows per key that begin with
 * the key's first hit anywhere and last their windowMs; a hit after the end starts the
 * next window. One statement adds the hits of any number of keys and answers each key's
 * total and the time left, by the database's clock (instances' clocks may disagree; each
 * turns the time left into a deadline of its own).
 *
 * Rows are locked in key order (the caller's keys are sorted here), so two instances
 * flushing overlapping keys wait for each other but never deadlock. Expired rows are
 * deleted at most once a minute per instance, SKIP LOCKED (a row another statement is
 * counting is left for next time rather than waited for).
 */
export class SharedLimitWindows {
  private lastCleanup = Date.now();
  private cleaning: Promise<void> | undefined;
  private readonly cleanupIntervalMs: number;

  constructor(
    private readonly db: Kysely<any>,
    options: SharedLimitWindowsOptions = {},
  ) {
    this.cleanupIntervalMs = options.cleanupIntervalMs ?? 60_000;
  }

  async add(entries: readonly WindowHits[]): Promise<SharedWindow[]> {
    if (entries.length === 0) return [];
    const sorted = [...entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const result = await sql<{ key: string; hits: string; ttl_ms: number }>`
      insert into shared_limit_windows as w (key, hits, reset_at)
      select t.key, t.hits, now() + t.window_ms * interval '1 millisecond'
        from unnest(${sorted.map((e) => e.key)}::text[], ${sorted.map((e) => e.hits)}::bigint[], ${sorted.map((e) => e.windowMs)}::int[])
          with ordinality as t(key, hits, window_ms, n)
       order by t.n
      on conflict (key) do update set
        hits = case when w.reset_at <= now() then excluded.hits else w.hits + excluded.hits end,
        reset_at = case when w.reset_at <= now() then excluded.reset_at else w.reset_at end
      returning key, hits::text as hits, greatest(0, ceil(extract(epoch from reset_at - now()) * 1000))::int as ttl_ms
    `.execute(this.db);
    this.maybeCleanup();
    return result.rows.map((row) => ({ key: row.key, hits: Number(row.hits), ttlMs: row.ttl_ms }));
  }

  private maybeCleanup(): void {
    const now = Date.now();
    if (this.cleaning !== undefined || now - this.lastCleanup < this.cleanupIntervalMs) return;
    this.lastCleanup = now;
    this.cleaning = sql`
      delete from shared_limit_windows where key in (
        select key from shared_limit_windows where reset_at < now() limit ${CLEANUP_BATCH} for update skip locked)
    `
      .execute(this.db)
      .then(
        () => undefined,
        () => undefined, // the next cleanup tries again; a lost one costs only table space
      )
      .finally(() => {
        this.cleaning = undefined;
      });
  }

  /** Waits for a cleanup in progress (before the database is closed). */
  async settle(): Promise<void> {
    await this.cleaning;
  }
}

/**
 * The failure limit shared by every instance on one PostgreSQL database. Each failure is
 * one upsert (exact across instances: the row lock orders concurrent failures, so at most
 * `max` failures per window are answered 401, whichever instances they reach). A client
 * known to be past the limit is answered from memory until its window ends (windows never
 * end early), so a guesser being refused costs no database work. If the database cannot
 * count, this instance counts alone (the in-memory limiter) until it can again.
 */
export class SharedAuthFailureLimiter implements FailureLimiter {
  private readonly blockedUntil = new Map<string, number>();
  private readonly local: AuthFailureLimiter;
  private degraded = false;

  constructor(
    private readonly windows: SharedLimitWindows,
    private readonly options: AuthFailureLimiterOptions & { log: LimitLog },
  ) {
    this.local = new AuthFailureLimiter(options);
  }

  get enabled(): boolean {
    return this.options.max > 0;
  }

  get max(): number {
    return this.options.max;
  }

  async fail(client: string): Promise<FailureVerdict> {
    if (!this.enabled) return NOT_LIMITED;
    const now = Date.now();
    const until = this.blockedUntil.get(client);
    if (until !== undefined) {
      if (until > now) return { retryAfter: Math.max(1, Math.ceil((until - now) / 1000)), reachedLimit: false };
      this.blockedUntil.delete(client);
    }
    let window: SharedWindow | undefined;
    try {
      [window] = await this.windows.add([{ key: `auth:${client}`, hits: 1, windowMs: this.options.windowMs }]);
    } catch (error) {
      if (!this.degraded) this.options.log.warn({ err: error }, 'failed authentications are counted by this instance alone: the shared count is unavailable');
      this.degraded = true;
      return this.local.fail(client, now);
    }
    if (this.degraded) {
      this.degraded = false;
      this.options.log.info({}, 'failed authentications are counted by all instances together again');
    }
    if (window === undefined || window.hits < this.options.max) return NOT_LIMITED;
    this.remember(client, Date.now() + window.ttlMs);
    return window.hits === this.options.max ? { retryAfter: 0, reachedLimit: true } : { retryAfter: Math.max(1, Math.ceil(window.ttlMs / 1000)), reachedLimit: false };
  }

  /** Bounded like the in-memory limiter: expired entries first, then the oldest. */
  private remember(client: string, until: number): void {
    const maxClients = this.options.maxClients ?? 50_000;
    if (this.blockedUntil.size >= maxClients) {
      const now = Date.now();
      for (const [key, end] of this.blockedUntil) {
        if (end > now && this.blockedUntil.size < maxClients) break;
        this.blockedUntil.delete(key);
      }
    }
    this.blockedUntil.set(client, until);
  }
}

/** The limiter for this database: shared through PostgreSQL, in memory on the embedded one. */
export function createAuthFailureLimiter(
  options: AuthFailureLimiterOptions & { log: LimitLog },
  windows: SharedLimitWindows | undefined,
): FailureLimiter {
  return windows === undefined ? new AuthFailureLimiter(options) : new SharedAuthFailureLimiter(windows, options);
}
