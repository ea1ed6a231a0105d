/**
 * The store: composes the append paths (append.ts, append-many.ts), the reads (reads.ts),
 * the post-commit sequencer (sequencer.ts) and the subscriptions (subscription.ts) over one
 * Database, and owns what they share — the head cache, the transactions that appended, the
 * LISTEN wake-up, closing.
 */
import type { Kysely, Transaction } from 'kysely';
import { EventStoreError, InvalidEventError, StoreClosedError } from './errors.ts';
import { verifyEvents } from './verify.ts';
import { Sequencer, sleep, type PassResult } from './sequencer.ts';
import { pgPoolOf } from './database.ts';
import { LruMap } from './lru.ts';
import { checkExpected, checkHead, checkStream, prepareEvents, type Head } from './prepare.ts';
import { appendAutocommit, appendInTransaction, appendNothing, type AppendContext } from './append.ts';
import { appendManyIn, prepareAppendMany } from './append-many.ts';
import * as reads from './reads.ts';
import { statementRunner, type RunStatement } from './statements.ts';
import { q } from './row.ts';
import { LogSubscription, type SubscriptionSource } from './subscription.ts';
import type pg from 'pg';
import type {
  AppendOptions,
  AppendResult,
  Database,
  EventStore,
  NewEvent,
  PositionedEvent,
  PreparedAppend,
  ReadAllOptions,
  ReadAllResult,
  ReadStreamOptions,
  RecordedEvent,
  StreamAppend,
  SubscribeOptions,
  Subscription,
  SubscriptionHandler,
  VerifyOptions,
  VerifyResult,
} from './types.ts';

export interface EventStoreOptions {
  /** NOTIFY channel on which the sequencer announces a new head (default `events_head`). */
  channel?: string;
  /** Sequencer poll interval in ms (default 100 on PostgreSQL, 250 on PGlite). */
  pollIntervalMs?: number;
  /** Max events positioned per sequencer pass (default 5000). */
  sequencerBatchSize?: number;
  /** Minimum ms between sequencer passes (default 10 on PostgreSQL, 0 on PGlite); see README. */
  minPassIntervalMs?: number;
  /** Run the sequencer in this process (default true). */
  sequencer?: boolean;
  /** Subscriptions re-read at least this often even without a wake-up (default 1000 ms). */
  subscriptionPollMs?: number;
  /** Errors that are retried in the background (sequencer, subscriptions). Default console.warn. */
  onError?: (error: unknown) => void;
  /** Stream heads remembered to make appends one round trip (default 10000). */
  headCacheSize?: number;
}

/** Extra methods of the store returned by createEventStore (beyond the agreed interface). */
export interface EventStoreInternals {
  /** Run a sequencer pass now: call after committing a transaction you opened yourself that appended. */
  wake(): void;
  /** Resolves once every event committed before the call has a position, with a head that covers them. */
  flush(): Promise<number>;
}

/** A busy sequencer pass's retry when the holder's notification does not come (lost, or not listening). */
const BUSY_RETRY_LISTENING_MS = 50;
/** A busy sequencer pass's retry when this store does not listen for other passes. */
const BUSY_RETRY_MS = 5;

/** How long a subscription read may be shared after it started (same wake-up only). */
const SHARED_READ_MS = 50;
/** Subscription reads remembered for sharing (a few subscriptions at a few positions). */
const SHARED_READS_KEPT = 16;

interface SharedRead {
  wakeUps: number;
  startedAt: number;
  result: Promise<ReadAllResult>;
}

export function createEventStore(database: Database, options: EventStoreOptions = {}): EventStore & EventStoreInternals {
  return new PgEventStore(database, options);
}

class PgEventStore implements EventStore, EventStoreInternals {
  readonly db: Kysely<any>;
  readonly subscriptionPollMs: number;
  /** What the append paths share: the head cache, the statement runner, the dirty transactions. */
  private readonly appends: AppendContext;
  private readonly run: RunStatement;
  private readonly channel: string;
  private readonly sequencer: Sequencer | undefined;
  private readonly onError: (error: unknown) => void;
  private readonly subscriptions = new Set<LogSubscription>();
  /** Transactions in which an append ran: `transaction` wakes the sequencer after they commit. */
  private readonly dirtyTransactions = new WeakSet<Transaction<any>>();
  private unlisten: Promise<() => Promise<void>> | undefined;
  /** The LISTEN for other instances' passes is up (it starts with the first subscription). */
  private listening = false;
  private closed = false;
  /**
   * What the subscriptions read through: `readAll`, except that subscriptions of this store
   * reading the same page share one query (see `sharedRead`).
   */
  private readonly subscriptionSource: SubscriptionSource;
  /** Incremented by every wake-up of the subscriptions (a new head here or elsewhere). */
  private wakeUps = 0;
  /** Recent subscription reads by page (`after:limit`), newest last. */
  private readonly sharedReads = new Map<string, SharedRead>();
  /** PostgreSQL only: the pool behind `db`, for named statements on the hot paths. */
  private readonly pool: pg.Pool | undefined;

