import {
  CLOSE_TRY_AGAIN_LATER,
  LIVE_CHANNELS,
  subscriptionKey,
  type ErrorMessage,
  type LiveChannel,
  type LiveErrorCode,
} from '@claimtrail/client';
import { claimStreamId, evolve, initialClaimState, toEnvelope, type Actor } from '@claimtrail/domain';
import type { EventStore, PositionedEvent } from '@claimtrail/event-store';
import type { WebSocket } from 'ws';
import type { HubListener, HubLogger, LiveHub } from './hub.ts';
import { PreparedEvent } from './messages.ts';
import { ClaimStates, claimIdOf, viewOf } from './views.ts';

export interface LiveConfig {
  /** Ping every interval; a peer that answers none of two pings in a row is terminated. */
  heartbeatIntervalMs: number;
  /** Bytes a socket may have queued (ws `bufferedAmount`) before it is closed with 1013. */
  maxBufferedBytes: number;
  /** Live events a subscription may hold back while it replays, before 1013. */
  maxQueuedMessages: number;
  /** Page size of replays from the store. */
  replayBatchSize: number;
  /** Subscriptions one connection may hold. */
  maxSubscriptions: number;
  /** After a 1013 close, how long the peer gets to read what is queued before it is cut. */
  closeGraceMs: number;
  /**
   * How often the open sockets' tokens are checked again (one query for all of them):
   * a user disabled, or a token revoked where no notice reaches this instance, loses its
   * sockets within this bound. Expiry needs no check: each socket has a timer.
   */
  tokenRecheckIntervalMs: number;
}

export const DEFAULT_LIVE_CONFIG: LiveConfig = {
  heartbeatIntervalMs: 20_000,
  maxBufferedBytes: 4 * 1024 * 1024,
  maxQueuedMessages: 10_000,
  replayBatchSize: 500,
  maxSubscriptions: 64,
  closeGraceMs: 10_000,
  tokenRecheckIntervalMs: 5_000,
};

/** How long a snapshot waits for the fan-out to include writes acknowledged before it. */
const SNAPSHOT_CATCH_UP_MS = 2000;

export interface SessionDeps {
  hub: LiveHub;
  store: EventStore;
  config: LiveConfig;
  log: HubLogger;
  /** The board as `GET /board` returns it, as JSON text. */
  boardSnapshot(): Promise<string>;
  stats: LiveStats;
}

export interface LiveStats {
  connections: number;
  overflowCloses: number;
  heartbeatTerminations: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_MESSAGE_BYTES = 4096;
const OPEN = 1;
/** Policy violation: the session's credentials are no longer valid. */
export const CLOSE_POLICY_VIOLATION = 1008;
/** setTimeout's longest delay (about 24.8 days); a later expiry is re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Shared bytes go out as text frames (JSON), without per-socket re-encoding. */
const TEXT_FRAME = { binary: false } as const;

const toUncork: (() => void)[] = [];
/** Time spent flushing corked sockets (the write syscalls), for `app.live.stats`. */
export const flushStats = { ms: 0, maxMs: 0 };
function uncorkAll(): void {
  const started = performance.now();
  const pending = toUncork.splice(0);
  for (const uncork of pending) uncork();
  const spent = performance.now() - started;
  flushStats.ms += spent;
  if (spent > flushStats.maxMs) flushStats.maxMs = spent;
}

class ProtocolError extends Error {
  constructor(
    readonly code: LiveErrorCode,
    detail: string,
  ) {
    super(detail);
  }
}

/**
 * One channel of one connection. Until its replay or snapshot is sent it holds back live
 * events (`pending`); from then on it forwards them. Every forward is deduplicated by
 * position, which is what makes the switch from replay to live gap-free and exact.
 */
class ChannelSubscription implements HubListener {
  state: 'starting' | 'live' | 'closed' = 'starting';
  lastSent = 0;
  private pending: PreparedEvent[] = [];

  constructor(
    readonly session: Session,
    readonly channel: LiveChannel,
    readonly claimId: string | null,
  ) {}

  get key(): string {
    return subscriptionKey(this.channel, this.claimId);
  }

  deliver(event: PreparedEvent): void {
    if (this.state === 'live') this.forward(event);
    else if (this.state === 'starting') {
      this.pending.push(event);
      if (this.pending.length > this.session.config.maxQueuedMessages) this.session.overflow();
    }
  }

  forward(event: PreparedEvent): void {
    if (event.position <= this.lastSent) return;
    this.lastSent = event.position;
    this.session.sendEvent(event, this.channel);
  }

