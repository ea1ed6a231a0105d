/**
 * The websocket channel `me`: the caller's in-app notifications (docs/desk-operations.md),
 * each delivered once. Notifications are rows the desk follower commits
 * (packages/claims/src/desk/); their `seq` grows in commit order. After each follower run
 * this instance reads the rows after the last `seq` it saw and hands each to the sockets of
 * its recipient. A subscription delivers only `seq` above the last it sent, so its
 * catch-up (`after`: a seq) and the live rows cannot overlap, and live rows arriving
 * during the catch-up wait for it.
 */
import type { Kysely } from 'kysely';
import { lastNotificationSeq, notificationsAfter, type Notification } from '@claimtrail/claims';
import type { Connection } from './connection.ts';

const PAGE = 500;

export class MeSubscription {
  private last: number;
  private held: Notification[] | null = [];
  closed = false;

  constructor(
    readonly recipient: string,
    private readonly connection: Connection,
    after: number,
  ) {
    this.last = after;
  }

  offer(n: Notification): void {
    if (this.closed) return;
    if (this.held) {
      this.held.push(n);
      return;
    }
    this.send(n);
  }

  private send(n: Notification): void {
    if (n.seq <= this.last || this.connection.closed) return;
    this.last = n.seq;
    this.connection.sendJson({ type: 'notification', channel: 'me', seq: n.seq, notification: n });
  }

  /** Sends the caught-up rows, then the ones held back meanwhile, and goes live. */
  release(caughtUp: readonly Notification[]): void {
    for (const n of caughtUp) this.send(n);
    const held = this.held ?? [];
    this.held = null;
    for (const n of held) this.send(n);
  }
}

export class MeChannel {
  private readonly subscribers = new Map<string, Set<MeSubscription>>();
  private seen = 0;
  private started: Promise<void> | null = null;
  private polling: Promise<void> | null = null;
  private again = false;

  constructor(private readonly db: Kysely<any>) {}

  /** The last seq delivered to this instance's sockets (read once at start). */
  async start(): Promise<void> {
    this.started ??= lastNotificationSeq(this.db).then((seq) => {
      this.seen = seq;
    });
    return this.started;
  }

  async subscribe(recipient: string, connection: Connection, after: number | undefined): Promise<MeSubscription> {
    await this.start();
    const sub = new MeSubscription(recipient, connection, after ?? this.seen);
    let set = this.subscribers.get(recipient);
    if (!set) this.subscribers.set(recipient, (set = new Set()));
    set.add(sub);
    const caughtUp: Notification[] = [];
    if (after !== undefined) {
      for (let from = after; ; ) {
        const page = await notificationsAfter(this.db, recipient, from, PAGE);
        caughtUp.push(...page);
        if (page.length < PAGE) break;
        from = page[page.length - 1]!.seq;
      }
    }
    sub.release(caughtUp);
    return sub;
  }

  remove(sub: MeSubscription): void {
    sub.closed = true;
    const set = this.subscribers.get(sub.recipient);
    set?.delete(sub);
    if (set?.size === 0) this.subscribers.delete(sub.recipient);
  }

  /** Reads the rows committed since the last poll and hands them out (concurrent calls share one run, plus one after). */
  poll(): Promise<void> {
    if (this.polling) {
      this.again = true;
      return this.polling;
    }
    this.polling = (async () => {
      try {
        await this.start();
        do {
          this.again = false;
          for (;;) {
            const page = await notificationsAfter(this.db, null, this.seen, PAGE);
            for (const n of page) {
              this.seen = n.seq;
              for (const sub of this.subscribers.get(n.recipient) ?? []) sub.offer(n);
            }
            if (page.length < PAGE) break;
          }
        } while (this.again);
      } finally {
        this.polling = null;
      }
    })();
    return this.polling;
  }
}
