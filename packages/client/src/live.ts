import {
  CLOSE_TRY_AGAIN_LATER,
  subscriptionKey,
  type CaughtUpMessage,
  type ClientMessage,
  type ErrorMessage,
  type EventMessage,
  type LiveChannel,
  type NotificationMessage,
  type ServerMessage,
  type SnapshotMessage,
} from './protocol.ts';

/**
 * The part of the WHATWG WebSocket the live client uses. The browser's global WebSocket
 * and the `ws` package's WebSocket both satisfy it.
 */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export type LiveStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface LiveSubscribeSpec {
  channel: LiveChannel;
  claimId?: string;
  /** Start after this position (replay, then `caught-up`); omit for a snapshot first. */
  after?: number;
}

export interface LiveHandlers<TBoard = unknown> {
  onEvent?(message: EventMessage): void;
  /** Also called again after a reconnect that could not resume (no position seen yet). */
  onSnapshot?(message: SnapshotMessage<TBoard>): void;
  onCaughtUp?(message: CaughtUpMessage): void;
  onError?(message: ErrorMessage): void;
  /** The `me` channel: each notification once (resumed after its `seq` on a reconnect). */
  onNotification?(message: NotificationMessage): void;
}

export interface LiveSubscription {
  /** Last position seen on this subscription (snapshot or event); 0 before any. */
  readonly position: number;
  unsubscribe(): void;
}

export interface LiveOptions {
  /** ws:// or wss:// URL of `/ws` (without the token). */
  url: string;
  token?: string | (() => string | undefined | null);
  WebSocket?: WebSocketConstructor;
  /**
   * Backoff ceiling of the first reconnect in ms (default 250); it doubles per failed
   * attempt up to `maxReconnectDelayMs` (default 10000). Each reconnect waits a uniformly
   * random time below the ceiling (full jitter) — the first one too, so the watchers of an
   * instance that went away spread their reconnects instead of arriving together.
   */
  reconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  /** `false`: one frame per message (Contract v1) instead of coalesced frames (`batch`, the default). */
  batchFrames?: boolean;
}

interface ActiveSubscription {
  key: string;
  spec: LiveSubscribeSpec;
  handlers: LiveHandlers<unknown>;
  position: number;
  /** Whether a position is known to resume from (a snapshot, an event or `after`). */
  resumable: boolean;
}

const OPEN = 1;

/**
 * One websocket carrying any number of subscriptions. Reconnects on its own and resumes
 * every subscription after the last position it delivered, so a handler sees each event
 * once, in position order, across reconnects.
 */
export class LiveConnection<TBoard = unknown> {
  private socket: WebSocketLike | null = null;
  private readonly subscriptions = new Map<string, ActiveSubscription>();
  private readonly statusListeners = new Set<(status: LiveStatus, detail?: { code?: number }) => void>();
  private statusValue: LiveStatus = 'closed';
  private closedByUser = false;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly WS: WebSocketConstructor;

  constructor(private readonly options: LiveOptions) {
    const ctor =
      options.WebSocket ??
      ((globalThis as { WebSocket?: unknown }).WebSocket as WebSocketConstructor | undefined);
    if (!ctor) {
      throw new Error('No WebSocket implementation: pass one as the `WebSocket` option (e.g. from "ws")');
    }
    this.WS = ctor;
  }

  get status(): LiveStatus {
    return this.statusValue;
  }

  onStatus(listener: (status: LiveStatus, detail?: { code?: number }) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  subscribe(spec: LiveSubscribeSpec, handlers: LiveHandlers<TBoard>): LiveSubscription {
    if (spec.channel === 'claim' && !spec.claimId) throw new Error('claimId is required for the claim channel');
    const key = subscriptionKey(spec.channel, spec.claimId);
    if (this.subscriptions.has(key)) throw new Error(`already subscribed to ${key}`);
    const sub: ActiveSubscription = {
      key,
      spec,
      handlers: handlers as LiveHandlers<unknown>,
      position: spec.after ?? 0,
      resumable: spec.after !== undefined,
    };
    this.subscriptions.set(key, sub);
    this.closedByUser = false;
    if (this.socket?.readyState === OPEN) this.sendSubscribe(sub);
    else if (!this.socket && !this.timer) this.connect();
    return {
      get position() {
        return sub.position;
      },
      unsubscribe: () => {
        if (this.subscriptions.get(key) !== sub) return;
        this.subscriptions.delete(key);
        if (this.socket?.readyState === OPEN) {
          this.send({ type: 'unsubscribe', channel: spec.channel, ...(spec.claimId ? { claimId: spec.claimId } : {}) });
        }
      },
    };
  }

  /** Closes the socket and stops reconnecting. */
  close(): void {
    this.closedByUser = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000, 'client closed');
    this.setStatus('closed');
  }

