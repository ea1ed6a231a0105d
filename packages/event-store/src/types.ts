/**
 * Public types of the event store. The store knows nothing about claims: streams are
 * identified by strings, events are typed JSON documents with metadata.
 *
 * THIS FILE IS THE AGREED CONTRACT between the packages: other packages code against it.
 * Additive changes are fine; renames/removals are not.
 */
import type { CompiledQuery, Kysely, Transaction } from 'kysely';

export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/**
 * `no_stream`: the stream must not exist yet; `stream_exists`: it must exist;
 * `any`: no check; a number: the stream's current version must equal it exactly
 * (version = number of events in the stream; the first event has version 1).
 */
export type ExpectedVersion = number | 'no_stream' | 'stream_exists' | 'any';

export interface EventMetadata {
  /** Who caused the event (user id, or a system name such as "seed"). */
  actor: string;
  correlationId?: string;
  causationId?: string;
  [key: string]: JsonValue | undefined;
}

export interface NewEvent<TType extends string = string, TData extends JsonObject = JsonObject> {
  /** Event id (UUID). Re-appending the same ids is idempotent. Generated when absent. */
  id?: string;
  type: TType;
  data: TData;
  metadata: EventMetadata;
}

export interface RecordedEvent<TType extends string = string, TData extends JsonObject = JsonObject> {
  id: string;
  streamId: string;
  /** 1-based, dense within the stream. */
  version: number;
  /**
   * Global position: a positive integer, strictly increasing in the order events become
   * visible. `null` only for events read by stream before the sequencer assigned one
   * (see the package README); readAll/subscribe only ever return positioned events.
   */
  position: number | null;
  type: TType;
  data: TData;
  metadata: EventMetadata;
  recordedAt: Date;
  /** Hex SHA-256 over the canonical content and `prevHash`. */
  hash: string;
  /** Hash of the previous event in the same stream; null for version 1. */
  prevHash: string | null;
}

export interface PositionedEvent<TType extends string = string, TData extends JsonObject = JsonObject>
  extends RecordedEvent<TType, TData> {
  position: number;
}

export interface AppendOptions {
  expectedVersion?: ExpectedVersion;
  /** Join the caller's transaction (Kysely transaction from `store.transaction`). */
  tx?: Transaction<any>;
  /** Resolve only once the events have global positions (default false). */
  awaitPosition?: boolean;
  /**
   * With `tx` only: the stream head the caller already holds (e.g. kept in its projection
   * row, which it has locked), so the store does not read it: one round trip fewer. Not
   * trusted: the INSERT is guarded by "an event (streamId, version, hash) exists" and by
   * `unique (stream_id, version)`, so a stale or wrong head writes nothing and throws
   * `ConcurrencyError` (a wrong hash leaves the transaction usable; a taken version aborts
   * it, as any lost race does). `{ version: 0, hash: null }` = the stream is new.
   */
  head?: StreamHead;
}

/** One stream's part of `appendMany`: its new events after the head the caller holds. */
export interface StreamAppend {
  streamId: string;
  events: NewEvent[];
  /**
   * The stream's head as the caller holds it (locked projection row, or `{version: 0, hash:
   * null}` for a new stream): the events are chained to it and numbered from it. Checked
   * like `AppendOptions.head`: a wrong or stale head writes nothing.
   */
  head: StreamHead;
}

/** See `EventStore.prepareAppendMany`. */
export interface PreparedAppend {
  query: CompiledQuery;
  /** The statement's name: its text is the same for every call (prepare it once per connection). */
  statementName: string;
  /** Rows the statement inserts when every head is real. */
  rows: number;
  results: AppendResult[];
  /** The heads checked (streams with events after version 0). */
  guards: { streams: string[]; versions: number[]; hashes: string[] };
}

/** A stream's last event: its version (0 = no events) and hash (null when version is 0). */
export interface StreamHead {
  version: number;
  hash: string | null;
}

export interface AppendResult {
  streamId: string;
  /** The stream's version after the append (pass it as the next expectedVersion). */
  nextExpectedVersion: number;
  events: RecordedEvent[];
  /** True when every event id had already been appended: nothing new was written. */
  replayed: boolean;
}

export interface ReadStreamOptions {
  /** Inclusive, 1-based. */
  fromVersion?: number;
  /** Inclusive. */
  toVersion?: number;
  /** Only events recorded at or before this instant. */
  until?: Date;
  limit?: number;
}

export interface ReadAllOptions {
  /** Exclusive position; 0 = from the beginning. */
  after?: number;
  limit?: number;
}

export interface ReadAllResult {
  events: PositionedEvent[];
  /** Position to pass as `after` for the next page (== after when nothing new). */
  next: number;
}

export interface SubscribeOptions {
  /** Exclusive position to resume after; 0 = from the beginning; 'end' = only new events. */
  after?: number | 'end';
  /** Page size of the catch-up reads. */
  batchSize?: number;
}

export type SubscriptionHandler = (event: PositionedEvent) => void | Promise<void>;

export interface Subscription {
  /** Last position delivered to the handler. */
  readonly position: number;
  /** Resolves when the catch-up from the store has reached the head once. */
  readonly caughtUp: Promise<void>;
  close(): Promise<void>;
}

export interface BrokenEvent {
  streamId: string;
  version: number;
  eventId: string;
  position: number | null;
  reason: 'hash_mismatch' | 'prev_hash_mismatch' | 'version_gap' | 'position_gap';
}

