import type { EventStore, PositionedEvent, Subscription } from '@claimtrail/event-store';
import type { LiveChannel } from '@claimtrail/client';
import { claimStreamId, type ClaimState } from '@claimtrail/domain';
import { ReplayHistory } from './history.ts';
import { PreparedEvent, arrayFrame } from './messages.ts';
import { RecentEvents } from './recent.ts';
import { LatencySamples } from './samples.ts';
import { storeReads, type LiveReads } from './reads.ts';
import { ClaimStates, viewOf, type LatestClaimState } from './views.ts';

/** What the hub fans events out to: one subscription of one connection. */
export interface HubListener {
  readonly channel: LiveChannel;
  /** For `claim`: the claim uuid. */
  readonly claimId: string | null;
  deliver(event: PreparedEvent): void;
  /** True while the listener takes the tick's coalesced frame (`deliverBatch`) instead of each event. */
  readonly takesBatches?: boolean;
  /** The tick's events of the listener's channel (position order) and their shared array frame. */
  deliverBatch?(events: readonly PreparedEvent[], frame: () => Buffer): void;
}

/** Sockets written per slice of a flush before the event loop gets a turn (≈ 5 ms of writes). */
const FLUSH_SLICE = 500;

/** The events fanned out within one tick, per channel (the claim channel per claim). */
interface Tick {
  board: PreparedEvent[];
  feed: PreparedEvent[];
  claims: Map<string, PreparedEvent[]>;
}

export interface HubLogger {
  error(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
}

export interface HubOptions {
  /** Events kept for replays (`LiveConfig.replayBufferEvents`). */
  recentEvents: number;
  /** Page size of replays that read the store (`LiveConfig.replayBatchSize`). */
  replayBatchSize: number;
  /** Where snapshots and replays read (default: the hub's store). */
  reads?: LiveReads;
}

/**
 * The process's single store subscription and its in-memory fan-out. Every event is
 * turned into a claim view once and serialized once per channel; listeners get the
 * shared strings. `position` is the last position fanned out: a listener registered now
 * receives exactly the events after it.
 *
 * What it has folded serves the replays too (replay.ts): the last `recentEvents` events
 * (`recent`), each claim's latest state with its position (`claimAsOf`), and, for
 * replays reaching back further, one shared reader of the store (`history`).
 */
export class LiveHub {
  private subscription: Subscription | null = null;
  private starting: Promise<void> | null = null;
  private positionValue = 0;
  private readonly board = new Set<HubListener>();
  private readonly feed = new Set<HubListener>();
  private readonly claims = new Map<string, Set<HubListener>>();
  private readonly states: ClaimStates;
  /** Every event fanned out after `recent.from`, in order (same objects, same frames). */
  readonly recent: RecentEvents;
  /** The store, for replays that reach back before `recent`: shared reads, shared folds. */
  readonly history: ReplayHistory;
  /** Where snapshots and replays read (a read replica that has what they need, else the primary). */
  readonly reads: LiveReads;
  /** Serializes handler runs even if the store does not await the handler. */
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;
  /** Callers of `reached` waiting for the fan-out to pass a position. */
  private waiters: Array<{ position: number; resolve: () => void }> = [];
  /** This tick's events, for the listeners that take coalesced frames; sent when the tick ends. */
  private tick: Tick | null = null;
  /** A tick's frames are being written (in slices); the next tick waits for it. */
  private flushing = false;
  readonly stats = {
    events: 0,
    messages: 0,
    lastEventAt: 0,
    /** Time spent handing events to sockets (the synchronous fan-out), total and worst. */
    fanOutMs: 0,
    fanOutMaxMs: 0,
  };
  /**
   * Coalesced fan-out: per event and flush slice, the time from the event's recording to its
   * frame being handed to the slice's sockets (the server's part of a watcher's delay).
   */
  readonly handoff = new LatencySamples(65_536);

  constructor(
    private readonly store: EventStore,
    private readonly log: HubLogger,
    options: HubOptions = { recentEvents: 4096, replayBatchSize: 500 },
  ) {
    this.states = new ClaimStates((event) => store.readStream(event.streamId, { toVersion: event.version }));
    this.recent = new RecentEvents(options.recentEvents);
    this.reads = options.reads ?? storeReads(store);
    this.history = new ReplayHistory(this.reads, log, options.replayBatchSize);
  }

  get position(): number {
    return this.positionValue;
  }

  get listenerCount(): number {
    let n = this.board.size + this.feed.size;
    for (const set of this.claims.values()) n += set.size;
    return n;
  }

