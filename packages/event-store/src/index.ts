export * from './types.ts';
export { openDatabase } from './database.ts';
export { migrateToLatest, migrationsByName } from './migrate.ts';
export { eventStoreMigrations, type NamedMigration } from './schema/index.ts';
export { createEventStore, type EventStoreOptions, type EventStoreInternals } from './store.ts';
export { isAppendConflict } from './append-many.ts';
export { WriteSession, writeTransaction } from './postgres/write-session.ts';
export {
  EventStoreError,
  ConcurrencyError,
  IdempotencyConflictError,
  InvalidEventError,
  StoreClosedError,
  DatabaseOpenError,
  TreeIncompleteError,
} from './errors.ts';
export { DataDirLockedError, LOCK_FILE_NAME, type DataDirLockHolder } from './data-dir-lock.ts';
export { canonicalJson, sha256Hex, contentHash, chainHash, eventHash, type HashedContent } from './hash.ts';
export { LruMap } from './lru.ts';
export { UUID_RE, isUuid } from './uuid.ts';
export { headPositionIn, readStreamIn, scanByStreamPages, streamHeadsAfter, withScanByStreamCopy, type ScanRow } from './scan.ts';
export { copyOutRows, submitCopy, CopyTuple, COPY_BINARY_SIGNATURE, PG_EPOCH_SECONDS } from './copy-out.ts';
export { copyIn, CopyTupleWriter, binaryInstant, isCanonicalUuid, BINARY_HEADER as COPY_BINARY_HEADER, BINARY_TRAILER as COPY_BINARY_TRAILER } from './copy-in.ts';
export { createShardedEventStore, type ShardedEventStoreOptions } from './sharded/store.ts';
export { shardOf, jumpConsistentHash } from './sharded/route.ts';
export { encodeFeedCursor, decodeFeedCursor, advanceFeedCursor, InvalidCursorError, type FeedCursor } from './sharded/cursor.ts';
export type {
  ShardedEventStore,
  ShardedAppendOptions,
  ShardedVerifyResult,
  FeedEvent,
  FeedPage,
  ReadFeedOptions,
  FeedSubscribeOptions,
  FeedHandler,
  FeedSubscription,
} from './sharded/types.ts';
export {
  extendTree,
  extendTreeToHead,
  treeSize,
  readTreeNodes,
  withStoredNodes,
  storedTreeRoot,
  storedInclusionProof,
  storedConsistencyProof,
  leafHashOfRow,
  leafAt,
  verifyTree,
  type TreeVerifyResult,
  type ExtendTreeOptions,
  type ExtendTreeResult,
} from './tree.ts';
export {
  storeCheckpoint,
  latestCheckpoint,
  checkpointAt,
  firstCheckpointCovering,
  allCheckpoints,
  storeCosignature,
  cosignaturesAt,
  type StoredCheckpoint,
  type StoredCosignature,
} from './checkpoints.ts';
export {
  ConsumerGroups,
  ConsumerGroupExistsError,
  ConsumerGroupNotFoundError,
  type ConsumerGroupFilter,
  type ConsumerGroupSettings,
  type ConsumerGroupInfo,
  type ConsumerDelivery,
  type ParkedEvent,
  type FetchOptions,
  type NackOptions,
} from './consumers/consumer-groups.ts';