export interface VerifyResult {
  ok: boolean;
  /** Number of events checked. */
  checked: number;
  firstBroken?: BrokenEvent;
}

export interface VerifyOptions {
  streamId?: string;
  onProgress?: (checked: number) => void;
}

export interface EventStore {
  readonly db: Kysely<any>;
  append(streamId: string, events: NewEvent[], options?: AppendOptions): Promise<AppendResult>;
  /**
   * Appends to several streams in ONE statement inside the caller's transaction (group
   * commit: a writer batching many commands pays one round trip and one plan for all of
   * them). All or nothing: if any head is not the stream's real head, nothing is written
   * and `ConcurrencyError` names the first such stream (a version taken by a concurrent
   * transaction also aborts the caller's transaction, as in `append`). Streams must be
   * distinct; no event-id replay (ids given twice fail the statement).
   */
  appendMany(appends: StreamAppend[], options: { tx: Transaction<any> }): Promise<AppendResult[]>;
  /**
   * `appendMany`'s statement and its results, for a caller that sends it itself (e.g. in
   * one round trip with other statements of its transaction). The events are numbered and
   * chained now; nothing is written until `query` runs. The caller must check that it
   * inserted exactly `rows` rows: fewer means a head was not real and nothing was inserted
   * (the transaction is intact; do not commit what depends on these events); an error for
   * which `isAppendConflict` holds means a stream had moved on (the transaction is aborted).
   */
  prepareAppendMany(appends: StreamAppend[]): PreparedAppend;
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  readAll(options?: ReadAllOptions): Promise<ReadAllResult>;
  /** Async iteration over every positioned event after `after` (bounded memory). */
  streamAll(options?: ReadAllOptions & { batchSize?: number }): AsyncIterable<PositionedEvent>;
  subscribe(options: SubscribeOptions, handler: SubscriptionHandler): Subscription;
  /** Current version of a stream, 0 when it does not exist. */
  streamVersion(streamId: string, tx?: Transaction<any>): Promise<number>;
  /** Highest assigned position (0 when empty). */
  headPosition(): Promise<number>;
  verify(options?: VerifyOptions): Promise<VerifyResult>;
  /** Runs fn in a transaction; appends given `tx` join it. */
  transaction<T>(fn: (tx: Transaction<any>) => Promise<T>): Promise<T>;
  /**
   * Asks the sequencer to position newly committed events now. `transaction()` and
   * autocommitted appends do it themselves; call it after committing a transaction of
   * your own in which you appended (otherwise the poll picks the events up within ~100 ms).
   */
  wake(): void;
  /**
   * Resolves once every event committed before the call has a position, with the head a
   * sequencer pass left then: a position at or after every such event.
   */
  flush(): Promise<number>;
  /**
   * As `flush`, for the events of this store's own writes committed before the call (those
   * whose commit woke it: `transaction()`, appends, `wake()`), which may need one sequencer
   * pass less: the pass the commit woke is enough. The head it resolves with covers them.
   */
  flushCommitted(): Promise<number>;
  /** Stops the sequencer and listeners (does not close the database). */
  close(): Promise<void>;
}

/** Where the events live: PostgreSQL through `pg`, or embedded PGlite in a data folder. */
export interface DatabaseConfig {
  /** postgres://… — when absent, PGlite is used. */
  databaseUrl?: string;
  /** PGlite data folder (default `.data/pglite`); `memory://` for an in-memory database. */
  dataDir?: string;
  /** Pool size on PostgreSQL (default 10). */
  poolSize?: number;
  /** Per-statement timeout on PostgreSQL in ms (default 30000); behind a transaction pooler set per transaction. */
  statementTimeoutMs?: number;
  /** How long a request may wait for a pooled connection before failing (default 5000). */
  connectionTimeoutMs?: number;
  /** Receives errors that must not crash the process (dropped pooled/listen connections). Default: console.warn. */
  onError?: (error: Error) => void;
  /**
   * What `databaseUrl` leads to (PostgreSQL): `none` (default) — PostgreSQL itself: the
   * statement timeout is a startup parameter, statements are named; `transaction` — a
   * pooler in transaction mode (PgBouncer `pool_mode = transaction`): no startup
   * parameters, the statement timeout set per transaction, no named statements unless
   * `namedStatements` (see postgres/pooled-client.ts). LISTEN then needs `sessionUrl`.
   */
  pooler?: 'none' | 'transaction';
  /**
   * With `pooler: 'transaction'`: the pooler keeps named prepared statements across server
   * connections (PgBouncer ≥ 1.21 with `max_prepared_statements` > 0). Default false.
   */
  namedStatements?: boolean;
  /**
   * A URL on which a connection is a session of its own (PostgreSQL directly): the LISTEN
   * connection uses it. Default `databaseUrl`.
   */
  sessionUrl?: string;
}

export interface Database {
  readonly kind: 'postgres' | 'pglite';
  readonly db: Kysely<any>;
  /** Connections the database can serve at once: the pool's maximum (PGlite: 1). */
  readonly poolSize: number;
  /**
   * Subscribe to a notification channel. PostgreSQL: LISTEN on a dedicated connection
   * that is re-established when dropped (the handler is then called with `null` so the
   * listener re-reads the store). PGlite: an in-process bus.
   */
  listen(channel: string, handler: (payload: string | null) => void): Promise<() => Promise<void>>;
  notify(channel: string, payload: string): Promise<void>;
  /** Throws when the database cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
