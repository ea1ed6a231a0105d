/**
 * Read-your-writes on any instance, and how an instance hears of every other's writes.
 *
 * Each instance follows the event store with one subscription (`StoreFollower`; the live
 * hub's subscription shares its page reads, see the event store's shared subscription
 * reads). The sequencer's notification (sent once per pass, by the sequencer's own
 * transaction) wakes it; it reads the newly positioned events and, for each, marks the claim's cached view as
 * older than the event's version (`applyStoreEvent`). Its position is therefore "this
 * instance's view cache reflects every write up to here"; every other read already goes to
 * the primary database, which is current.
 *
 * A write answers with `Consistency-Token: <position>`: a position that covers its events
 * (see `writeToken`). A read that presents a token is answered once this instance's follower
 * has reached it (bounded wait, then 503 `not_caught_up`); so a client that reads its own
 * write on any instance never sees an older state.
 */
import { applyStoreEvent, claimIdOfStream, type ClaimViewCache, type ExecuteResult } from '@claimtrail/claims';
import { type EventStore, type PositionedEvent, type Subscription } from '@claimtrail/event-store';

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

/** What the follower keeps current: the command service's caches (a ClaimService). */
export interface FollowedClaims {
  readonly views: ClaimViewCache;
  forgetStale(claimId: string, version: number): void;
}

export interface StoreFollowerLogger {
  error(obj: unknown, msg?: string): void;
}

/**
 * This instance's subscription to the event store: keeps the claim view cache current
 * with every writer's events, drops the command service's cached claim states that another
 * instance's writes made stale (so this instance's next write to such a claim reads it
 * first instead of failing and rolling back), and answers "has this instance seen
 * everything up to P?".
 */
export class StoreFollower {
  private positionValue: number;
  private subscription: Subscription | null = null;
  private closed = false;
  /** Readers waiting for a position; `lowest` is the smallest of theirs (scan only past it). */
  private readonly waiters = new Set<PositionWaiter>();
  private lowest = Number.POSITIVE_INFINITY;

  private constructor(
    private readonly store: EventStore,
    private readonly claims: FollowedClaims,
    private readonly log: StoreFollowerLogger,
    start: number,
  ) {
    this.positionValue = start;
  }

  /**
   * Follows the store from its head now. The view cache holds nothing older than that (it
   * is filled only from here on), so the start position counts as reached.
   */
  static async start(store: EventStore, claims: FollowedClaims, log: StoreFollowerLogger): Promise<StoreFollower> {
    const follower = new StoreFollower(store, claims, log, await store.headPosition());
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
      applyStoreEvent(this.claims.views, event);
      // A claim written elsewhere: this instance's cached state for its writes is stale now.
      const claimId = claimIdOfStream(event.streamId);
      if (claimId !== null) this.claims.forgetStale(claimId, event.version);
      this.positionValue = event.position;
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

  /** Waiting readers (for metrics and tests). */
  get waiting(): number {
    return this.waiters.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.resolve(false);
    }
    this.waiters.clear();
    await this.subscription?.close();
  }
}

/**
 * The consistency token of a committed write: a position that covers its events.
 *
 * The commit woke this instance's sequencer; the pass it woke positions the write's events
 * and leaves a head at or after them (positions are gap-free and given in commit order),
 * which is the token (`flushCommitted`). So the write waits for one sequencer pass, shared
 * by every write in flight, and for no read of its own. A reader anywhere waits for its
 * own follower to reach that head (plugins/consistency.ts), which is then at or after the
 * write. An idempotent replay (nothing appended now; the original events were committed
 * before, perhaps by another instance) waits for a pass that started after the call
 * (`flush`): its head covers every event committed before it.
 */
export async function writeToken(store: EventStore, result: ExecuteResult, timeoutMs: number): Promise<number> {
  const appendedNow = result.events.length > 0 && result.replayed !== true;
  // Bounded: with the database gone between the commit and the pass, the write is still
  // answered (without a token, see run-command.ts) instead of waiting for the database.
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no sequencer pass within ${timeoutMs} ms`)), Math.max(timeoutMs, 1000));
  });
  try {
    return await Promise.race([appendedNow ? store.flushCommitted() : store.flush(), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
