/**
 * The delivery worker. Runs in every instance; all of its state is in the database (the
 * consumer group `webhook:<id>` of each webhook), so instances share the load through the
 * group's leases and a restarted (or killed) instance loses nothing: what it had leased is
 * handed out again when the lease runs out, with the same `webhook-id`.
 *
 * Per webhook and instance one pump at a time: it leases up to WEBHOOK_CONCURRENCY events
 * (at most one per claim: the group keeps per-claim order), POSTs them in parallel, then
 * acks the delivered ones and nacks the failed ones with the next retry delay (the last
 * failure parks the event). Woken by the sequencer's notification (a new head), and by a
 * poll timer that also picks up retries that have come due.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { FastifyBaseLogger } from 'fastify';
import { toEventRecord } from '@claimtrail/claims';
import { ConsumerGroupNotFoundError, ConsumerGroups, type ConsumerDelivery, type Database, type EventStore } from '@claimtrail/event-store';
import { fetchMatching } from '../integrations/claim-filter.ts';
import { retryDelayMs, type WebhookConfig } from './config.ts';
import { activeWebhooks, groupOf, markFailure, markSuccess, recordAttempts, webhookStreamId, type ActiveWebhook } from './registry.ts';
import { sendAttempt, type AttemptResult } from './sender.ts';
import { signedHeaders } from './signing.ts';

export interface WebhookWorkerOptions {
  db: Kysely<any>;
  database: Database;
  store: EventStore;
  config: WebhookConfig;
  log: FastifyBaseLogger;
  /** The store's NOTIFY channel for a new head (default `events_head`). */
  channel?: string;
}

/** The body of one delivery (Standard Webhooks payload shape: type, timestamp, data). */
export function deliveryBody(delivery: ConsumerDelivery): string {
  const record = toEventRecord(delivery.event);
  return JSON.stringify({ type: record.type, timestamp: record.recordedAt, data: record });
}

/** The `webhook-id` of an event: the same on every attempt and every redelivery. */
export function messageIdOf(eventId: string): string {
  return `msg_${eventId}`;
}

export class WebhookWorker {
  readonly member = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly groups: ConsumerGroups;
  private readonly pumping = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  private stopped = false;
  private ticking = false;
  private again = false;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly options: WebhookWorkerOptions) {
    this.groups = new ConsumerGroups(options.db);
  }

  async start(): Promise<void> {
    this.timer = setInterval(() => this.wake(), this.options.config.pollMs);
    this.timer.unref();
    try {
      this.unlisten = await this.options.database.listen(this.options.channel ?? 'events_head', () => this.wake());
    } catch (error) {
      this.options.log.warn({ err: error }, 'webhooks: no notification listener, polling only');
    }
    this.wake();
  }

  wake(): void {
    if (this.stopped) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = true;
    const run = this.tick()
      .catch((error: unknown) => this.options.log.warn({ err: error }, 'webhooks: a pass failed (retried)'))
      .finally(() => {
        this.ticking = false;
        this.inFlight.delete(run);
        if (this.again && !this.stopped) {
          this.again = false;
          this.wake();
        }
      });
    this.inFlight.add(run);
  }

  private async tick(): Promise<void> {
    const hooks = await activeWebhooks(this.options.db);
    await Promise.all(hooks.filter((hook) => !this.pumping.has(hook.id)).map((hook) => this.pump(hook)));
  }

  /** Delivers this webhook's ready events until a lease comes back short. */
  private async pump(hook: ActiveWebhook): Promise<void> {
    this.pumping.add(hook.id);
    try {
      const { concurrency, timeoutMs } = this.options.config;
      let target: URL;
      try {
        target = new URL(hook.url);
      } catch {
        return;
      }
      while (!this.stopped) {
        let batch: ConsumerDelivery[];
        try {
          batch = await fetchMatching(this.options.db, this.groups, groupOf(hook.id), this.member, { limit: concurrency, leaseMs: timeoutMs + 5000 });
        } catch (error) {
          if (error instanceof ConsumerGroupNotFoundError) return; // deleted meanwhile
          throw error;
        }
        if (batch.length === 0) return;
        const results = await Promise.all(batch.map((delivery) => this.send(hook, target, delivery)));
        if ((await this.settle(hook, batch, results)) === 'disabled') return;
        if (batch.length < concurrency) return;
      }
    } finally {
      this.pumping.delete(hook.id);
    }
  }

  private send(hook: ActiveWebhook, target: URL, delivery: ConsumerDelivery): Promise<AttemptResult> {
    const body = deliveryBody(delivery);
    return sendAttempt(target, signedHeaders(hook.secret, messageIdOf(delivery.event.id), body), body, {
      timeoutMs: this.options.config.timeoutMs,
      allowPrivate: this.options.config.allowPrivateTargets,
    });
  }

  /**
   * After a batch: its attempts logged, the delivered events acked, the failed ones nacked
   * with their next retry delay (the last failure parks), in a few statements per batch.
   */
  private async settle(hook: ActiveWebhook, batch: ConsumerDelivery[], results: AttemptResult[]): Promise<'ok' | 'disabled'> {
    const { db, config } = this.options;
    const group = groupOf(hook.id);
    await recordAttempts(
      db,
      batch.map((delivery, i) => ({
        webhookId: hook.id,
        messageId: messageIdOf(delivery.event.id),
        position: delivery.event.position,
        eventType: delivery.event.type,
        attempt: delivery.attempt,
        status: results[i]!.status,
        latencyMs: results[i]!.latencyMs,
        error: results[i]!.error,
      })),
    );
    const delivered = batch.filter((_, i) => results[i]!.ok).map((delivery) => delivery.event.position);
    if (delivered.length > 0) await this.groups.ack(group, delivered);
    const failed = batch.filter((_, i) => !results[i]!.ok);
    for (const delivery of failed) {
      const delay = retryDelayMs(config, delivery.attempt) ?? config.retryScheduleMs.at(-1) ?? 0;
      const error = results[batch.indexOf(delivery)]!.error ?? 'failed';
      await this.groups.nack(group, [delivery.event.position], { member: this.member, error, retryAfterMs: delay });
    }
    // One success means the endpoint works: only a batch that failed whole counts towards disabling.
    if (delivered.length > 0) {
      await markSuccess(db, hook.id);
      return 'ok';
    }
    // Disabling and its event commit together: no disabled webhook without its WebhookDisabled.
    const { store } = this.options;
    const disabled = await store.transaction(async (tx) => {
      const flipped = await markFailure(tx, hook.id, config.disableAfterMs);
      if (flipped) {
        await store.append(
          webhookStreamId(hook.id),
          [
            {
              type: 'WebhookDisabled',
              data: { webhookId: hook.id, url: hook.url, reason: flipped.reason, failingSince: flipped.failingSince },
              metadata: { actor: 'system:webhooks' },
            },
          ],
          { tx },
        );
      }
      return flipped;
    });
    if (!disabled) return 'ok';
    this.options.log.warn({ webhookId: hook.id, reason: disabled.reason }, 'webhooks: endpoint disabled after sustained failure');
    return 'disabled';
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.unlisten?.().catch(() => undefined);
    await Promise.all([...this.inFlight]);
  }
}
