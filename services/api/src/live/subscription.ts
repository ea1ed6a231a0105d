import { subscriptionKey, type LiveChannel } from '@claimtrail/client';
import type { Connection } from './connection.ts';
import type { HubListener } from './hub.ts';
import type { PreparedEvent } from './messages.ts';

/**
 * One channel of one connection. Until its replay or snapshot is sent it holds back live
 * events (`pending`); from then on it forwards them. Every forward is deduplicated by
 * position, which is what makes the switch from replay to live gap-free and exact.
 */
export class ChannelSubscription implements HubListener {
  state: 'starting' | 'live' | 'closed' = 'starting';
  lastSent = 0;
  private pending: PreparedEvent[] = [];

  constructor(
    readonly connection: Connection,
    readonly channel: LiveChannel,
    readonly claimId: string | null,
    /** The client opted in to coalesced frames (`batch`): live events come as the hub's per-tick array frames. */
    readonly batched = false,
  ) {}

  /** Whether the hub hands this subscription its per-tick array frame rather than each event. */
  get takesBatches(): boolean {
    return this.batched && this.state === 'live';
  }

  /**
   * The tick's events of the channel, in position order, and the one frame (a JSON array of
   * their messages, shared by every batched watcher of the channel). Sent as is when none of
   * them went out before; otherwise (the subscription went live within the tick, with some
   * of them among its held-back events) the rest one by one.
   */
  deliverBatch(events: readonly PreparedEvent[], frame: () => Buffer): void {
    if (this.state !== 'live' || events.length === 0) return;
    if (events[0]!.position > this.lastSent) {
      this.lastSent = events[events.length - 1]!.position;
      this.connection.sendFrame(frame);
      return;
    }
    for (const event of events) this.forward(event);
  }

  get key(): string {
    return subscriptionKey(this.channel, this.claimId);
  }

  deliver(event: PreparedEvent): void {
    if (this.state === 'live') this.forward(event);
    else if (this.state === 'starting') {
      this.pending.push(event);
      if (this.pending.length > this.connection.config.maxQueuedMessages) this.connection.overflow();
    }
  }

  forward(event: PreparedEvent): void {
    if (event.position <= this.lastSent) return;
    this.lastSent = event.position;
    this.connection.sendEvent(event, this.channel);
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