  constructor(
    readonly database: Database,
    options: EventStoreOptions,
  ) {
    this.db = database.db;
    this.pool = pgPoolOf(database);
    this.run = statementRunner(this.db, this.pool);
    this.channel = options.channel ?? 'events_head';
    this.appends = {
      db: this.db,
      kind: database.kind,
      heads: new LruMap<string, Head>(options.headCacheSize ?? 10_000),
      run: this.run,
      appendedIn: (tx) => this.dirtyTransactions.add(tx),
    };
    this.subscriptionPollMs = options.subscriptionPollMs ?? 1000;
    this.subscriptionSource = {
      readAll: (readOptions) => this.sharedRead(readOptions),
      headPosition: () => this.headPosition(),
      subscriptionPollMs: this.subscriptionPollMs,
    };
    this.onError =
      options.onError ??
      ((error) => console.warn(`[event-store] ${error instanceof Error ? error.message : String(error)}`));
    if (options.sequencer !== false) {
      this.sequencer = new Sequencer({
        runPass: (batch) => this.runPass(batch),
        onAdvance: (head) => this.advanced(head),
        onError: this.onError,
        batchSize: options.sequencerBatchSize ?? 5000,
        pollIntervalMs: options.pollIntervalMs ?? (database.kind === 'pglite' ? 250 : 100),
        // Listening, a pass that found the lock taken waits for the holder's notification
        // (`othersAdvanced`); the timer only covers a lost one. Not listening: a short timer.
        busyRetryMs: () => (this.listening ? BUSY_RETRY_LISTENING_MS : BUSY_RETRY_MS),
        minPassIntervalMs: options.minPassIntervalMs ?? (database.kind === 'pglite' ? 0 : 10),
      });
    }
  }

  // ---------------------------------------------------------------- sequencer

  private async runPass(batch: number): Promise<PassResult> {
    // PGlite has no LISTEN connection: the in-process bus is fed by advanced().
    const channel = this.database.kind === 'postgres' ? this.channel : null;
    const { rows } = await this.run<{ busy: boolean; sequenced: number; head: string | number | null }>(
      'es_sequence',
      'select busy, sequenced, head from events_sequence($1, $2)',
      [batch, channel],
    );
    const row = rows[0];
    if (!row) throw new EventStoreError('sequencer', 'events_sequence returned nothing');
    return { busy: row.busy, sequenced: Number(row.sequenced), head: Number(row.head ?? 0) };
  }

  private advanced(head: number): void {
    if (this.database.kind === 'pglite') {
      // Other stores on the same PGlite database hear it through the bus (so do we).
      this.database.notify(this.channel, String(head)).catch(this.onError);
    } else {
      this.wakeSubscriptions();
    }
  }

  private wakeSubscriptions(): void {
    this.wakeUps++;
    for (const subscription of this.subscriptions) subscription.wake();
  }

  wake(): void {
    this.sequencer?.wakeAfterCommit();
  }

  async flush(): Promise<number> {
    if (this.sequencer) return this.sequencer.flush();
    return this.positionedHeadWithoutSequencer();
  }

  async flushCommitted(): Promise<number> {
    if (this.sequencer) return this.sequencer.flushCommitted();
    return this.positionedHeadWithoutSequencer();
  }

  /** No local sequencer: wait until none of the rows visible now is unpositioned. */
  private async positionedHeadWithoutSequencer(): Promise<number> {
    while ((await reads.unpositionedCount(this.db)) > 0) await sleep(20);
    return this.headPosition();
  }

  // ---------------------------------------------------------------- append

  async append(streamId: string, events: NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    if (this.closed) throw new StoreClosedError();
    checkStream(streamId, events);
    const expected = options.expectedVersion ?? 'any';
    checkExpected(expected);
    if (options.tx && options.awaitPosition) {
      throw new InvalidEventError('awaitPosition cannot be used with tx: positions are assigned after the commit');
    }
    if (options.head !== undefined) {
      if (!options.tx) throw new InvalidEventError('head can only be given with tx');
      checkHead(options.head);
    }
    const prepared = prepareEvents(events);
    if (prepared.length === 0) return appendNothing(options.tx ?? this.db, streamId, expected);
    const suppliedIds = events.some((event) => event.id !== undefined);
    const result = options.tx
      ? await appendInTransaction(this.appends, options.tx, streamId, prepared, expected, suppliedIds, options.head)
      : await appendAutocommit(this.appends, streamId, prepared, expected, suppliedIds);
    if (result.replayed || options.tx) return result;
    if (options.awaitPosition) {
      await this.flush();
      const { rows } = await this.db.executeQuery<{ id: string; position: string | number | null }>(
        q('select id, position from events where id = any($1::uuid[])', [result.events.map((event) => event.id)]),
      );
      const positions = new Map(rows.map((row) => [row.id, row.position === null ? null : Number(row.position)]));
      for (const event of result.events) event.position = positions.get(event.id) ?? null;
    } else {
      this.wake();
    }
    return result;
  }

