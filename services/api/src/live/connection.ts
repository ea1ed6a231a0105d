/**
 * The transport of one websocket: its lifecycle (heartbeats, closing, token expiry), and
 * how frames reach it (corked per tick, written straight to the TCP socket when they can
 * be, a peer too far behind closed with 1013). Knows nothing of what the frames say.
 */
import { CLOSE_TRY_AGAIN_LATER, type LiveChannel } from '@claimtrail/client';
import type { WebSocket } from 'ws';
import type { LiveConfig } from './config.ts';
import { frameHeaderLength, type PreparedEvent } from './messages.ts';

/** Policy violation: the session's credentials are no longer valid. */
export const CLOSE_POLICY_VIOLATION = 1008;
const OPEN = 1;
/** setTimeout's longest delay (about 24.8 days); a later expiry is re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Shared bytes go out as text frames (JSON), without per-socket re-encoding. */
const TEXT_FRAME = { binary: false } as const;

/** Counters of one live plugin instance (`app.live.stats`). */
export interface LiveStats {
  connections: number;
  overflowCloses: number;
  heartbeatTerminations: number;
}

/**
 * The sockets corked during this tick, uncorked together when it ends; one per live
 * plugin instance, which reads the time spent flushing (the write syscalls) for its stats.
 */
export class CorkedWrites {
  ms = 0;
  maxMs = 0;
  private pending: (() => void)[] = [];

  add(uncork: () => void): void {
    this.pending.push(uncork);
    if (this.pending.length === 1) setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    const started = performance.now();
    const pending = this.pending.splice(0);
    for (const uncork of pending) uncork();
    const spent = performance.now() - started;
    this.ms += spent;
    if (spent > this.maxMs) this.maxMs = spent;
  };
}

export interface ConnectionDeps {
  config: LiveConfig;
  stats: LiveStats;
  writes: CorkedWrites;
}

export class Connection {
  alive = true;
  private missed = 0;
  private closedValue = false;
  /** When the session's token expires (ms since the epoch); Infinity when it does not. */
  private expiresAt = Infinity;
  private expiryTimer: ReturnType<typeof setTimeout> | undefined;
  /** The TCP socket, when frames may be written to it directly (no extensions). */
  private readonly raw: { write(data: Buffer): boolean } | null;
  private corked = false;
  private backlogAtCork = 0;

  constructor(
    readonly socket: WebSocket,
    private readonly deps: ConnectionDeps,
    /** Runs once when the connection is done (closed, terminated or dropped). */
    private readonly onDispose: () => void,
  ) {
    deps.stats.connections++;
    const tcp = (socket as unknown as { _socket?: { write?: (data: Buffer) => boolean } })._socket;
    this.raw = socket.extensions === '' && typeof tcp?.write === 'function' ? (tcp as { write(data: Buffer): boolean }) : null;
    socket.on('pong', () => {
      this.alive = true;
    });
    socket.on('close', () => this.dispose());
  }

  get config(): LiveConfig {
    return this.deps.config;
  }

  get closed(): boolean {
    return this.closedValue;
  }

  /**
   * Closes the session with 1008 when its token expires. Until then frames flow; from
   * that instant none is sent even if the timer runs late (admit checks the time too).
   */
  expireAt(at: Date): void {
    if (this.closedValue) return;
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
    if (this.closedValue) return;
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

  sendJson(message: object): void {
    this.send(JSON.stringify(message));
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

  /**
   * Sends a complete shared frame (a coalesced array of event messages), built once for all
   * sockets. Written at once, not corked: it is already the tick's one write for the
   * channel, and the tick's end is when it is sent (corking would hold it one more turn
   * of the event loop, which on a starved process is the longest wait of all).
   */
  sendFrame(frame: () => Buffer): void {
    if (!this.admit(false)) return;
    const bytes = frame();
    if (this.raw) this.raw.write(bytes);
    else this.socket.send(bytes.subarray(frameHeaderLength(bytes)), TEXT_FRAME);
  }

  /**
   * Whether a frame may be written now (open, peer within its backlog), corking the tick
   * if so; a peer over its backlog is dropped (overflow).
   */
  private admit(cork = true): boolean {
    if (this.closedValue || this.socket.readyState !== OPEN) return false;
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
    if (cork) this.cork();
    return true;
  }

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
    this.deps.writes.add(() => {
      this.corked = false;
      raw.uncork!();
    });
  }

  /** The peer fell too far behind: close with 1013 so it resumes with `after`. */
  overflow(): void {
    if (this.closedValue) return;
    this.deps.stats.overflowCloses++;
    this.closeWith(CLOSE_TRY_AGAIN_LATER, 'too far behind; resume with after');
  }

  closeWith(code: number, reason: string): void {
    if (this.closedValue) return;
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

  /** Marks the connection done and tells its owner; idempotent. */
  dispose(): void {
    if (this.closedValue) return;
    this.closedValue = true;
    clearTimeout(this.expiryTimer);
    this.deps.stats.connections--;
    this.onDispose();
  }

  /** Unsent bytes below which a replay may send again. */
  get drainedBelow(): number {
    return Math.min(256 * 1024, this.deps.config.maxBufferedBytes / 2);
  }

  /** Resolves once the socket's queue is low enough to send more (or it closed). */
  async drained(): Promise<void> {
    const low = this.drainedBelow;
    while (!this.closedValue && this.socket.readyState === OPEN && this.socket.bufferedAmount > low) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}