  /** Drops the current socket and reconnects (e.g. after the token changed). */
  reconnect(): void {
    this.closedByUser = false;
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onclose = null;
      socket.close(1000, 'reconnecting');
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.connect();
  }

  private connect(): void {
    this.timer = null;
    if (this.closedByUser) return;
    const token = typeof this.options.token === 'function' ? this.options.token() : this.options.token;
    const url = new URL(this.options.url);
    if (token) url.searchParams.set('token', token);
    this.setStatus(this.attempt === 0 ? 'connecting' : 'reconnecting');
    let socket: WebSocketLike;
    try {
      socket = new this.WS(url.toString());
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.attempt = 0;
      this.setStatus('open');
      for (const sub of this.subscriptions.values()) this.sendSubscribe(sub);
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      const text = typeof event.data === 'string' ? event.data : String(event.data);
      let parsed: ServerMessage<TBoard> | ServerMessage<TBoard>[];
      try {
        parsed = JSON.parse(text) as ServerMessage<TBoard> | ServerMessage<TBoard>[];
      } catch {
        return;
      }
      // A coalesced frame (the subscription opted in with `batch`): its messages in order.
      if (Array.isArray(parsed)) for (const message of parsed) this.dispatch(message);
      else this.dispatch(parsed);
    };
    socket.onerror = () => {
      // onclose follows and decides about reconnecting.
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.closedByUser) return this.setStatus('closed');
      this.setStatus('reconnecting', { code: event.code });
      // 1013: we fell behind; come back soon (within 50 ms) and resume from our position.
      this.scheduleReconnect(event.code === CLOSE_TRY_AGAIN_LATER ? 50 : undefined);
    };
  }

  /** Reconnects after a uniformly random time below the backoff ceiling (full jitter). */
  private scheduleReconnect(ceiling?: number): void {
    if (this.closedByUser || this.timer) return;
    const base = this.options.reconnectDelayMs ?? 250;
    const max = this.options.maxReconnectDelayMs ?? 10_000;
    const backoff = ceiling ?? Math.min(max, base * 2 ** Math.min(this.attempt, 10));
    this.attempt++;
    this.timer = setTimeout(() => this.connect(), Math.random() * backoff);
  }

  private sendSubscribe(sub: ActiveSubscription): void {
    this.send({
      type: 'subscribe',
      channel: sub.spec.channel,
      ...(sub.spec.claimId ? { claimId: sub.spec.claimId } : {}),
      ...(sub.resumable ? { after: sub.position } : {}),
      // One frame per server tick instead of one per event (a server without it ignores it).
      ...(this.options.batchFrames === false ? {} : { batch: true }),
    });
  }

  private send(message: ClientMessage): void {
    this.socket?.send(JSON.stringify(message));
  }

  private find(channel: LiveChannel, claimId?: string | null): ActiveSubscription | undefined {
    return this.subscriptions.get(subscriptionKey(channel, claimId));
  }

  private dispatch(message: ServerMessage<TBoard>): void {
    switch (message.type) {
      case 'event': {
        const sub = this.find(message.channel, message.claimId);
        // The server never repeats a position; this guards resumes across instances.
        if (!sub || message.position <= sub.position) return;
        sub.position = message.position;
        sub.resumable = true;
        sub.handlers.onEvent?.(message);
        return;
      }
      case 'snapshot': {
        const sub = this.find(message.channel, message.channel === 'claim' ? message.claimId : undefined);
        if (!sub) return;
        sub.position = message.position;
        sub.resumable = true;
        sub.handlers.onSnapshot?.(message);
        return;
      }
      case 'notification': {
        const sub = this.find('me');
        if (!sub || message.seq <= sub.position) return;
        sub.position = message.seq;
        sub.resumable = true;
        sub.handlers.onNotification?.(message);
        return;
      }
      case 'caught-up': {
        const sub = this.find(message.channel, message.claimId);
        if (!sub) return;
        if (message.position > sub.position) sub.position = message.position;
        sub.handlers.onCaughtUp?.(message);
        return;
      }
      case 'error': {
        const sub = message.channel ? this.find(message.channel, message.claimId) : undefined;
        if (sub && (message.code === 'replay_failed' || message.code === 'internal')) {
          // The server dropped this subscription (store unavailable): ask again shortly.
          const socket = this.socket;
          setTimeout(() => {
            if (this.socket === socket && socket?.readyState === OPEN && this.subscriptions.get(sub.key) === sub) {
              this.sendSubscribe(sub);
            }
          }, 1000);
        }
        if (sub) sub.handlers.onError?.(message);
        else for (const s of this.subscriptions.values()) s.handlers.onError?.(message);
        return;
      }
      default:
        return;
    }
  }

  private setStatus(status: LiveStatus, detail?: { code?: number }): void {
    this.statusValue = status;
    for (const listener of this.statusListeners) listener(status, detail);
  }
}
