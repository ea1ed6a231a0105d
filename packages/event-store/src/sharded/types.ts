import type {
  AppendOptions,
  AppendResult,
  EventStore,
  NewEvent,
  PositionedEvent,
  ReadStreamOptions,
  RecordedEvent,
  VerifyResult,
} from '../types.ts';
import type { FeedCursor } from './cursor.ts';

/** An event of the merged feed: a shard's positioned event and the shard it came from. */
export interface FeedEvent extends PositionedEvent {
  /** The shard (0-based) the event's stream lives on; `position` counts on that shard only. */
  shard: number;
}

export interface ReadFeedOptions {
  /** Exclusive: the cursor (positions or their text) after which to read; default all zeros. */
  after?: FeedCursor | string;
  /** At most this many events (1–10,000, default 1000). */
  limit?: number;
}

export interface FeedPage {
  /** Each shard's events in its position order, shards interleaved by `recordedAt`. */
  events: FeedEvent[];
  /** The cursor after the last event of the page (== `after` when the page is empty). */
  next: FeedCursor;
  /** `next` as text (`encodeFeedCursor`). */
  cursor: string;
  /** Every shard was read to its head (as of this read) and the page holds all of it. */
  caughtUp: boolean;
}

export interface FeedSubscribeOptions {
  /** Exclusive cursor to resume after (positions or their text); default all zeros. */
  after?: FeedCursor | string;
  /** Page size of each shard's catch-up reads. */
  batchSize?: number;
}

export type FeedHandler = (event: FeedEvent) => void | Promise<void>;

export interface FeedSubscription {
  /** One position per shard: the last event delivered to the handler from that shard. */
  readonly cursor: FeedCursor;
  /** Resolves once every shard's catch-up has reached its head once; rejects when the handler throws. */
  readonly caughtUp: Promise<void>;
  close(): Promise<void>;
}

/** `AppendOptions` without what belongs to one shard's connection: use `shardFor(streamId)` for those. */
export type ShardedAppendOptions = Omit<AppendOptions, 'tx' | 'head'>;

export interface ShardedVerifyResult {
  ok: boolean;
  /** Events checked on every shard. */
  checked: number;
  /** Each shard's own result, by shard number. */
  shards: VerifyResult[];
}

/**
 * One event store over several shards. Each shard is a complete `EventStore` (its own
 * database or schema, its own sequencer, triggers and hash chains); a stream lives on
 * exactly one shard, chosen by `shardOf`. Stream operations are routed to that shard;
 * the merged feed reads all shards with a cursor of one position per shard.
 */
export interface ShardedEventStore {
  readonly shardCount: number;
  readonly shards: readonly EventStore[];
  /** The shard number of a stream (stable: `shardOf(streamId, shardCount)`). */
  shardOf(streamId: string): number;
  /**
   * The store a stream lives in. Transactions, `appendMany` and everything that must commit
   * with a stream's events (its projection row, its idempotency keys) go through it, so
   * they stay on that stream's shard.
   */
  shardFor(streamId: string): EventStore;
  append(streamId: string, events: NewEvent[], options?: ShardedAppendOptions): Promise<AppendResult>;
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  streamVersion(streamId: string): Promise<number>;
  /** A page of the merged feed after `after`. */
  readFeed(options?: ReadFeedOptions): Promise<FeedPage>;
  /** Catch-up then live over every shard; the handler is called one event at a time. */
  subscribe(options: FeedSubscribeOptions, handler: FeedHandler): FeedSubscription;
  /** Every shard's head position: subscribe after it for new events only. */
  head(): Promise<FeedCursor>;
  verify(): Promise<ShardedVerifyResult>;
  wake(): void;
  flush(): Promise<void>;
  /** Closes the merged subscriptions and every shard's store (not their databases). */
  close(): Promise<void>;
}
