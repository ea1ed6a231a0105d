import { StoreClosedError } from '../errors.ts';
import type { AppendResult, EventStore, NewEvent, ReadStreamOptions, RecordedEvent } from '../types.ts';
import { checkFeedCursor, decodeFeedCursor, type FeedCursor } from './cursor.ts';
import { readMergedPage } from './feed.ts';
import { shardOf } from './route.ts';
import { MergedSubscription } from './subscription.ts';
import type {
  FeedHandler,
  FeedPage,
  FeedSubscribeOptions,
  FeedSubscription,
  ReadFeedOptions,
  ShardedAppendOptions,
  ShardedEventStore,
  ShardedVerifyResult,
} from './types.ts';

export interface ShardedEventStoreOptions {
  /** Errors of merged subscriptions (a throwing handler). Default: console.warn. */
  onError?: (error: unknown) => void;
}

/**
 * An event store over `shards` (shard number = index). Each shard is an ordinary
 * `EventStore` on its own database (or schema), so the same code runs against N databases
 * on one server, N servers, or the shard-local stores of a distributed PostgreSQL. The
 * order of `shards` is part of the data: a stream is where `shardOf(streamId, length)` says.
 */
export function createShardedEventStore(shards: readonly EventStore[], options: ShardedEventStoreOptions = {}): ShardedEventStore {
  if (shards.length < 1) throw new RangeError('a sharded event store needs at least one shard');
  return new Sharded([...shards], options.onError ?? ((error) => console.warn('sharded event store:', error)));
}

class Sharded implements ShardedEventStore {
  readonly shardCount: number;
  private readonly subscriptions = new Set<MergedSubscription>();
  private closed = false;

  constructor(
    readonly shards: readonly EventStore[],
    private readonly onError: (error: unknown) => void,
  ) {
    this.shardCount = shards.length;
  }

  shardOf(streamId: string): number {
    return shardOf(streamId, this.shardCount);
  }

  shardFor(streamId: string): EventStore {
    return this.shards[this.shardOf(streamId)]!;
  }

  append(streamId: string, events: NewEvent[], options: ShardedAppendOptions = {}): Promise<AppendResult> {
    // Drop what a caller may pass despite the type: a `tx` or `head` belongs to one shard's connection.
    const { expectedVersion, awaitPosition } = options;
    return this.shardFor(streamId).append(streamId, events, {
      ...(expectedVersion === undefined ? {} : { expectedVersion }),
      ...(awaitPosition === undefined ? {} : { awaitPosition }),
    });
  }

  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    return this.shardFor(streamId).readStream(streamId, options);
  }

  streamVersion(streamId: string): Promise<number> {
    return this.shardFor(streamId).streamVersion(streamId);
  }

  async readFeed(options: ReadFeedOptions = {}): Promise<FeedPage> {
    const after = this.cursorOf(options.after);
    const limit = Math.max(1, Math.min(options.limit ?? 1000, 10_000));
    return readMergedPage(this.shards, after, limit);
  }

  subscribe(options: FeedSubscribeOptions, handler: FeedHandler): FeedSubscription {
    if (this.closed) throw new StoreClosedError();
    const after = this.cursorOf(options.after);
    const subscription: MergedSubscription = new MergedSubscription(this.shards, after, options.batchSize, handler, this.onError, () =>
      this.subscriptions.delete(subscription),
    );
    this.subscriptions.add(subscription);
    return subscription;
  }

  async head(): Promise<FeedCursor> {
    return Promise.all(this.shards.map((shard) => shard.headPosition()));
  }

  async verify(): Promise<ShardedVerifyResult> {
    const shards = await Promise.all(this.shards.map((shard) => shard.verify()));
    return {
      ok: shards.every((result) => result.ok),
      checked: shards.reduce((sum, result) => sum + result.checked, 0),
      shards,
    };
  }

  wake(): void {
    for (const shard of this.shards) shard.wake();
  }

  async flush(): Promise<void> {
    await Promise.all(this.shards.map((shard) => shard.flush()));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((subscription) => subscription.close()));
    await Promise.all(this.shards.map((shard) => shard.close()));
  }

  private cursorOf(after: FeedCursor | string | undefined): FeedCursor {
    if (after === undefined) return new Array<number>(this.shardCount).fill(0);
    return typeof after === 'string' ? decodeFeedCursor(after, this.shardCount) : checkFeedCursor(after, this.shardCount);
  }
}