  goLive(): void {
    if (this.state !== 'starting') return;
    this.state = 'live';
    const pending = this.pending;
    this.pending = [];
    for (const event of pending) this.forward(event);
  }

  close(): void {
    this.state = 'closed';
    this.pending = [];
  }

  isClosed(): boolean {
    return this.state === 'closed';
  }
}

/** One websocket connection: its subscriptions, its send buffer, its heartbeat state. */
export class Session {
  alive = true;
  private missed = 0;
  private closed = false;
  private readonly subscriptions = new Map<string, ChannelSubscription>();
  /** When the session's token expires (ms since the epoch); Infinity when it does not. */
  private expiresAt = Infinity;
  private expiryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly socket: WebSocket,
    readonly actor: Actor,
    /** sha-256 of the token it authenticated with (as revocations announce it). */
    readonly tokenHash: string,
    private readonly deps: SessionDeps,
  ) {
    const tcp = (socket as unknown as { _socket?: { write?: (data: Buffer) => boolean } })._socket;
    this.raw = socket.extensions === '' && typeof tcp?.write === 'function' ? (tcp as { write(data: Buffer): boolean }) : null;
    socket.on('pong', () => {
      this.alive = true;
    });
    socket.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    socket.on('close', () => this.dispose());
  }

  get config(): LiveConfig {
    return this.deps.config;
  }

  /**
   * Closes the session with 1008 when its token expires. Until then frames flow; from
   * that instant none is sent even if the timer runs late (admit checks the time too).
   */
  expireAt(at: Date): void {
    if (this.closed) return;
    this.expiresAt = at.getTime();
    clearTimeout(this.expiryTimer);
    const delay = this.expiresAt - Date.now();
    if (delay <= 0) {
      this.closeWith(CLOSE_POLICY_VIOLATION, 'token expired');
      return;
    }
    this.expiryTimer = setTimeout(() => this.expireAt(at), Math.min(delay, MAX_TIMER_MS));
    this.expiryTimer.unref();
  }

  /**
   * Heartbeat tick: terminate a peer that answered neither of the last two pings, then
   * ping again. Two, not one: after an event-loop stall the timer can run before the
   * pong already waiting in the socket has been read.
   */
  heartbeat(): void {
    if (this.closed) return;
    if (this.alive) this.missed = 0;
    else this.missed++;
    if (this.missed >= 2) {
      this.deps.stats.heartbeatTerminations++;
      this.socket.terminate();
      this.dispose();
      return;
    }
    this.alive = false;
    try {
      this.socket.ping();
    } catch {
      // the socket is closing; the close handler disposes
    }
  }

  send(message: string | Buffer): void {
    if (!this.admit()) return;
    this.socket.send(message, TEXT_FRAME);
  }

  /**
   * Whether a frame may be written now (open, peer within its backlog), corking the tick
   * if so; a peer over its backlog is dropped (overflow).
   */
  private admit(): boolean {
    if (this.closed || this.socket.readyState !== OPEN) return false;
    if (this.expiresAt !== Infinity && Date.now() >= this.expiresAt) {
      this.closeWith(CLOSE_POLICY_VIOLATION, 'token expired');
      return false;
    }
    // The backlog is what earlier ticks could not hand to the kernel; this tick's own
    // (corked) frames do not count against the peer.
    const backlog = this.corked ? this.backlogAtCork : this.socket.bufferedAmount;
    if (backlog > this.deps.config.maxBufferedBytes) {
      this.overflow();
      return false;
    }
    this.cork();
    return true;
  }

  /** The TCP socket, when frames may be written to it directly (no extensions). */
  private readonly raw: { write(data: Buffer): boolean } | null;
  private corked = false;
  private backlogAtCork = 0;

  /**
   * Holds this tick's frames back and writes them with one syscall when the tick ends:
   * under load several events reach a socket per tick, and one writev beats N writes.
   */
  private cork(): void {
    if (this.corked) return;
    const raw = (this.socket as unknown as { _socket?: { cork?: () => void; uncork?: () => void } })._socket;
    if (!raw?.cork || !raw.uncork) return;
    this.backlogAtCork = this.socket.bufferedAmount;
    raw.cork();
    this.corked = true;
    toUncork.push(() => {
      this.corked = false;
      raw.uncork!();
    });
    if (toUncork.length === 1) setImmediate(uncorkAll);
  }

  /**
   * Sends a fan-out message. Without negotiated extensions a server frame is the same
   * bytes for every socket, so the pre-built frame goes straight to the TCP socket (the
   * hot path: one write per watcher, no per-socket framing); otherwise through ws.
   */
  sendEvent(event: PreparedEvent, channel: LiveChannel): void {
    const raw = this.raw;
    if (!raw) {
      this.send(event.message(channel));
      return;
    }
    if (!this.admit()) return;
    raw.write(event.frame(channel));
  }

