/**
 * The general rate limit (RATE_LIMIT_MAX requests per minute; 0 turns it off). Health and
 * readiness probes are never limited.
 *
 * Counted after authentication (which runs in preParsing), in a route-level preHandler: an
 * authenticated request spends its token's budget, a public one its client address's
 * (request.ip: the client named by trusted proxies, TRUST_PROXY; IPv6 grouped by /64 as in
 * the failure limit). A request whose token fails never gets here; guessing is bounded
 * per address by the failed-auth limiter, so a guesser cannot open a fresh bucket per
 * guess. Routes only: a 404 and a body that fails to parse are not counted.
 *
 * On PostgreSQL the limit is shared by every instance on the database (SharedRateCounter);
 * on the embedded database (one process) it is counted in memory (LocalRateCounter).
 * Answers: `x-ratelimit-limit`, `x-ratelimit-remaining`, `x-ratelimit-reset` (seconds) on
 * every limited route; past the limit 429 `rate_limited` with `Retry-After` — the headers
 * of @fastify/rate-limit, whose async hook is not used because it costs a chain of
 * promises on every request. This hook is a plain callback, synchronous unless a request
 * waits for a flush (SharedRateCounter).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, preHandlerHookHandler } from 'fastify';
import { hashToken } from '@claimtrail/identity';
import type { Config } from '../config.ts';
import { HttpProblem } from '../errors.ts';
import { bearerToken, clientKey } from './auth.ts';
import type { LimitLog, SharedLimitWindows } from './auth-limit.ts';

const UNLIMITED_URLS = new Set(['/healthz', '/readyz']);
const WINDOW_MS = 60_000;

/** The count including this request, and the milliseconds left in its window. */
type RateCallback = (current: number, ttlMs: number) => void;

/** Counts requests per key in windows of windowMs. */
interface RateCounter {
  incr(key: string, windowMs: number, max: number, callback: RateCallback): void;
}

export async function registerRateLimit(app: FastifyInstance, config: Config, shared?: SharedLimitWindows): Promise<void> {
  if (config.rateLimitMax <= 0) return;
  const max = config.rateLimitMax;
  let counter: RateCounter;
  if (shared === undefined) {
    counter = new LocalRateCounter();
  } else {
    const sharedCounter = new SharedRateCounter(shared, { log: app.log });
    // preClose: onClose hooks run last-added first, so the database would be closed already.
    app.addHook('preClose', () => sharedCounter.close());
    counter = sharedCounter;
  }
  const limitText = String(max);

  const limit: preHandlerHookHandler = function rateLimit(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    if (UNLIMITED_URLS.has(request.url)) return done();
    const token = request.actor === null ? null : bearerToken(request.headers.authorization);
    // The token itself keys this process's memory (the auth cache holds it too); only its
    // hash goes to the shared table.
    const key = token !== null ? `t:${token}` : `ip:${clientKey(request.ip)}`;
    counter.incr(key, WINDOW_MS, max, (current, ttlMs) => {
      const seconds = String(Math.ceil(ttlMs / 1000));
      reply.header('x-ratelimit-limit', limitText);
      if (current <= max) {
        reply.header('x-ratelimit-remaining', String(max - current));
        reply.header('x-ratelimit-reset', seconds);
        done();
        return;
      }
      reply.header('x-ratelimit-remaining', '0');
      reply.header('x-ratelimit-reset', seconds);
      reply.header('retry-after', seconds);
      done(
        new HttpProblem('rate_limited', `rate limit of ${max} requests per minute exceeded; retry in ${seconds} s`, {}, {
          'retry-after': String(Math.max(1, Math.ceil(ttlMs / 1000))),
        }),
      );
    });
  };

  // Every route registered from here on (all of them: the app registers its routes after
  // this), after the route's own preHandlers. A HEAD route is made from its GET route's
  // options, which may carry the hook already: never twice.
  app.addHook('onRoute', (route) => {
    const own = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler];
    if (own.includes(limit)) return;
    route.preHandler = [...own, limit];
  });
}

