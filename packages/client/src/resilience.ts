/**
 * What makes the client safe behind a load balancer: retries with backoff for answers and
 * failures that mean "try again" (a proxy's 502/504, an instance's 503, a connection cut),
 * and the consistency token that lets a read on any instance see this client's writes.
 */

/** Retries of requests that are safe to repeat (reads, and writes with an Idempotency-Key). */
export interface RetryOptions {
  /** Retries after the first attempt (default 4; 0 = none). */
  retries?: number;
  /** Backoff ceiling of the first retry in ms (default 100); it doubles per retry. */
  baseDelayMs?: number;
  /** Largest backoff ceiling in ms (default 2000). */
  maxDelayMs?: number;
  /**
   * A `Retry-After` longer than this (ms, default 10000) is not waited for: the answer is
   * thrown as a ProblemError instead (the caller decides whether to wait that long).
   */
  maxRetryAfterMs?: number;
  /** Called before each retry (logging, metrics). */
  onRetry?(info: RetryInfo): void;
}

export interface RetryInfo {
  method: string;
  path: string;
  /** 1 for the first retry. */
  retry: number;
  delayMs: number;
  /** The status that is retried, or the connection error's code / message. */
  reason: number | string;
}

export const DEFAULT_RETRY = { retries: 4, baseDelayMs: 100, maxDelayMs: 2000, maxRetryAfterMs: 10_000 } as const;

/** Statuses that say "this instance or the proxy could not answer now; try again". */
export const RETRY_STATUSES: ReadonlySet<number> = new Set([502, 503, 504]);

const CONNECTION_ERROR_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  // undici (Node's fetch): the socket closed or failed under the request.
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

/**
 * Whether a thrown error means the connection failed (so the request may be repeated):
 * a reset, refused or hung-up connection (by code or message, anywhere in the `cause`
 * chain), or the TypeError that fetch rejects with on any network error. An abort is not.
 */
export function isConnectionError(err: unknown): boolean {
  if (isAbort(err)) return false;
  let e: unknown = err;
  for (let depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) return true;
    if (typeof message === 'string' && /socket hang up/i.test(message)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  // The Fetch standard rejects with a TypeError on every network error ("fetch failed",
  // "Failed to fetch", "Load failed"), whatever the browser calls it.
  return err instanceof TypeError;
}

/** A short label of a connection error for RetryInfo.reason. */
export function connectionErrorReason(err: unknown): string {
  let e: unknown = err;
  for (let depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return err instanceof Error ? err.message : String(err);
}

export function isAbort(err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name;
  return name === 'AbortError' || name === 'TimeoutError';
}

/** Full jitter: uniformly random below the retry's ceiling (base · 2^retry, at most max). */
export function backoffDelay(retryIndex: number, baseDelayMs: number, maxDelayMs: number): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(retryIndex, 30));
  return Math.random() * ceiling;
}

/** `Retry-After` in ms (delta-seconds or an HTTP date); undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Resolves after `ms`; rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A fresh Idempotency-Key: a random UUID (`crypto.randomUUID`; built from
 * `crypto.getRandomValues` where randomUUID is missing, e.g. a page served over plain
 * http from a LAN address, which is not a secure context).
 */
export function randomIdempotencyKey(): string {
  const c = (globalThis as { crypto?: Partial<Crypto> }).crypto;
  if (typeof c?.randomUUID === 'function') return c.randomUUID();
  const bytes = new Uint8Array(16);
  if (typeof c?.getRandomValues === 'function') c.getRandomValues(bytes);
  else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
  bytes[6] = (bytes[6]! & 0x0f) | 0x40; // version 4
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // RFC 4122 variant
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The response header that carries a write's consistency token, and the read header that presents one. */
export const CONSISTENCY_TOKEN_HEADER = 'consistency-token';

/**
 * The later of two consistency tokens. Tokens are opaque; only the server can compare them
 * in general. Today they are decimal positions, so when both are decimal integers the
 * larger one is kept (a slow answer to an older write must not move the client back);
 * otherwise the newer one (`next`) wins.
 */
export function laterConsistencyToken(current: string | undefined, next: string): string {
  if (current === undefined) return next;
  const a = decimal(current);
  const b = decimal(next);
  if (a === null || b === null) return next;
  // Compare as integers of any size: by length, then digit by digit.
  if (a.length !== b.length) return a.length > b.length ? current : next;
  return a >= b ? current : next;
}

/** The digits without leading zeros, or null for anything but a decimal integer. */
function decimal(token: string): string | null {
  const text = token.trim();
  if (!/^\d+$/.test(text)) return null;
  return text.replace(/^0+(?=\d)/, '');
}