  sendJson(message: object): void {
    this.send(JSON.stringify(message));
  }

  /** The peer fell too far behind: close with 1013 so it resumes with `after`. */
  overflow(): void {
    if (this.closed) return;
    this.deps.stats.overflowCloses++;
    this.closeWith(CLOSE_TRY_AGAIN_LATER, 'too far behind; resume with after');
  }

  closeWith(code: number, reason: string): void {
    if (this.closed) return;
    this.dispose();
    try {
      this.socket.close(code, reason);
    } catch {
      this.socket.terminate();
    }
    // The close frame queues behind everything unsent; a peer that never reads would
    // hold the socket for ws's 30 s close timeout.
    setTimeout(() => this.socket.terminate(), this.deps.config.closeGraceMs).unref();
  }

  /** Stops all subscriptions; idempotent. */
  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.expiryTimer);
    this.deps.stats.connections--;
    for (const sub of this.subscriptions.values()) {
      sub.close();
      this.deps.hub.remove(sub);
    }
    this.subscriptions.clear();
  }

  /** Unsent bytes below which a replay may send again. */
  private get drainedBelow(): number {
    return Math.min(256 * 1024, this.deps.config.maxBufferedBytes / 2);
  }

  /** Resolves once the socket's queue is low enough to send more (or it closed). */
  private async drained(): Promise<void> {
    const low = this.drainedBelow;
    while (!this.closed && this.socket.readyState === OPEN && this.socket.bufferedAmount > low) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  private onMessage(data: unknown, isBinary: boolean): void {
    if (this.closed) return;
    let message: Record<string, unknown>;
    try {
      if (isBinary) throw new ProtocolError('bad_message', 'binary frames are not supported; send JSON text');
      const text = Array.isArray(data)
        ? Buffer.concat(data as Buffer[]).toString('utf8')
        : Buffer.from(data as Buffer).toString('utf8');
      if (text.length > MAX_MESSAGE_BYTES) throw new ProtocolError('bad_message', 'message too large');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new ProtocolError('bad_message', 'not valid JSON');
      }
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new ProtocolError('bad_message', 'expected a JSON object');
      }
      message = parsed as Record<string, unknown>;
      if (message.type === 'subscribe') {
        this.subscribe(message);
      } else if (message.type === 'unsubscribe') {
        this.unsubscribe(message);
      } else {
        throw new ProtocolError('bad_message', 'type must be "subscribe" or "unsubscribe"');
      }
    } catch (err) {
      this.sendError(err);
    }
  }

  private sendError(err: unknown, channel?: LiveChannel, claimId?: string | null): void {
    const message: ErrorMessage =
      err instanceof ProtocolError
        ? { type: 'error', code: err.code, detail: err.message }
        : { type: 'error', code: 'internal', detail: 'internal error' };
    if (!(err instanceof ProtocolError)) this.deps.log.error({ err }, 'live: subscription failed');
    if (channel) message.channel = channel;
    if (claimId) message.claimId = claimId;
    this.sendJson(message);
  }

  private target(message: Record<string, unknown>): { channel: LiveChannel; claimId: string | null } {
    const channel = message.channel;
    if (typeof channel !== 'string' || !(LIVE_CHANNELS as readonly string[]).includes(channel)) {
      throw new ProtocolError('unknown_channel', 'channel must be "board", "claim" or "feed"');
    }
    let claimId: string | null = null;
    if (channel === 'claim') {
      if (typeof message.claimId !== 'string' || !UUID.test(message.claimId)) {
        throw new ProtocolError('claim_id_required', 'the claim channel needs claimId (a uuid)');
      }
      claimId = message.claimId.toLowerCase();
    }
    return { channel: channel as LiveChannel, claimId };
  }

  private unsubscribe(message: Record<string, unknown>): void {
    const { channel, claimId } = this.target(message);
    const key = subscriptionKey(channel, claimId);
    const sub = this.subscriptions.get(key);
    if (!sub) throw new ProtocolError('not_subscribed', `not subscribed to ${key}`);
    sub.close();
    this.deps.hub.remove(sub);
    this.subscriptions.delete(key);
    this.sendJson({ type: 'unsubscribed', channel, ...(claimId ? { claimId } : {}) });
  }

  /** Validates synchronously (errors go back to the peer), then starts the subscription. */
  private subscribe(message: Record<string, unknown>): void {
    const { channel, claimId } = this.target(message);
    const after = message.after;
    if (after !== undefined && (typeof after !== 'number' || !Number.isSafeInteger(after) || after < 0)) {
      throw new ProtocolError('invalid_after', 'after must be a non-negative integer position');
    }
    const key = subscriptionKey(channel, claimId);
    if (this.subscriptions.has(key)) throw new ProtocolError('already_subscribed', `already subscribed to ${key}`);
    if (this.subscriptions.size >= this.deps.config.maxSubscriptions) {
      throw new ProtocolError('bad_message', `at most ${this.deps.config.maxSubscriptions} subscriptions per connection`);
    }
    const sub = new ChannelSubscription(this, channel, claimId);
    this.subscriptions.set(key, sub);
    void this.start(sub, after as number | undefined);
  }

  private async start(sub: ChannelSubscription, after: number | undefined): Promise<void> {
    const { channel, claimId, key } = sub;
    try {
      await this.deps.hub.start();
      if (after === undefined) await this.deps.hub.caughtUpWithCommits(SNAPSHOT_CATCH_UP_MS);
      if (sub.isClosed()) return;
      // Read the hub's position and join its fan-out in one synchronous step: every event
      // after `head` reaches `pending`, every event up to it is in the store.
      const head = this.deps.hub.position;
      this.deps.hub.add(sub);
      if (after === undefined) await this.snapshot(sub, head);
      else await this.replay(sub, after, head);
      sub.goLive();
    } catch (err) {
      if (sub.isClosed()) return;
      sub.close();
      this.deps.hub.remove(sub);
      this.subscriptions.delete(key);
      this.sendError(
        err instanceof ProtocolError ? err : new ProtocolError('replay_failed', 'could not read the store; subscribe again'),
        channel,
        claimId,
      );
      if (!(err instanceof ProtocolError)) this.deps.log.error({ err }, 'live: subscribe failed');
    }
  }

  private async snapshot(sub: ChannelSubscription, head: number): Promise<void> {
    sub.lastSent = head;
    if (sub.channel === 'feed') {
      this.sendJson({ type: 'snapshot', channel: 'feed', position: head });
    } else if (sub.channel === 'board') {
      const board = await this.deps.boardSnapshot();
      if (sub.isClosed()) return;
      this.send(`{"type":"snapshot","channel":"board","position":${head},"board":${board}}`);
    } else {
      // The claim exactly as of `head`: events after it follow as live events.
      const events = await this.deps.store.readStream(claimStreamId(sub.claimId!));
      let state = initialClaimState;
      for (const e of events) {
        if (e.position === null || e.position > head) break;
        state = evolve(state, toEnvelope(e));
      }
      if (sub.isClosed()) return;
      this.sendJson({ type: 'snapshot', channel: 'claim', position: head, claimId: sub.claimId, claim: viewOf(state) });
    }
  }

  private async replay(sub: ChannelSubscription, after: number, head: number): Promise<void> {
    sub.lastSent = after;
    const low = this.drainedBelow;
    const emit = async (event: PreparedEvent) => {
      if (this.socket.bufferedAmount > low) await this.drained();
      sub.forward(event);
    };
    let through = after;
    if (sub.channel === 'claim') {
      const events = await this.deps.store.readStream(claimStreamId(sub.claimId!));
      let state = initialClaimState;
      for (const e of events) {
        if (sub.isClosed()) return;
        if (e.position === null) break;
        state = evolve(state, toEnvelope(e));
        if (e.position > after) await emit(new PreparedEvent(e as PositionedEvent, viewOf(state)));
      }
      through = Math.max(after, head);
    } else {
      const states = new ClaimStates(this.deps.store, 2_000);
      while (through < head) {
        const page = await this.deps.store.readAll({ after: through, limit: this.deps.config.replayBatchSize });
        if (sub.isClosed()) return;
        if (page.events.length === 0) break;
        for (const e of page.events) {
          if (sub.isClosed()) return;
          if (sub.channel === 'board' && claimIdOf(e.streamId) === null) continue;
          let view = null;
          try {
            view = await states.viewAfter(e);
          } catch (err) {
            states.forget(e.streamId);
            this.deps.log.error({ err, position: e.position }, 'live: replay view failed');
          }
          await emit(new PreparedEvent(e, view));
        }
        through = page.next;
      }
    }
    if (sub.isClosed()) return;
    // Everything of this channel up to `through` has been read from the store and sent.
    sub.lastSent = Math.max(sub.lastSent, through);
    this.sendJson({
      type: 'caught-up',
      channel: sub.channel,
      ...(sub.claimId ? { claimId: sub.claimId } : {}),
      position: sub.lastSent,
    });
  }
}