  /** Subscribes to the store from its head; idempotent. */
  start(): Promise<void> {
    this.starting ??= (async () => {
      const head = await this.store.headPosition();
      if (this.stopped) return;
      this.positionValue = head;
      // What the hub folds from here on is complete after `head`.
      this.recent.reset(head);
      this.states.startAfter(head);
      this.subscription = this.store.subscribe({ after: head }, (event) => {
        // Never reject: a failing handler would stop the store subscription for good.
        const run = this.queue
          .then(() => this.onEvent(event))
          .catch((err: unknown) => this.log.error({ err, position: event.position }, 'live: fan-out failed'));
        this.queue = run;
        return run;
      });
    })();
    // A failed start (database unreachable) is retried by the next caller.
    this.starting.catch(() => {
      this.starting = null;
    });
    return this.starting;
  }

  /**
   * Resolves once every event committed before the call has been fanned out (or after
   * `timeoutMs`, whichever comes first). A snapshot taken after it includes the caller's
   * own acknowledged writes: subscribing right after a 201 shows the new claim.
   */
  async caughtUpWithCommits(timeoutMs: number): Promise<void> {
    await this.store.flush();
    const head = await this.store.headPosition();
    if (head <= this.positionValue || this.stopped) return;
    await new Promise<void>((resolve) => {
      const waiter = { position: head, resolve };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve();
      }, timeoutMs);
      waiter.resolve = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push(waiter);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const waiter of this.waiters.splice(0)) waiter.resolve();
    const subscription = this.subscription;
    this.subscription = null;
    await subscription?.close();
  }

  /**
   * What the hub knows of a claim as of `position` (≤ the hub's position), without reading
   * the store: the claim had no event after `quietAfter` up to `position`, and `latest` is
   * its state after its latest event up to `position` when the hub holds it. Undefined when
   * the hub cannot tell (the caller reads the store).
   */
  claimAsOf(claimId: string, position: number): { latest: LatestClaimState | null; quietAfter: number } | undefined {
    if (this.subscription === null || position > this.positionValue) return undefined;
    const latest = this.states.latest(claimStreamId(claimId));
    if (!latest) return { latest: null, quietAfter: this.states.completeAfter };
    // Ahead of `position`: the fan-out has folded an event it has not announced yet.
    return latest.position <= position ? { latest, quietAfter: latest.position } : undefined;
  }

  add(listener: HubListener): void {
    this.setFor(listener, true)?.add(listener);
  }

  remove(listener: HubListener): void {
    const set = this.setFor(listener, false);
    set?.delete(listener);
    if (listener.channel === 'claim' && set && set.size === 0 && listener.claimId) this.claims.delete(listener.claimId);
  }

  private setFor(listener: HubListener, create: boolean): Set<HubListener> | undefined {
    if (listener.channel === 'board') return this.board;
    if (listener.channel === 'feed') return this.feed;
    const id = listener.claimId ?? '';
    let set = this.claims.get(id);
    if (!set && create) {
      set = new Set();
      this.claims.set(id, set);
    }
    return set;
  }

