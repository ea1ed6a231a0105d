/**
 * The general rate limit (RATE_LIMIT_MAX requests per minute; 0 turns it off). Health and
 * readiness probes are never limited.
 *
 * On PostgreSQL the limit is shared by every instance on the database (SharedRateCounter
 * below, as @fastify/rate-limit's store); on the embedded database (one process) the
 * plugin's own in-memory store counts. Either way the answers are the plugin's:
 * x-ratelimit-* headers, and past the limit 429 `rate_limited` with Retry-After.
 */
import type { FastifyInstance } from 'fastify';
import rateLimit, { type FastifyRateLimitStore } from '@fastify/rate-limit';
import { hashToken } from '@claimtrail/identity';
import type { Config } from '../config.ts';
import { HttpProblem } from '../errors.ts';
import { bearerToken, clientKey } from './auth.ts';
import type { LimitLog, SharedLimitWindows } from './auth-limit.ts';

const UNLIMITED_URLS = new Set(['/healthz', '/readyz']);
const WINDOW_MS = 60_000;

export async function registerRateLimit(app: FastifyInstance, config: Config, shared?: SharedLimitWindows): Promise<void> {
  if (config.rateLimitMax <= 0) return;
  let store: (new () => FastifyRateLimitStore) | undefined;
  if (shared !== undefined) {
    const counter = new SharedRateCounter(shared, { log: app.log });
    // preClose: onClose hooks run last-added first, so the database would be closed already.
    app.addHook('preClose', () => counter.close());
    // The plugin constructs its store itself (`new Store(options)`): this class is only
    // the plugin's handle on the one counter of this app.
    store = class SharedStore implements FastifyRateLimitStore {
      incr(key: string, callback: RateCallback, timeWindow: number, max: number): void {
        counter.incr(key, callback, timeWindow, max);
      }
      child(): FastifyRateLimitStore {
        return this;
      }
    };
  }
  await app.register(rateLimit, {
    global: true,
    max: config.rateLimitMax,
    timeWindow: WINDOW_MS,
    ...(store === undefined ? {} : { store }),
    allowList: (request) => UNLIMITED_URLS.has(request.url),
    // Counted after authentication (which runs in preParsing): an authenticated request
    // spends its token's budget, a public one its address's. A request whose token fails
    // never gets here; guessing is bounded per address by the failed-auth limiter, so a
    // guesser cannot open a fresh bucket per guess.
    hook: 'preHandler',
    keyGenerator(request) {
      const token = request.actor === null ? null : bearerToken(request.headers.authorization);
      // request.ip is the client named by trusted proxies (TRUST_PROXY); IPv6 clients
      // are grouped by /64 as in the failure limit (one host usually holds a whole /64).
      return token !== null ? `t:${hashToken(token)}` : `ip:${clientKey(request.ip)}`;
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

type RateCallback = (error: Error | null, result?: { current: number; ttl: number }) => void;

interface Waiter {
  callback: RateCallback;
  timeWindow: number;
  max: number;
}

/** One key's window as this instance sees it. */
interface KeyWindow {
  /** The plugin's key (`t:<token hash>`, `ip:<address>`). */
  readonly key: string;
  /** The key in the shared table. */
  readonly sharedKey: string;
  readonly windowMs: number;
  /** Every instance's hits in the shared window at the last answer (this instance's sent ones included). */
  known: number;
  /** Hits of the flush in flight, not yet in `known`. */
  sending: number;
  /** Hits admitted since, not yet sent. */
  pending: number;
  /** When the window ends, by this instance's clock. */
  resetAt: number;
  /** Requests that found this key's unconfirmed share used up: decided when the flush in flight answers. */
  waiting: Waiter[] | undefined;
}

export interface SharedRateCounterOptions {
  log: LimitLog;
  /** How often counts go to the database (one statement for every key counted since). */
  flushIntervalMs?: number;
  /**
   * The hits this instance may admit for a key without the database's confirmation, as a
   * share of the key's limit (at least 1). Half of it sends a flush at once.
   */
  share?: number;
  /** A flush slower than this stops holding requests back (they are decided on this instance's count). */
  slowFlushMs?: number;
  /** Keys tracked at once (expired windows dropped first, then the oldest). */
  maxKeys?: number;
  /** Keys per statement (the rest go in the next one, sent at once). */
  maxBatch?: number;
}

/**
 * The rate limit shared by the instances on one PostgreSQL database, without a database
 * round trip per request.
 *
 * Each instance counts in memory and reconciles with the shared table
 * (`shared_limit_windows`, see SharedLimitWindows) in one batched statement for all the
 * keys counted since the last one: every `flushIntervalMs` (50 ms), or at once when a key's
 * unsent hits reach half its share. The statement adds this instance's hits to each key's
 * window and answers the window's total — every instance's hits — and the time left, which
 * this instance then counts on. A request is admitted when
 *
 *   known total + this instance's unconfirmed hits < max
 *
 * (what this instance knows is a lower bound of the true total), and refused otherwise
 * without any database work until the window ends (refusals are not counted). An instance
 * holds at most `s = max(1, floor(share × max))` unconfirmed hits per key: a request past
 * that waits for the flush in flight (about one round trip; only keys busier than s/2 per
 * round trip ever wait).
 *
 * Error bound: per window and key, N instances admit at most max + (N − 1) × s requests
 * (with the default share of 1 %: 1 % of the limit per further instance). Why: take the
 * instance whose last admission relied on the latest answer; that answer counted every hit
 * any instance had confirmed before it, and its own unconfirmed hits are in its check, so
 * only the others' unconfirmed hits (at most s each) can be missing. One instance alone is
 * exact. The bound holds while the database answers within `slowFlushMs` (500 ms): when a flush
 * fails or is slow, the instance decides on its own count (it never refuses or stalls
 * because the database is away) — at worst N × max per window, the per-process limit —
 * and sends its counts once the database answers again.
 */
export class SharedRateCounter {
  private readonly windows = new Map<string, KeyWindow>();
  private readonly dirty = new Set<KeyWindow>();
  /** Windows with requests waiting for a flush. */
  private readonly held = new Set<KeyWindow>();
  private readonly flushIntervalMs: number;
  private readonly shareFraction: number;
  private readonly slowFlushMs: number;
  private readonly maxKeys: number;
  private readonly maxBatch: number;
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> | undefined;
  private flushAgain = false;
  private flushScheduled = false;
  /** The database did not answer (or too slowly): decide on this instance's count alone. */
  private alone = false;
  private failing = false;
  private closed = false;

  constructor(
    private readonly shared: SharedLimitWindows,
    private readonly options: SharedRateCounterOptions,
  ) {
    this.flushIntervalMs = options.flushIntervalMs ?? 50;
    this.shareFraction = options.share ?? 0.01;
    this.slowFlushMs = options.slowFlushMs ?? 500;
    this.maxKeys = options.maxKeys ?? 100_000;
    this.maxBatch = options.maxBatch ?? 5_000;
    this.timer = setInterval(() => void this.flush(), this.flushIntervalMs);
    this.timer.unref();
  }

  /** @fastify/rate-limit's store contract: the count including this request, and the time left. */
  incr(key: string, callback: RateCallback, timeWindow: number, max: number): void {
    const now = Date.now();
    let window = this.windows.get(key);
    if (window === undefined || window.resetAt <= now) window = this.open(key, timeWindow, now, window);
    this.decide(window, callback, timeWindow, max, now);
  }

  private decide(window: KeyWindow, callback: RateCallback, timeWindow: number, max: number, now: number): void {
    const unconfirmed = window.sending + window.pending;
    const total = window.known + unconfirmed;
    if (total >= max) {
      // Known to be over: refused here, no count, no database work until the window ends.
      callback(null, { current: total + 1, ttl: window.resetAt - now });
      return;
    }
    const share = Math.max(1, Math.floor(max * this.shareFraction));
    if (unconfirmed >= share && !this.alone && !this.closed) {
      (window.waiting ??= []).push({ callback, timeWindow, max });
      this.held.add(window);
      this.flushSoon();
      return;
    }
    if (window.pending === 0) this.dirty.add(window);
    window.pending++;
    if (window.pending >= Math.ceil(share / 2)) this.flushSoon();
    callback(null, { current: total + 1, ttl: window.resetAt - now });
  }

  /** A new window for the key (its first hit here, or the previous window ended). */
  private open(key: string, windowMs: number, now: number, ended: KeyWindow | undefined): KeyWindow {
    if (ended !== undefined) {
      this.windows.delete(key);
      // Unsent hits of an ended window count for nothing.
      this.dirty.delete(ended);
    } else if (this.windows.size >= this.maxKeys) {
      this.evict(now);
    }
    const window: KeyWindow = { key, sharedKey: `rate:${key}`, windowMs, known: 0, sending: 0, pending: 0, resetAt: now + windowMs, waiting: undefined };
    this.windows.set(key, window);
    // Requests waiting on the ended window are decided on the new one.
    if (ended !== undefined && ended.sending === 0) this.release(ended);
    return window;
  }

  /**
   * Windows are inserted when they open and all last about as long, so insertion order is
   * nearly end order: expired ones first, then the oldest while still full. A window with
   * waiting requests is kept (they are answered when its flush returns).
   */
  private evict(now: number): void {
    for (const [key, window] of this.windows) {
      if (this.windows.size < this.maxKeys && window.resetAt > now) break;
      if (window.waiting !== undefined) continue;
      this.windows.delete(key);
      this.dirty.delete(window);
    }
  }

  private flushSoon(): void {
    if (this.flushing !== undefined) {
      this.flushAgain = true;
      return;
    }
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // On the next turn of the event loop, so that keys crossing their share together share a statement.
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  /** Sends every key's unsent hits in one statement (one flush at a time). */
  flush(): Promise<void> {
    if (this.flushing !== undefined) {
      this.flushAgain = true;
      return this.flushing;
    }
    if (this.dirty.size === 0) return Promise.resolve();
    const batch: KeyWindow[] = [];
    for (const window of this.dirty) {
      if (batch.length >= this.maxBatch) break;
      this.dirty.delete(window);
      window.sending = window.pending;
      window.pending = 0;
      batch.push(window);
    }
    const flushing = this.send(batch).finally(() => {
      this.flushing = undefined;
      // Requests arrived for a flush in flight, or the batch was full: the next one at once.
      if (this.flushAgain || batch.length === this.maxBatch) {
        this.flushAgain = false;
        this.flushSoon();
      }
    });
    this.flushing = flushing;
    return flushing;
  }

  private async send(batch: KeyWindow[]): Promise<void> {
    // A slow answer stops holding requests back: they are decided on this instance's count.
    const slow = setTimeout(() => {
      this.alone = true;
      this.releaseAll();
    }, this.slowFlushMs);
    slow.unref();
    try {
      const answers = await this.shared.add(batch.map((window) => ({ key: window.sharedKey, hits: window.sending, windowMs: window.windowMs })));
      const now = Date.now();
      const byKey = new Map(answers.map((answer) => [answer.key, answer]));
      for (const window of batch) {
        const answer = byKey.get(window.sharedKey);
        window.sending = 0;
        if (answer === undefined) continue;
        window.known = answer.hits;
        window.resetAt = now + answer.ttlMs;
      }
      this.alone = false;
      if (this.failing) {
        this.failing = false;
        this.options.log.info({}, 'the rate limit is counted by all instances together again');
      }
    } catch (error) {
      // Kept for the next flush; meanwhile this instance counts alone.
      for (const window of batch) {
        window.pending += window.sending;
        window.sending = 0;
        if (window.pending > 0 && this.windows.get(window.key) === window) this.dirty.add(window);
      }
      this.alone = true;
      // At shutdown the database may be closed first: nothing to warn about then.
      if (!this.failing && !this.closed) {
        this.failing = true;
        this.options.log.warn({ err: error }, 'the rate limit is counted by this instance alone: the shared count is unavailable');
      }
    } finally {
      clearTimeout(slow);
    }
    for (const window of batch) this.release(window);
  }

  /** Decides the requests that waited for this window's flush. */
  private release(window: KeyWindow): void {
    const waiting = window.waiting;
    if (waiting === undefined) return;
    window.waiting = undefined;
    this.held.delete(window);
    for (const waiter of waiting) this.incr(window.key, waiter.callback, waiter.timeWindow, waiter.max);
  }

  private releaseAll(): void {
    for (const window of [...this.held]) this.release(window);
  }

  /** Stops the timer and sends what is still unsent (best effort: the database may be closing too). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.flushing;
    await this.flush();
    this.releaseAll();
    await this.shared.settle();
  }
}
