/**
 * Failed-authentication limiter, keyed on the client IP (the general rate limit keys on the
 * token, so a guesser sending a new token each time would get a fresh bucket per guess).
 * Fixed windows per IP in a bounded map: memory stays O(maxClients) whatever an attacker
 * sends. Per process (N instances allow N × max failures per window). It slows and flags
 * guessers; it never refuses a valid token (see checkUncached in auth.ts).
 */
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

export class AuthFailureLimiter {
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