interface LocalWindow {
  count: number;
  resetAt: number;
}

/**
 * One process's count (the embedded database): a fixed window per key from its first
 * request, refusals counted too. A bounded map: expired windows dropped first, then the
 * oldest (windows are inserted when they open and all last as long, so the Map's
 * insertion order is their end order).
 */
export class LocalRateCounter implements RateCounter {
  private readonly windows = new Map<string, LocalWindow>();

  constructor(private readonly maxKeys = 100_000) {}

  incr(key: string, windowMs: number, _max: number, callback: RateCallback): void {
    const now = Date.now();
    let window = this.windows.get(key);
    if (window === undefined || window.resetAt <= now) {
      if (window !== undefined) this.windows.delete(key);
      else if (this.windows.size >= this.maxKeys) this.evict(now);
      window = { count: 0, resetAt: now + windowMs };
      this.windows.set(key, window);
    }
    window.count++;
    callback(window.count, window.resetAt - now);
  }

  private evict(now: number): void {
    for (const [key, window] of this.windows) {
      if (this.windows.size < this.maxKeys && window.resetAt > now) break;
      this.windows.delete(key);
    }
  }
}

/** A key in the shared table: a token only by its hash. */
function sharedKeyOf(key: string): string {
  return key.startsWith('t:') ? `rate:t:${hashToken(key.slice(2))}` : `rate:${key}`;
}

interface Waiter {
  callback: RateCallback;
  windowMs: number;
  max: number;
}

/** One key's window as this instance sees it. */
interface KeyWindow {
  /** The key in this process (`t:<token>`, `ip:<address>`). */
  readonly key: string;
  /** The key in the shared table (`rate:t:<token hash>`, `rate:ip:<address>`). */
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
 * (with the default share of 1 %: 1 % of the limit per further instance). Why: of the
 * answers that the instances' last admissions relied on, take the one the database gave
 * last (the row lock orders them). It counted every hit that any instance had confirmed by
 * the answer it relied on, and its own instance's unconfirmed hits were in that instance's
 * check; what it misses is at most the other instances' unconfirmed hits, s each. One
 * instance alone is exact. The bound holds while the database answers within `slowFlushMs`
 * (500 ms): when a flush fails or is slow, the instance decides on its own count (it never
 * refuses or stalls because the database is away) — at worst N × max per window, the
 * per-process limit — and sends its counts once the database answers again.
 */
export class SharedRateCounter implements RateCounter {
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

  incr(key: string, windowMs: number, max: number, callback: RateCallback): void {
    const now = Date.now();
    let window = this.windows.get(key);
    if (window === undefined || window.resetAt <= now) window = this.open(key, windowMs, now, window);
    this.decide(window, windowMs, max, callback, now);
  }

  private decide(window: KeyWindow, windowMs: number, max: number, callback: RateCallback, now: number): void {
    const unconfirmed = window.sending + window.pending;
    const total = window.known + unconfirmed;
    if (total >= max) {
      // Known to be over: refused here, no count, no database work until the window ends.
      callback(total + 1, window.resetAt - now);
      return;
    }
    const share = Math.max(1, Math.floor(max * this.shareFraction));
    if (unconfirmed >= share && !this.alone && !this.closed) {
      (window.waiting ??= []).push({ callback, windowMs, max });
      this.held.add(window);
      this.flushSoon();
      return;
    }
    if (window.pending === 0) this.dirty.add(window);
    window.pending++;
    if (window.pending >= Math.ceil(share / 2)) this.flushSoon();
    callback(total + 1, window.resetAt - now);
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
    const window: KeyWindow = { key, sharedKey: sharedKeyOf(key), windowMs, known: 0, sending: 0, pending: 0, resetAt: now + windowMs, waiting: undefined };
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
    for (const waiter of waiting) this.incr(window.key, waiter.windowMs, waiter.max, waiter.callback);
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
