import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

/**
 * Encoded answers read from the claims projection (`GET /board` and the websocket board
 * snapshot, `GET /claims` lists and searches), one per filter combination, kept while
 * nothing has changed: answered from memory instead of a database statement per request.
 *
 * "Nothing has changed" is the claim view cache's generation (view-cache.ts): it moves on
 * with every commit of this service (before the write is acknowledged) and every event of
 * any writer that the store follower reads, and when the cache is cleared (a rebuild's
 * swap). A body read from the database while the generation stood at g reflects every
 * write this instance knew of at g, so it is served while the generation is still g:
 * - a client's own write moved the generation before its answer: its next read gets a
 *   body built after the write;
 * - a read with a Consistency-Token is let through only once the follower has reached the
 *   token (plugins/consistency.ts); an event up to there either moved the generation after
 *   the body's read started (the body is not served) or was seen before (the body has it);
 * - a write that bypasses the store and announces nothing (an UPDATE in psql) is bounded
 *   by `maxAgeMs` after the read ended, as claim views are.
 * Reads of the same combination share one database read (one flight per key; a read that
 * arrives after the generation moved waits for the next flight, never for an older body).
 */
export interface ReadBody {
  /** The JSON text, UTF-8 encoded once. */
  readonly bytes: Buffer;
  /** A strong entity tag of the bytes: `"b-<sha1 prefix>"`, equal on every instance for equal bodies. */
  readonly etag: string;
  /**
   * The bytes gzipped, compressed once on first use and kept with the body (a board is a
   * few hundred KB of cards and compresses about tenfold); null when not worth it (small).
   */
  gzipped(): Buffer | null;
}

/** Below this many bytes a body is sent as is. */
const GZIP_MIN_BYTES = 1024;

export interface ChangeClock {
  /** Moves on whenever what was read may be stale (ClaimViewCache.generation). */
  readonly generation: number;
  /** False when this instance cannot hear of other writers: nothing may be kept. */
  readonly followsWriters: boolean;
}

interface Entry {
  generation: number;
  builtAt: number;
  body: ReadBody;
}

interface Flight {
  /** The generation when its database read started; null while it waits for the previous flight. */
  generation: number | null;
  promise: Promise<ReadBody>;
}

export function readBody(json: string): ReadBody {
  const bytes = Buffer.from(json, 'utf8');
  let gzipped: Buffer | null | undefined;
  return {
    bytes,
    etag: `"b-${createHash('sha1').update(bytes).digest('base64url').slice(0, 22)}"`,
    gzipped: () => (gzipped ??= bytes.length < GZIP_MIN_BYTES ? null : gzipSync(bytes, { level: 6 })),
  };
}

export class ReadBodies {
  private readonly entries = new Map<string, Entry>();
  private readonly running = new Map<string, Flight>();
  private readonly queued = new Map<string, Flight>();
  readonly stats = { hits: 0, builds: 0, joined: 0 };

  constructor(
    private readonly clock: ChangeClock,
    private readonly options: { maxAgeMs: number; maxEntries?: number } = { maxAgeMs: 2000 },
  ) {}

  /** The body of `key` as of now: from memory when current, else `read` (shared by concurrent callers). */
  get(key: string, read: () => Promise<string>): Promise<ReadBody> {
    if (!this.clock.followsWriters) return read().then(readBody);
    const generation = this.clock.generation;
    const entry = this.entries.get(key);
    if (entry !== undefined && entry.generation === generation && Date.now() - entry.builtAt <= this.options.maxAgeMs) {
      this.stats.hits++;
      // Most recently used last (the map's order is the eviction order).
      this.entries.delete(key);
      this.entries.set(key, entry);
      return Promise.resolve(entry.body);
    }
    const running = this.running.get(key);
    if (running !== undefined && running.generation === generation) {
      this.stats.joined++;
      return running.promise;
    }
    const queued = this.queued.get(key);
    if (queued !== undefined) {
      // It starts after the running one ends: after now, so at this generation or later.
      this.stats.joined++;
      return queued.promise;
    }
    if (running === undefined) return this.start(key, read).promise;
    const next: Flight = {
      generation: null,
      promise: running.promise
        .catch(() => undefined)
        .then(() => {
          this.queued.delete(key);
          return this.start(key, read).promise;
        }),
    };
    this.queued.set(key, next);
    return next.promise;
  }

  private start(key: string, read: () => Promise<string>): Flight {
    const generation = this.clock.generation;
    this.stats.builds++;
    const flight: Flight = {
      generation,
      promise: read().then(
        (json) => {
          const body = readBody(json);
          // The age bound (writes nobody announces) counts from the end of the read: a read
          // slower than the bound (a big board on a busy database) must still be served.
          const builtAt = Date.now();
          const held = this.entries.get(key);
          if (held === undefined || held.generation <= generation) {
            this.entries.delete(key);
            this.entries.set(key, { generation, builtAt, body });
            this.evict();
          }
          return body;
        },
      ),
    };
    this.running.set(key, flight);
    const done = () => {
      if (this.running.get(key) === flight) this.running.delete(key);
    };
    flight.promise.then(done, done);
    return flight;
  }

  private evict(): void {
    const max = this.options.maxEntries ?? 256;
    while (this.entries.size > max) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) return;
      this.entries.delete(oldest);
    }
  }

  /** Bodies held (for metrics and tests). */
  get size(): number {
    return this.entries.size;
  }
}
