import type { EventStore, Subscription } from '../types.ts';
import type { FeedCursor } from './cursor.ts';
import type { FeedEvent, FeedHandler, FeedSubscription } from './types.ts';

/**
 * The merged feed, live: one ordinary subscription per shard (each with its own catch-up,
 * prefetch, wake-ups and "never behind what was seen" guarantee), funnelled into one
 * handler that is called one event at a time. A shard's subscription waits for its turn,
 * so each shard is delivered in its position order and at most one event per shard is
 * waiting. The cursor advances for a shard only after the handler returned for that
 * shard's event: resuming from it repeats nothing and skips nothing.
 *
 * Shards interleave in the order their events arrive (not the `recordedAt` merge of
 * `readFeed`): a live feed cannot wait for a quiet shard without stalling the others.
 */
export class MergedSubscription implements FeedSubscription {
  readonly caughtUp: Promise<void>;
  private readonly positions: number[];
  private readonly subscriptions: Subscription[];
  private turn: Promise<void> = Promise.resolve();
  private stopped = false;
  private failure: { error: unknown } | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    shards: readonly EventStore[],
    after: FeedCursor,
    batchSize: number | undefined,
    private readonly handler: FeedHandler,
    private readonly onError: (error: unknown) => void,
    private readonly onClose: () => void,
  ) {
    this.positions = [...after];
    this.subscriptions = shards.map((store, shard) =>
      store.subscribe({ after: after[shard]!, ...(batchSize === undefined ? {} : { batchSize }) }, (event) =>
        this.deliver(shard, event as FeedEvent),
      ),
    );
    this.caughtUp = new Promise<void>((resolve, reject) => {
      Promise.all(this.subscriptions.map((subscription) => subscription.caughtUp)).then(
        () => resolve(),
        (error: unknown) => reject(this.failure ? this.failure.error : error),
      );
    });
    this.caughtUp.catch(() => undefined);
  }

  get cursor(): FeedCursor {
    return [...this.positions];
  }

  private deliver(shard: number, event: FeedEvent): Promise<void> {
    const turn = this.turn.then(async () => {
      if (this.stopped) return;
      event.shard = shard;
      try {
        await this.handler(event);
      } catch (error) {
        // As in a single store: a failing handler stops the feed at that event, never skips it.
        this.failure = { error };
        this.onError(error);
        // Not awaited: closing waits for the shard subscriptions, one of which waits for this turn.
        void this.close();
        return;
      }
      this.positions[shard] = event.position;
    });
    this.turn = turn;
    return turn;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopped = true;
      this.onClose();
      await Promise.all(this.subscriptions.map((subscription) => subscription.close()));
    })();
    return this.closing;
  }
}