  prepareAppendMany(appends: StreamAppend[]): PreparedAppend {
    if (this.closed) throw new StoreClosedError();
    return prepareAppendMany(appends);
  }

  async appendMany(appends: StreamAppend[], options: { tx: Transaction<any> }): Promise<AppendResult[]> {
    const tx = options?.tx;
    if (!tx) throw new InvalidEventError('appendMany joins a transaction: tx is required');
    return appendManyIn(this.appends, tx, appends, this.prepareAppendMany(appends));
  }

  async transaction<T>(fn: (tx: Transaction<any>) => Promise<T>): Promise<T> {
    let appended = false;
    const result = await this.db.transaction().execute(async (tx) => {
      const value = await fn(tx);
      appended = this.dirtyTransactions.has(tx);
      return value;
    });
    if (appended) this.wake();
    return result;
  }

  // ---------------------------------------------------------------- reads

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const events = await reads.readStream(this.db, streamId, options);
    const last = events[events.length - 1];
    // A whole-stream read ends at the head: remember it so the next append is one round trip.
    if (last && reads.readsToHead(options)) this.appends.heads.set(streamId, { version: last.version, hash: last.hash });
    return events;
  }

  readAll(options: ReadAllOptions = {}): Promise<ReadAllResult> {
    return reads.readAll(this.db, options);
  }

  streamAll(options: ReadAllOptions & { batchSize?: number } = {}): AsyncIterable<PositionedEvent> {
    return reads.streamAll(this.db, options);
  }

  streamVersion(streamId: string, tx?: Transaction<any>): Promise<number> {
    return reads.streamVersion(tx ?? this.db, streamId);
  }

  headPosition(): Promise<number> {
    return reads.headPosition(this.db);
  }

  // ---------------------------------------------------------------- subscriptions

  subscribe(options: SubscribeOptions, handler: SubscriptionHandler): Subscription {
    if (this.closed) throw new StoreClosedError();
    const subscription = new LogSubscription(this.subscriptionSource, options, handler, this.onError, () => {
      this.subscriptions.delete(subscription);
    });
    this.subscriptions.add(subscription);
    this.ensureListening();
    subscription.start();
    return subscription;
  }

  /**
   * A subscription's page read. Every subscription of this store is woken by the same
   * wake-up and, following the head, asks for the same page (`after` its last position):
   * an instance that follows the store for its caches and for its live fan-out then reads
   * each new page once, not once per subscription. A read is shared only if it started
   * after the latest wake-up (so it sees everything that wake-up announced) and less than
   * `SHARED_READ_MS` ago (a poll without wake-up still reads afresh). Subscribers get the
   * same event objects: handlers must not modify them.
   */
  private sharedRead(options: ReadAllOptions): Promise<ReadAllResult> {
    const key = `${options.after ?? 0}:${options.limit ?? ''}`;
    const now = performance.now();
    const shared = this.sharedReads.get(key);
    if (shared !== undefined && shared.wakeUps === this.wakeUps && now - shared.startedAt < SHARED_READ_MS) return shared.result;
    const result = this.readAll(options);
    const entry: SharedRead = { wakeUps: this.wakeUps, startedAt: now, result };
    this.sharedReads.delete(key);
    this.sharedReads.set(key, entry);
    if (this.sharedReads.size > SHARED_READS_KEPT) {
      const oldest = this.sharedReads.keys().next().value;
      if (oldest !== undefined) this.sharedReads.delete(oldest);
    }
    // A failed read is not handed to the next subscriber: it retries with a read of its own.
    result.catch(() => {
      if (this.sharedReads.get(key) === entry) this.sharedReads.delete(key);
    });
    return result;
  }

  private ensureListening(): void {
    this.unlisten ??= this.database.listen(this.channel, () => {
      // Never trusted for data: any notification (or null after a reconnect) means "re-read".
      this.wakeSubscriptions();
      this.sequencer?.othersAdvanced();
    });
    this.unlisten.then(
      () => {
        this.listening = !this.closed;
        // A subscription may have caught up before LISTEN was active: a notification sent
        // in between was never heard. One re-read now covers it (else only the poll would).
        if (this.listening) this.wakeSubscriptions();
      },
      (error: unknown) => {
        this.listening = false;
        this.onError(error);
      },
    );
  }

  // ---------------------------------------------------------------- verify

  verify(options: VerifyOptions = {}): Promise<VerifyResult> {
    return verifyEvents({ db: this.db, pool: this.pool }, options);
  }

  // ---------------------------------------------------------------- lifecycle

  get isClosed(): boolean {
    return this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((subscription) => subscription.close()));
    await this.sequencer?.close();
    const unlisten = await this.unlisten?.catch(() => undefined);
    await unlisten?.().catch(() => undefined);
  }
}
