/**
 * Read-your-writes on any instance, and how an instance hears of every other's writes.
 *
 * Each instance follows the event store with ONE subscription (`StoreFollower`). The
 * sequencer's notification (sent once per pass, by the sequencer's own transaction) wakes
 * it; it reads the newly positioned events and, for each, marks the claim's cached view as
 * older than the event's version (`applyStoreEvent`). Its position is therefore "this
 * instance's view cache reflects every write up to here"; every other read already goes to
 * the primary database, which is current.
 *
 * A write answers with `Consistency-Token: <position>`: a position that covers its events
 * (see `writeToken`). A read that presents a token is answered once this instance's follower
 * has reached it (bounded wait, then 503 `not_caught_up`); so a client that reads its own
 * write on any instance never sees an older state.
 */
import { applyStoreEvent, type ClaimViewCache, type ExecuteResult } from '@claimtrail/claims';
import { LruMap, type EventStore, type PositionedEvent, type Subscription } from '@claimtrail/event-store';

/** The request and response header. */
export const CONSISTENCY_TOKEN_HEADER = 'consistency-token';

/** Decimal digits only, no sign, no exponent: at most 2^53 - 1 (positions are JS-safe integers). */
const TOKEN_RE = /^\d{1,16}$/;

/** A token's position, or null when the text is not one (the caller answers 400). */
export function parseConsistencyToken(text: string): number | null {
  const trimmed = text.trim();
  if (!TOKEN_RE.test(trimmed)) return null;
  const position = Number(trimmed);
  return Number.isSafeInteger(position) ? position : null;
}

interface PositionWaiter {
  position: number;
  resolve(reached: boolean): void;
  timer: NodeJS.Timeout;
}

interface StreamWaiter {
  version: number;
  resolve(position: number | undefined): void;
  timer: NodeJS.Timeout;
}

export interface StoreFollowerLogger {
  error(obj: unknown, msg?: string): void;
}

/**
 * This instance's subscription to the event store: keeps the claim view cache current
 * with every writer's events and answers "has this instance seen everything up to P?".
 */
export class StoreFollower {
  private positionValue: number;
  private subscription: Subscription | null = null;
  private closed = false;
  /** Readers waiting for a position; `lowest` is the smallest of theirs (scan only past it). */
  private readonly waiters = new Set<PositionWaiter>();
  private lowest = Number.POSITIVE_INFINITY;
  /** The latest version and position seen per stream (recent streams only). */
  private readonly heads = new LruMap<string, { version: number; position: number }>(20_000);
  /** Writes of this instance waiting for their stream to be seen at their version. */
  private readonly streamWaiters = new Map<string, StreamWaiter[]>();

  private constructor(
    private readonly store: EventStore,
    private readonly views: ClaimViewCache,
    private readonly log: StoreFollowerLogger,
    start: number,
  ) {
    this.positionValue = start;
  }

  /**
   * Follows the store from its head now. The view cache holds nothing older than that (it
   * is filled only from here on), so the start position counts as reached.
   */
  static async start(store: EventStore, views: ClaimViewCache, log: StoreFollowerLogger): Promise<StoreFollower> {
    const follower = new StoreFollower(store, views, log, await store.headPosition());
    follower.subscription = store.subscribe({ after: follower.positionValue }, (event) => follower.onEvent(event));
    return follower;
  }

  /** Every event up to here has been applied to this instance's view cache. */
  get position(): number {
    return this.positionValue;
  }

  private onEvent(event: PositionedEvent): void {
    // Never throws: a failing handler would stop the store subscription for good.
    try {
      applyStoreEvent(this.views, event);
      this.heads.set(event.streamId, { version: event.version, position: event.position });
      this.positionValue = event.position;
      const waiting = this.streamWaiters.get(event.streamId);
      if (waiting !== undefined) {
        const done = waiting.filter((waiter) => waiter.version <= event.version);
        if (done.length > 0) {
          const rest = waiting.filter((waiter) => waiter.version > event.version);
          if (rest.length > 0) this.streamWaiters.set(event.streamId, rest);
          else this.streamWaiters.delete(event.streamId);
          for (const waiter of done) {
            clearTimeout(waiter.timer);
            waiter.resolve(event.position);
          }
        }
      }
      if (event.position >= this.lowest) this.releaseReached();
    } catch (error) {
      this.log.error({ err: error, position: event.position }, 'store follower: applying an event failed');
    }
  }

