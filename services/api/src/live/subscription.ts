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
  ) {}

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
