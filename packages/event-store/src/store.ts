import { randomUUID } from 'node:crypto';
import { CompiledQuery, type Kysely, type Transaction } from 'kysely';
import {
  ConcurrencyError,
  EventStoreError,
  IdempotencyConflictError,
  InvalidEventError,
  StoreClosedError,
} from './errors.ts';
import { canonicalJson, contentDigest, chainDigest } from './hash.ts';
import { verifyEvents } from './verify.ts';
import { isUuid } from './uuid.ts';
import { EVENT_COLUMNS as COLUMNS, q, type EventRow as Row } from './row.ts';
import { Sequencer, sleep, type PassResult } from './sequencer.ts';
import { pgPoolOf } from './database.ts';
import type pg from 'pg';
import type {
  AppendOptions,
  AppendResult,
  Database,
  EventMetadata,
  EventStore,
  ExpectedVersion,
  JsonObject,
  NewEvent,
  PositionedEvent,
  ReadAllOptions,
  ReadAllResult,
  ReadStreamOptions,
  RecordedEvent,
  PreparedAppend,
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
  /** Resolves once every event committed before the call has a position. */
  flush(): Promise<void>;
}

const MAX_PARAMS_EVENTS = 5000;

/**
 * A NUL character in JSON text: the escape `\u0000` after an even number of backslashes.
 * After an odd number the backslash itself is escaped and the text holds the six
 * characters `\u0000` (as in a regex), which PostgreSQL stores like any other text.
 */
const JSON_NUL_ESCAPE = /(?<!\\)(?:\\\\)*\\u0000/;

function holdsNul(json: string): boolean {
  return json.includes('\\u0000') && JSON_NUL_ESCAPE.test(json);
}

/** Appends of up to this many events use a named (prepared) statement per connection; see README. */
const MAX_PREPARED_EVENTS = 100;

interface Head {
  version: number;
  hash: string | null;
}

/**
 * The statement of `appendMany`: one row per event from parallel arrays, in array order, if
 * every guard holds. Data and metadata travel as one JSON array each, joined from the
 * canonical texts already made for hashing (no per-element array escaping). A guard probes
 * the (stream_id, version) index once per head: LATERAL … LIMIT 1 keeps the planner from a
 * hash semi-join over the whole event table.
 */
const APPEND_MANY_SQL = `insert into events (id, stream_id, version, type, data, metadata, recorded_at, hash, prev_hash)
  select t.id, t.stream_id, t.version, t.type, t.data, t.metadata, $9::timestamptz, t.hash, t.prev_hash
    from rows from (unnest($1::uuid[]), unnest($2::text[]), unnest($3::int[]), unnest($4::text[]),
                    jsonb_array_elements($5::jsonb), jsonb_array_elements($6::jsonb), unnest($7::text[]), unnest($8::text[]))
         with ordinality as t(id, stream_id, version, type, data, metadata, hash, prev_hash, ord)
   where (select count(*) from unnest($10::text[], $11::int[], $12::text[]) as h(stream_id, version, hash)
           cross join lateral (select 1 from events e
                                where e.stream_id = h.stream_id and e.version = h.version and e.hash = h.hash limit 1) found)
         = coalesce(cardinality($10::text[]), 0)
   order by t.ord`;

interface ChainedRow {
  event: Prepared;
  version: number;
  hash: string;
  prevHash: string | null;
}

interface Prepared {
  id: string;
  type: string;
  data: JsonObject;
  metadata: EventMetadata;
  dataJson: string;
  metadataJson: string;
}

export function toRecorded(row: Row): RecordedEvent {
  return {
    id: row.id,
    streamId: row.stream_id,
    version: row.version,
    position: row.position === null ? null : Number(row.position),
    type: row.type,
    data: row.data,
    metadata: row.metadata,
    recordedAt: row.recorded_at instanceof Date ? row.recorded_at : new Date(row.recorded_at),
    hash: row.hash,
    prevHash: row.prev_hash,
  };
}

function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '23505';
}

/**
 * Whether a statement from `prepareAppendMany`, run by the caller, failed because a stream
 * had moved on past the head it was given (its next version was taken: the transaction is
 * aborted, nothing of it was written).
 */