  private releaseReached(): void {
    let lowest = Number.POSITIVE_INFINITY;
    for (const waiter of this.waiters) {
      if (waiter.position <= this.positionValue) {
        this.waiters.delete(waiter);
        clearTimeout(waiter.timer);
        waiter.resolve(true);
      } else if (waiter.position < lowest) lowest = waiter.position;
    }
    this.lowest = lowest;
  }

  /** Resolves true once the follower has reached `position`, false after `timeoutMs` without. */
  reached(position: number, timeoutMs: number): Promise<boolean> {
    if (position <= this.positionValue) return Promise.resolve(true);
    if (this.closed || timeoutMs <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter: PositionWaiter = {
        position,
        resolve,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          resolve(false);
        }, timeoutMs),
      };
      this.waiters.add(waiter);
      if (position < this.lowest) this.lowest = position;
    });
  }

  /**
   * The position at which the follower saw `streamId` reach `version` (or a later version:
   * that position covers it too, since the follower reads in position order and a
   * stream's versions are positioned in order); undefined after `timeoutMs`.
   */
  streamReached(streamId: string, version: number, timeoutMs: number): Promise<number | undefined> {
    const head = this.heads.get(streamId);
    if (head !== undefined && head.version >= version) return Promise.resolve(head.position);
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const waiter: StreamWaiter = {
        version,
        resolve,
        timer: setTimeout(() => {
          const list = this.streamWaiters.get(streamId);
          const rest = list?.filter((other) => other !== waiter) ?? [];
          if (rest.length > 0) this.streamWaiters.set(streamId, rest);
          else this.streamWaiters.delete(streamId);
          resolve(undefined);
        }, timeoutMs),
      };
      const list = this.streamWaiters.get(streamId);
      if (list) list.push(waiter);
      else this.streamWaiters.set(streamId, [waiter]);
    });
  }

  /** Waiting readers and writers (for metrics and tests). */
  get waiting(): number {
    let n = this.waiters.size;
    for (const list of this.streamWaiters.values()) n += list.length;
    return n;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.resolve(false);
    }
    this.waiters.clear();
    for (const list of this.streamWaiters.values()) {
      for (const waiter of list) {
        clearTimeout(waiter.timer);
        waiter.resolve(undefined);
      }
    }
    this.streamWaiters.clear();
    await this.subscription?.close();
  }
}

/**
 * The consistency token of a committed write: a position that covers its events.
 *
 * The commit woke the sequencer; its pass positions the events and its notification wakes
 * this instance's follower, which reads them anyway (to keep the view cache current). So
 * the write waits for its own stream to be seen at its version: no query of its own, and
 * every write in flight shares the same pass and the same read. The token is then reached
 * on this instance already. An idempotent replay (nothing appended now; the original events
 * were committed before) and the unlikely case that the follower does not see the stream in
 * time (it stopped) take the long way: a sequencer pass that started after the call
 * (`flush`), then the head position, which covers every event committed before it.
 */
export async function writeToken(store: EventStore, follower: StoreFollower, result: ExecuteResult, timeoutMs: number): Promise<number> {
  const last = result.events[result.events.length - 1];
  if (last !== undefined) {
    const position = await follower.streamReached(last.streamId, last.version, timeoutMs);
    if (position !== undefined) return position;
  }
  // Bounded too: with the database gone between the commit and the pass, the write is still
  // answered (without a token, see run-command.ts) instead of waiting for the database.
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no sequencer pass within ${timeoutMs} ms`)), Math.max(timeoutMs, 1000));
  });
  try {
    return await Promise.race([store.flush().then(() => store.headPosition()), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
