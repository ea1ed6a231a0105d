/**
 * A websocket watcher of the `feed` channel that records every event position it is sent,
 * across reconnects: `connect(after)` resumes after the last position seen, as a client
 * should. `positions` keeps duplicates so the test can see them.
 */
import WebSocket from 'ws';

export class FeedWatcher {
  readonly positions: number[] = [];
  readonly errors: unknown[] = [];
  readonly closes: number[] = [];
  private socket: WebSocket | undefined;
  caughtUp = 0;

  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
  ) {}

  get last(): number {
    return this.positions.length === 0 ? 0 : Math.max(...this.positions);
  }

  get open(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  /** Opens a connection and subscribes with `after` (default: the last position seen). Resolves on `caught-up`. */
  connect(after = this.last): Promise<void> {
    const url = `${this.baseUrl.replace(/^http/, 'ws')}/ws`;
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { headers: { authorization: `Bearer ${this.token}` } });
      this.socket = socket;
      let settled = false;
      const timer = setTimeout(() => {
        if (!settled) {
          settled = true;
          socket.terminate();
          reject(new Error('feed watcher: no caught-up within 60 s'));
        }
      }, 60_000);
      socket.on('open', () => socket.send(JSON.stringify({ type: 'subscribe', channel: 'feed', after })));
      socket.on('message', (data) => {
        const message = JSON.parse(String(data)) as { type: string; position?: number; code?: string };
        if (message.type === 'event' && typeof message.position === 'number') this.positions.push(message.position);
        else if (message.type === 'caught-up') {
          this.caughtUp++;
          if (!settled) {
            settled = true;
            clearTimeout(timer);
            resolve();
          }
        } else if (message.type === 'error') this.errors.push(message);
      });
      socket.on('close', (code) => {
        this.closes.push(code);
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          reject(new Error(`feed watcher closed before caught-up (${code})`));
        }
      });
      socket.on('error', (error) => {
        this.errors.push(String(error));
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          reject(error);
        }
      });
    });
  }

  close(): Promise<void> {
    const socket = this.socket;
    if (!socket || socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      socket.once('close', () => resolve());
      socket.close(1000, 'done');
      setTimeout(() => {
        socket.terminate();
        resolve();
      }, 5000).unref();
    });
  }

  /** Gaps and duplicates against the expected 1..head. */
  check(head: number): { missing: number[]; duplicates: number[]; outOfOrder: number } {
    const seen = new Map<number, number>();
    let outOfOrder = 0;
    for (let i = 0; i < this.positions.length; i++) {
      const p = this.positions[i]!;
      seen.set(p, (seen.get(p) ?? 0) + 1);
      if (i > 0 && p <= this.positions[i - 1]!) outOfOrder++;
    }
    const missing: number[] = [];
    for (let p = 1; p <= head; p++) if (!seen.has(p)) missing.push(p);
    const duplicates = [...seen.entries()].filter(([, n]) => n > 1).map(([p]) => p);
    return { missing, duplicates, outOfOrder };
  }
}