export function isAppendConflict(error: unknown): boolean {
  return isUniqueViolation(error);
}


export function createEventStore(database: Database, options: EventStoreOptions = {}): EventStore & EventStoreInternals {
  return new PgEventStore(database, options);
}

class PgEventStore implements EventStore, EventStoreInternals {
  readonly db: Kysely<any>;
  private readonly channel: string;
  private readonly sequencer: Sequencer | undefined;
  private readonly heads = new Map<string, Head>();
  private readonly headCacheSize: number;
  private readonly onError: (error: unknown) => void;
  private readonly subscriptions = new Set<SubscriptionImpl>();
  private unlisten: Promise<() => Promise<void>> | undefined;
  private closed = false;
  readonly subscriptionPollMs: number;
  /** PostgreSQL only: the pool behind `db`, for named statements on the hot paths. */
  private readonly pool: pg.Pool | undefined;

  constructor(
    readonly database: Database,
    options: EventStoreOptions,
  ) {
    this.db = database.db;
    this.pool = pgPoolOf(database);
    this.channel = options.channel ?? 'events_head';
    this.headCacheSize = options.headCacheSize ?? 10_000;
    this.subscriptionPollMs = options.subscriptionPollMs ?? 1000;
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
        busyRetryMs: 5,
        minPassIntervalMs: options.minPassIntervalMs ?? (database.kind === 'pglite' ? 0 : 10),
      });
    }
  }

  // ---------------------------------------------------------------- sequencer

  private async runPass(batch: number): Promise<PassResult> {
    // PGlite has no LISTEN connection: the in-process bus is fed by advanced().
    const channel = this.database.kind === 'postgres' ? this.channel : null;
    const { rows } = await this.exec<{ busy: boolean; sequenced: number; head: string | number | null }>(
      'es_sequence',
      'select busy, sequenced, head from events_sequence($1, $2)',
      [batch, channel],
    );
    const row = rows[0];
    if (!row) throw new EventStoreError('sequencer', 'events_sequence returned nothing');
    return { busy: row.busy, sequenced: Number(row.sequenced), head: Number(row.head ?? 0) };
  }

  /**
   * Autocommit statement outside Kysely: on PostgreSQL a named statement straight on the
   * pool (parsed and planned once per connection, no query compilation); PGlite via Kysely.
   */
  private async exec<R>(name: string | undefined, text: string, params: unknown[]): Promise<{ rows: R[]; rowCount: number }> {
    if (this.pool) {
      const result = await this.pool.query(name ? { name, text, values: params } : { text, values: params });
      return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
    }
    const result = await this.db.executeQuery<R>(q(text, params));
    return { rows: result.rows, rowCount: Number(result.numAffectedRows ?? 0n) };
  }

  private advanced(head: number): void {
    if (this.database.kind === 'pglite') {
      // Other stores on the same PGlite database hear it through the bus (so do we).
      this.database.notify(this.channel, String(head)).catch(this.onError);
    } else {
      for (const subscription of this.subscriptions) subscription.wake();
    }
  }

  wake(): void {
    this.sequencer?.wake();
  }

  async flush(): Promise<void> {
    if (this.sequencer) {
      await this.sequencer.flush();
      return;
    }
    // No local sequencer: wait until none of the rows visible now is unpositioned.
    for (;;) {
      const { rows } = await this.db.executeQuery<{ n: number }>(
        q('select count(*)::int as n from events where position is null'),
      );
      if ((rows[0]?.n ?? 0) === 0) return;
      await sleep(20);
    }
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
    if (prepared.length === 0) return this.appendNothing(streamId, expected, options.tx);
    const suppliedIds = events.some((event) => event.id !== undefined);
    const result = options.tx
      ? await this.appendInTransaction(options.tx, streamId, prepared, expected, suppliedIds, options.head)
      : await this.appendAutocommit(streamId, prepared, expected, suppliedIds);
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

  private async appendNothing(streamId: string, expected: ExpectedVersion, tx?: Transaction<any>): Promise<AppendResult> {
    const version = await this.streamVersion(streamId, tx);
    if (!matches(expected, version)) throw new ConcurrencyError(streamId, expected, version);
    return { streamId, nextExpectedVersion: version, events: [], replayed: false };
  }

  /** One round trip when the stream head is known (cache, or `no_stream`). */
  private async appendAutocommit(
    streamId: string,
    prepared: Prepared[],
    expected: ExpectedVersion,
    suppliedIds: boolean,
  ): Promise<AppendResult> {
    let refresh = false;
    for (let attempt = 0; ; attempt++) {
      const head = await this.headFor(this.db, streamId, expected, refresh);
      if (!matches(expected, head.version)) {
        if (suppliedIds) {
          const replay = await this.replay(this.db, streamId, prepared);
          if (replay) return replay;
        }
        throw new ConcurrencyError(streamId, expected, head.version);
      }
      const recordedAt = new Date();
      const { events, query, name } = this.buildInsert(streamId, prepared, head, recordedAt);
      try {
        const result = await this.exec(name, query.sql, query.parameters as unknown[]);
        if (result.rowCount === prepared.length) {
          const last = events[events.length - 1]!;
          this.remember(streamId, { version: last.version, hash: last.hash });
          return { streamId, nextExpectedVersion: last.version, events, replayed: false };
        }
        // The cached head was not in the table (other database, rolled back tx): re-read.
        this.heads.delete(streamId);
        refresh = true;
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        this.heads.delete(streamId);
        refresh = true;
        if (suppliedIds) {
          const replay = await this.replay(this.db, streamId, prepared);
          if (replay) return replay;
        }
        // An exact expectation lost the race: report it. 'any'/'stream_exists' retry on the new head.
        if (typeof expected === 'number' || expected === 'no_stream' || attempt >= 20) {
          const actual = await this.streamVersion(streamId);
          throw new ConcurrencyError(streamId, expected, actual, { cause: error });
        }
      }
    }
  }

  /**
   * Joins the caller's transaction: reads ids and head inside it so an expectation
   * failure does not abort the transaction. Positions are assigned after the commit
   * (store.transaction wakes the sequencer; otherwise call wake()).
   */
  private async appendInTransaction(
    tx: Transaction<any>,
    streamId: string,
    prepared: Prepared[],
    expected: ExpectedVersion,
    suppliedIds: boolean,
    given: Head | undefined,
  ): Promise<AppendResult> {
    if (suppliedIds) {
      const replay = await this.replay(tx, streamId, prepared);
      if (replay) return replay;
    }
    // A head from the caller saves the read; if it does not meet the expectation, the real
    // head decides (so a ConcurrencyError always reports the stream's actual version).
    let head = given ?? (await this.readHead(tx, streamId));
    if (given && !matches(expected, head.version)) head = await this.readHead(tx, streamId);
    if (!matches(expected, head.version)) throw new ConcurrencyError(streamId, expected, head.version);
    const { events, query } = this.buildInsert(streamId, prepared, head, new Date());
    try {
      const result = await tx.executeQuery(query);
      if (Number(result.numAffectedRows ?? 0n) !== prepared.length) {
        // The guard found no event (streamId, version, hash): the given head is not real.
        throw new ConcurrencyError(streamId, expected, await this.streamVersion(streamId, tx));
      }
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      // Another transaction committed this version first; ours is now aborted.
      const actual = this.database.kind === 'postgres' ? await this.streamVersion(streamId).catch(() => head.version + 1) : head.version + 1;
      throw new ConcurrencyError(streamId, expected, actual, { cause: error });
    }
    this.dirtyTransactions.add(tx);
    const last = events[events.length - 1]!;
    return { streamId, nextExpectedVersion: last.version, events, replayed: false };
  }

  private readonly dirtyTransactions = new WeakSet<Transaction<any>>();

  /** The ConcurrencyError of a failed `appendMany`: the first stream whose head was not its real one. */
  private async staleHeadError(db: Kysely<any> | null, appends: StreamAppend[], streams: string[], cause?: unknown): Promise<ConcurrencyError> {
    const withEvents = appends.filter((a) => a.events.length > 0);
    if (withEvents.length === 0) return new ConcurrencyError(streams[0] ?? '', 'any', 0, cause === undefined ? undefined : { cause });
    let actual = new Map<string, number>();
    if (db) {
      const { rows } = await db.executeQuery<{ stream_id: string; version: number }>(
        q('select stream_id, max(version)::int as version from events where stream_id = any($1::text[]) group by stream_id', [[...new Set(streams)]]),
      );
      actual = new Map(rows.map((row) => [row.stream_id, Number(row.version)]));
    }
    // Without a reader, the unique violation's detail names the stream and the taken version.
    const taken = /\(stream_id, version\)=\((.+), (\d+)\)/.exec(String((cause as { detail?: unknown } | undefined)?.detail ?? ''));
    const stale =
      (db ? withEvents.find((a) => (actual.get(a.streamId) ?? 0) !== a.head.version) : withEvents.find((a) => a.streamId === taken?.[1])) ??
      withEvents[0]!;
    const expected = stale.head.version === 0 ? 'no_stream' : stale.head.version;
    const current = actual.get(stale.streamId) ?? (db ? 0 : taken ? Number(taken[2]) : stale.head.version + 1);
    return new ConcurrencyError(stale.streamId, expected, current, cause === undefined ? undefined : { cause });
  }

  prepareAppendMany(appends: StreamAppend[]): PreparedAppend {
    if (this.closed) throw new StoreClosedError();
    if (!Array.isArray(appends)) throw new InvalidEventError('appends must be an array');
    const seen = new Set<string>();
    const recordedAtDate = new Date();
    const recordedAt = recordedAtDate.toISOString();
    const ids: string[] = [];
    const streams: string[] = [];
    const versions: number[] = [];
    const types: string[] = [];
    const data: string[] = [];
    const metadata: string[] = [];
    const hashes: string[] = [];
    const prevHashes: (string | null)[] = [];
    const guards: { streams: string[]; versions: number[]; hashes: string[] } = { streams: [], versions: [], hashes: [] };
    const results: AppendResult[] = [];
    let total = 0;
    for (const append of appends) {
      const { streamId, head } = append;
      checkStream(streamId, append.events);
      if (seen.has(streamId)) throw new InvalidEventError(`stream ${streamId} given twice to appendMany`);
      seen.add(streamId);
      checkHead(head);
      const prepared = prepareEvents(append.events);
      const { events, rows } = this.chain(streamId, prepared, head, recordedAtDate, recordedAt);
      for (const { event, version, hash, prevHash } of rows) {
        ids.push(event.id);
        streams.push(streamId);
        versions.push(version);
        types.push(event.type);
        data.push(event.dataJson);
        metadata.push(event.metadataJson);
        hashes.push(hash);
        prevHashes.push(prevHash);
      }
      total += rows.length;
      if (rows.length > 0 && head.version > 0) {
        guards.streams.push(streamId);
        guards.versions.push(head.version);
        guards.hashes.push(head.hash!);
      }
      results.push({ streamId, nextExpectedVersion: head.version + rows.length, events, replayed: false });
    }
    if (total > MAX_PARAMS_EVENTS) throw new InvalidEventError(`at most ${MAX_PARAMS_EVENTS} events per append`);
    const params = [ids, streams, versions, types, `[${data.join(',')}]`, `[${metadata.join(',')}]`, hashes, prevHashes, recordedAt, guards.streams, guards.versions, guards.hashes];
    return { query: q(APPEND_MANY_SQL, params), statementName: 'es_append_many', rows: total, results, guards };
  }

  async appendMany(appends: StreamAppend[], options: { tx: Transaction<any> }): Promise<AppendResult[]> {
    const tx = options?.tx;
    if (!tx) throw new InvalidEventError('appendMany joins a transaction: tx is required');
    const prepared = this.prepareAppendMany(appends);
    const { results, rows: total, guards } = prepared;
    if (total === 0) return results;
    const streams = results.flatMap((r) => r.events.map(() => r.streamId));
    // One statement text whatever the batch: prepared once per connection on PostgreSQL.
    const compiled =
      this.database.kind === 'postgres' ? { ...prepared.query, sql: { name: prepared.statementName, text: APPEND_MANY_SQL } as unknown as string } : prepared.query;
    let inserted: number;
    try {
      const result = await tx.executeQuery(compiled);
      inserted = Number(result.numAffectedRows ?? 0n);
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      // A concurrent transaction committed one of these versions first; ours is aborted, so
      // the actual versions are read outside it (PGlite has no other connection: a guess).
      const reader = this.database.kind === 'postgres' ? this.db : null;
      throw await this.staleHeadError(reader, appends, streams, error);
    }
    if (inserted !== total) {
      // A guard failed (the transaction is intact): the first head that is not an event.
      const { rows } = await tx.executeQuery<{ stream_id: string }>(
        q(
          `select h.stream_id from unnest($1::text[], $2::int[], $3::text[]) with ordinality as h(stream_id, version, hash, ord)
            where not exists (select 1 from events e where e.stream_id = h.stream_id and e.version = h.version and e.hash = h.hash)
            order by h.ord limit 1`,
          [guards.streams, guards.versions, guards.hashes],
        ),
      );
      throw await this.staleHeadError(tx, appends.filter((a) => a.streamId === rows[0]?.stream_id), streams);
    }
    this.dirtyTransactions.add(tx);
    return results;
  }

  /** Numbers and hashes `prepared` after `head`: the rows to insert, as recorded events. */
  private chain(streamId: string, prepared: Prepared[], head: Head, recordedAtDate: Date, recordedAt: string): { events: RecordedEvent[]; rows: ChainedRow[] } {
    const events: RecordedEvent[] = [];
    const rows: ChainedRow[] = [];
    let prevHash = head.hash;
    let prevDigest: Buffer | null = head.hash === null ? null : Buffer.from(head.hash, 'hex');
    let version = head.version;
    for (const event of prepared) {
      version++;
      const digest = chainDigest(
        prevDigest,
        contentDigest({
          id: event.id,
          streamId,
          version,
          type: event.type,
          data: event.dataJson,
          metadata: event.metadataJson,
          recordedAt,
        }),
      );
      const hash = digest.toString('hex');
      rows.push({ event, version, hash, prevHash });
      events.push({
        id: event.id,
        streamId,
        version,
        position: null,
        type: event.type,
        data: event.data,
        metadata: event.metadata,
        recordedAt: recordedAtDate,
        hash,
        prevHash,
      });
      prevHash = hash;
      prevDigest = digest;
    }
    return { events, rows };
  }

  private buildInsert(
    streamId: string,
    prepared: Prepared[],
    head: Head,
    recordedAtDate: Date,
  ): { events: RecordedEvent[]; query: CompiledQuery; name: string | undefined } {
    const recordedAt = recordedAtDate.toISOString();
    const params: unknown[] = [streamId, recordedAt];
    const values: string[] = [];
    const { events, rows } = this.chain(streamId, prepared, head, recordedAtDate, recordedAt);
    for (const { event, version, hash, prevHash } of rows) {
      const n = params.length;
      params.push(event.id, version, event.type, event.dataJson, event.metadataJson, hash, prevHash);
      values.push(
        `($${n + 1}::uuid,$1::text,$${n + 2}::int,$${n + 3}::text,$${n + 4}::jsonb,$${n + 5}::jsonb,$2::timestamptz,$${n + 6}::text,$${n + 7}::text)`,
      );
    }
    const insert = 'insert into events (id, stream_id, version, type, data, metadata, recorded_at, hash, prev_hash) ';
    let text: string;
    if (head.version === 0) {
      text = insert + 'values ' + values.join(',');
    } else {
      // The guard proves the head we chained to is real; the unique (stream_id, version)
      // index proves nobody appended after it.
      params.push(head.version, head.hash);
      const v = params.length - 1;
      text =
        insert +
        'select * from (values ' +
        values.join(',') +
        `) as t where exists (select 1 from events where stream_id = $1 and version = $${v}::int and hash = $${v + 1}::text)`;
    }
    // The text depends only on the event count and the guard: one prepared statement each.
    const name = prepared.length <= MAX_PREPARED_EVENTS ? `es_append_${prepared.length}_${head.version === 0 ? 'new' : 'guarded'}` : undefined;
    return { events, query: q(text, params), name };
  }

  private async headFor(db: Kysely<any>, streamId: string, expected: ExpectedVersion, refresh: boolean): Promise<Head> {
    if (expected === 'no_stream' && !refresh) return { version: 0, hash: null };
    if (!refresh) {
      const cached = this.heads.get(streamId);
      if (cached && (typeof expected !== 'number' || cached.version === expected)) return cached;
    }
    const head = await this.readHead(db, streamId);
    if (head.version > 0) this.remember(streamId, head);
    return head;
  }

  private async readHead(db: Kysely<any>, streamId: string): Promise<Head> {
    const { rows } = await db.executeQuery<{ version: number; hash: string }>(
      q('select version, hash from events where stream_id = $1 order by version desc limit 1', [streamId]),
    );
    const row = rows[0];
    return row ? { version: row.version, hash: row.hash } : { version: 0, hash: null };
  }

  private remember(streamId: string, head: Head): void {
    this.heads.delete(streamId);
    this.heads.set(streamId, head);
    if (this.heads.size > this.headCacheSize) {
      const oldest = this.heads.keys().next();
      if (!oldest.done) this.heads.delete(oldest.value);
    }
  }

  /** The original result when every id exists as this exact batch; null when none exists. */
  private async replay(db: Kysely<any>, streamId: string, prepared: Prepared[]): Promise<AppendResult | null> {
    const ids = prepared.map((event) => event.id);
    const { rows } = await db.executeQuery<Row>(
      q(`select ${COLUMNS} from events where id = any($1::uuid[]) order by stream_id, version`, [ids]),
    );
    if (rows.length === 0) return null;
    const found = new Map(rows.map((row) => [row.id, row]));
    for (const event of prepared) {
      const row = found.get(event.id);
      if (!row) throw new IdempotencyConflictError(streamId, ids, `only ${rows.length} of ${ids.length} ids exist`);
      if (row.stream_id !== streamId) throw new IdempotencyConflictError(streamId, ids, `${event.id} belongs to ${row.stream_id}`);
      if (row.type !== event.type || canonicalJson(row.data) !== event.dataJson) {
        throw new IdempotencyConflictError(streamId, ids, `${event.id} was appended with other content`);
      }
    }
    const events = prepared.map((event) => toRecorded(found.get(event.id)!));
    const nextExpectedVersion = Math.max(...events.map((event) => event.version));
    return { streamId, nextExpectedVersion, events, replayed: true };
  }

  // ---------------------------------------------------------------- reads

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const params: unknown[] = [streamId];
    let where = 'stream_id = $1';
    if (options.fromVersion !== undefined) {
      params.push(options.fromVersion);
      where += ` and version >= $${params.length}`;
    }
    if (options.toVersion !== undefined) {
      params.push(options.toVersion);
      where += ` and version <= $${params.length}`;
    }
    if (options.until !== undefined) {
      params.push(options.until.toISOString());
      where += ` and recorded_at <= $${params.length}::timestamptz`;
    }
    let limit = '';
    if (options.limit !== undefined) {
      params.push(options.limit);
      limit = ` limit $${params.length}`;
    }
    const { rows } = await this.db.executeQuery<Row>(
      q(`select ${COLUMNS} from events where ${where} order by version${limit}`, params),
    );
    const events = rows.map(toRecorded);
    const last = events[events.length - 1];
    // A whole-stream read ends at the head: remember it so the next append is one round trip.
    if (last && options.toVersion === undefined && options.until === undefined && options.limit === undefined) {
      this.remember(streamId, { version: last.version, hash: last.hash });
    }
    return events;
  }

  async readAll(options: ReadAllOptions = {}): Promise<ReadAllResult> {
    const after = options.after ?? 0;
    const limit = Math.max(1, Math.min(options.limit ?? 1000, 10_000));
    const { rows } = await this.db.executeQuery<Row>(
      q(`select ${COLUMNS} from events where position > $1 order by position limit $2`, [after, limit]),
    );
    const events = rows.map(toRecorded) as PositionedEvent[];
    const last = events[events.length - 1];
    return { events, next: last ? last.position : after };
  }

  async *streamAll(options: ReadAllOptions & { batchSize?: number } = {}): AsyncIterable<PositionedEvent> {
    let after = options.after ?? 0;
    const batch = options.batchSize ?? 1000;
    let remaining = options.limit ?? Number.POSITIVE_INFINITY;
    while (remaining > 0) {
      const page = await this.readAll({ after, limit: Math.min(batch, remaining) });
      for (const event of page.events) yield event;
      remaining -= page.events.length;
      after = page.next;
      if (page.events.length < Math.min(batch, remaining + page.events.length)) return;
    }
  }

  async streamVersion(streamId: string, tx?: Transaction<any>): Promise<number> {
    const { rows } = await (tx ?? this.db).executeQuery<{ version: number | null }>(
      q('select max(version) as version from events where stream_id = $1', [streamId]),
    );
    return rows[0]?.version ?? 0;
  }

  async headPosition(): Promise<number> {
    const { rows } = await this.db.executeQuery<{ head: string | number | null }>(
      q('select max(position) as head from events where position is not null'),
    );
    return Number(rows[0]?.head ?? 0);
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

  // ---------------------------------------------------------------- subscriptions

  subscribe(options: SubscribeOptions, handler: SubscriptionHandler): Subscription {
    if (this.closed) throw new StoreClosedError();
    const subscription = new SubscriptionImpl(this, options, handler, this.onError, () => {
      this.subscriptions.delete(subscription);
    });
    this.subscriptions.add(subscription);
    this.ensureListening();
    subscription.start();
    return subscription;
  }

  private ensureListening(): void {
    this.unlisten ??= this.database.listen(this.channel, () => {
      // Never trusted for data: any notification (or null after a reconnect) means "re-read".
      for (const subscription of this.subscriptions) subscription.wake();
    });
    this.unlisten.catch(this.onError);
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

/**
 * Catch-up by pages of readAll, then wait for a wake-up (sequencer, notification,
 * reconnect or poll) and read again from the last delivered position. Positions become
 * visible only as a growing prefix, so "position > last delivered" never skips.
 */
class SubscriptionImpl implements Subscription {
  position = 0;
  readonly caughtUp: Promise<void>;
  private resolveCaughtUp!: () => void;
  private rejectCaughtUp!: (error: unknown) => void;
  private closed = false;
  private pending = false;
  private wakeUp: (() => void) | undefined;
  private loopDone: Promise<void> = Promise.resolve();
  private readonly batchSize: number;

  constructor(
    private readonly store: PgEventStore,
    private readonly options: SubscribeOptions,
    private readonly handler: SubscriptionHandler,
    private readonly onError: (error: unknown) => void,
    private readonly onClose: () => void,
  ) {
    this.batchSize = Math.max(1, Math.min(options.batchSize ?? 1000, 10_000));
    this.caughtUp = new Promise((resolve, reject) => {
      this.resolveCaughtUp = resolve;
      this.rejectCaughtUp = reject;
    });
    this.caughtUp.catch(() => undefined);
    if (typeof options.after === 'number') this.position = options.after;
  }

  start(): void {
    this.loopDone = this.loop();
  }

  wake(): void {
    this.pending = true;
    const wakeUp = this.wakeUp;
    this.wakeUp = undefined;
    wakeUp?.();
  }

  private async loop(): Promise<void> {
    let failures = 0;
    if (this.options.after === 'end') {
      for (;;) {
        if (this.closed) return;
        try {
          this.position = await this.store.headPosition();
          break;
        } catch (error) {
          this.onError(error);
          await this.pause(Math.min(100 * 2 ** ++failures, 5000));
        }
      }
    }
    // During catch-up the next page is read while the handler works through this one.
    let prefetched: Promise<ReadAllResult> | undefined;
    while (!this.closed) {
      this.pending = false;
      let page: ReadAllResult;
      try {
        page = await (prefetched ?? this.store.readAll({ after: this.position, limit: this.batchSize }));
        prefetched = undefined;
        failures = 0;
      } catch (error) {
        prefetched = undefined;
        if (this.closed) return;
        this.onError(error);
        await this.pause(Math.min(100 * 2 ** ++failures, 5000));
        continue;
      }
      if (page.events.length === this.batchSize) {
        prefetched = this.store.readAll({ after: page.next, limit: this.batchSize });
        prefetched.catch(() => undefined);
      }
      for (const event of page.events) {
        if (this.closed) return;
        try {
          await this.handler(event);
        } catch (error) {
          // A failing handler stops the subscription: skipping the event would break "exactly once".
          this.onError(error);
          this.rejectCaughtUp(error);
          await this.close();
          return;
        }
        this.position = event.position;
      }
      if (page.events.length === this.batchSize) continue;
      this.resolveCaughtUp();
      if (!this.pending) await this.pause(this.store.subscriptionPollMs);
    }
  }

  /** Waits for a wake-up, the poll interval, or close. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = undefined;
        resolve();
      }, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
    this.rejectCaughtUp(new StoreClosedError('subscription'));
    this.wake();
    await this.loopDone.catch(() => undefined);
  }
}

function checkStream(streamId: unknown, events: unknown): void {
  if (typeof streamId !== 'string' || streamId.length === 0) throw new InvalidEventError('streamId must be a non-empty string');
  if (!Array.isArray(events)) throw new InvalidEventError('events must be an array');
}

function checkExpected(expected: ExpectedVersion): void {
  if (typeof expected === 'number') {
    if (!Number.isInteger(expected) || expected < 0) throw new InvalidEventError(`invalid expectedVersion ${expected}`);
    return;
  }
  if (expected !== 'no_stream' && expected !== 'stream_exists' && expected !== 'any') {
    throw new InvalidEventError(`invalid expectedVersion ${String(expected)}`);
  }
}

function checkHead(head: Head): void {
  const ok =
    typeof head === 'object' &&
    head !== null &&
    Number.isInteger(head.version) &&
    head.version >= 0 &&
    (head.version === 0 ? head.hash === null : typeof head.hash === 'string' && head.hash.length > 0);
  if (!ok) throw new InvalidEventError('head must be {version: 0, hash: null} or {version > 0, hash: string}');
}

function matches(expected: ExpectedVersion, version: number): boolean {
  if (expected === 'any') return true;
  if (expected === 'no_stream') return version === 0;
  if (expected === 'stream_exists') return version > 0;
  return version === expected;
}

function prepareEvents(events: NewEvent[]): Prepared[] {
  if (events.length > MAX_PARAMS_EVENTS) {
    throw new InvalidEventError(`at most ${MAX_PARAMS_EVENTS} events per append`);
  }
  const seen = new Set<string>();
  const firstId = events[0]?.id ?? randomUUID();
  return events.map((event, index) => {
    if (typeof event !== 'object' || event === null) throw new InvalidEventError(`event ${index} is not an object`);
    const id = index === 0 ? firstId : (event.id ?? randomUUID());
    if (!isUuid(id)) throw new InvalidEventError(`event ${index}: id must be a UUID`);
    const lowerId = id.toLowerCase();
    if (seen.has(lowerId)) throw new InvalidEventError(`event ${index}: duplicate id ${id}`);
    seen.add(lowerId);
    if (typeof event.type !== 'string' || event.type.length === 0) throw new InvalidEventError(`event ${index}: type must be a non-empty string`);
    if (typeof event.data !== 'object' || event.data === null || Array.isArray(event.data)) {
      throw new InvalidEventError(`event ${index}: data must be a JSON object`);
    }
    const given = event.metadata;
    if (typeof given !== 'object' || given === null || typeof given.actor !== 'string' || given.actor.length === 0) {
      throw new InvalidEventError(`event ${index}: metadata.actor is required`);
    }
    // Every event carries correlation and causation ids: a batch without them is its own cause.
    const metadata: EventMetadata = {
      ...given,
      correlationId: given.correlationId ?? firstId.toLowerCase(),
      causationId: given.causationId ?? given.correlationId ?? firstId.toLowerCase(),
    };
    let dataJson: string;
    let metadataJson: string;
    try {
      dataJson = canonicalJson(event.data);
      metadataJson = canonicalJson(metadata);
    } catch (error) {
      throw new InvalidEventError(`event ${index}: ${(error as Error).message}`);
    }
    if (holdsNul(dataJson) || holdsNul(metadataJson)) {
      throw new InvalidEventError(`event ${index}: PostgreSQL JSON cannot hold \\u0000`);
    }
    return { id: lowerId, type: event.type, data: event.data, metadata, dataJson, metadataJson };
  });
}