  private releaseWaiters(): void {
    const ready = this.waiters.filter((w) => w.position <= this.positionValue);
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.position > this.positionValue);
    for (const waiter of ready) waiter.resolve();
  }

  private async onEvent(event: PositionedEvent): Promise<void> {
    if (event.position <= this.positionValue) return; // never twice
    let state: ClaimState | null = null;
    try {
      state = await this.states.claimStateAfter(event);
    } catch (err) {
      // A state we cannot build must not stop the stream; watchers still get the event.
      this.states.forget(event.streamId, event.position);
      this.log.error({ err, position: event.position, streamId: event.streamId }, 'live: claim state failed');
    }
    // The view is built only if a watcher gets this event (most writes have none on a quiet service).
    const prepared = new PreparedEvent(event, () => {
      if (state === null) return null;
      try {
        return viewOf(state);
      } catch (err) {
        this.states.forget(event.streamId, event.position);
        this.log.error({ err, position: event.position, streamId: event.streamId }, 'live: claim view failed');
        return null;
      }
    });
    // From here on synchronous: position and fan-out change together, so a listener that
    // registers reads a position that matches exactly what it will be sent.
    this.positionValue = event.position;
    this.recent.push(prepared);
    if (this.waiters.length > 0) this.releaseWaiters();
    this.stats.events++;
    this.stats.lastEventAt = Date.now();
    const started = performance.now();
    const claimListeners = prepared.claimId ? this.claims.get(prepared.claimId) : undefined;
    if (prepared.claimId) this.fanOut(this.board, prepared);
    this.fanOut(this.feed, prepared);
    if (claimListeners) this.fanOut(claimListeners, prepared);
    this.addToTick(prepared, claimListeners !== undefined);
    const spent = performance.now() - started;
    this.stats.fanOutMs += spent;
    if (spent > this.stats.fanOutMaxMs) this.stats.fanOutMaxMs = spent;
  }

  private addToTick(prepared: PreparedEvent, claimWatched: boolean): void {
    if (this.tick === null) {
      this.tick = { board: [], feed: [], claims: new Map() };
      this.scheduleFlush();
    }
    const tick = this.tick;
    tick.feed.push(prepared);
    if (prepared.claimId) {
      tick.board.push(prepared);
      if (claimWatched) {
        const events = tick.claims.get(prepared.claimId);
        if (events) events.push(prepared);
        else tick.claims.set(prepared.claimId, [prepared]);
      }
    }
  }

  /** Sends the pending tick once the previous one is written. */
  private scheduleFlush(): void {
    if (this.flushing || this.tick === null || this.stopped) return;
    setImmediate(this.flushTick);
  }

  /**
   * The tick is over: every listener that takes coalesced frames gets one frame per channel
   * with the tick's events, encoded once per channel (per claim for the claim channel)
   * and shared by all of them.
   *
   * Writing a frame costs ≈ 10 µs per socket whatever it holds, so with thousands of
   * watchers the cost is per flush, not per event. The sockets are written in slices of
   * FLUSH_SLICE with the event loop free between them (requests and the store keep
   * moving), and the next tick waits until this one is written: the events arriving
   * meanwhile share one frame, so the frames grow as the flushes get longer. With few
   * watchers a flush takes microseconds and every tick goes out at once. (A pause after each
   * flush, to cap the fan-out's share of the process, was measured at 10,000 watchers: it
   * made the hand-off p50 720 ms instead of 83 ms, and the writes slower, not faster.)
   */
  private readonly flushTick = (): void => {
    const tick = this.tick;
    this.tick = null;
    if (tick === null || this.stopped) return;
    this.flushing = true;
    const work: Array<{ listeners: HubListener[]; events: PreparedEvent[]; frame: () => Buffer }> = [];
    const add = (listeners: Set<HubListener> | undefined, events: PreparedEvent[], channel: LiveChannel): void => {
      if (!listeners || listeners.size === 0 || events.length === 0) return;
      let frame: Buffer | null = null;
      work.push({ listeners: [...listeners], events, frame: () => (frame ??= arrayFrame(events, channel)) });
    };
    add(this.board, tick.board, 'board');
    add(this.feed, tick.feed, 'feed');
    for (const [claimId, events] of tick.claims) add(this.claims.get(claimId), events, 'claim');
    let item = 0;
    let at = 0;
    const slice = (): void => {
      const started = performance.now();
      let written = 0;
      const sent: PreparedEvent[][] = [];
      while (item < work.length && written < FLUSH_SLICE) {
        const { listeners, events, frame } = work[item]!;
        const end = Math.min(listeners.length, at + FLUSH_SLICE - written);
        this.sendBatch(listeners, at, end, events, frame);
        sent.push(events);
        written += end - at;
        at = end;
        if (at >= listeners.length) {
          item++;
          at = 0;
        }
      }
      const now = Date.now();
      for (const events of sent) for (const event of events) this.handoff.add(now - event.recordedAtMs);
      const spent = performance.now() - started;
      this.stats.fanOutMs += spent;
      if (spent > this.stats.fanOutMaxMs) this.stats.fanOutMaxMs = spent;
      if (item < work.length && !this.stopped) {
        setImmediate(slice);
        return;
      }
      this.flushing = false;
      this.scheduleFlush();
    };
    slice();
  };

  /** The tick's frame of one channel to listeners [from, to). */
  private sendBatch(listeners: readonly HubListener[], from: number, to: number, events: PreparedEvent[], shared: () => Buffer): void {
    for (let i = from; i < to; i++) {
      const listener = listeners[i]!;
      if (listener.takesBatches !== true || !listener.deliverBatch) continue;
      try {
        listener.deliverBatch(events, shared);
        this.stats.messages += events.length;
      } catch (err) {
        this.log.warn({ err }, 'live: delivery failed');
      }
    }
  }

  private fanOut(listeners: Set<HubListener>, prepared: PreparedEvent): void {
    for (const listener of listeners) {
      // Takes the tick's coalesced frame instead (flushTick).
      if (listener.takesBatches === true) continue;
      try {
        listener.deliver(prepared);
        this.stats.messages++;
      } catch (err) {
        this.log.warn({ err }, 'live: delivery failed');
      }
    }
  }
}
