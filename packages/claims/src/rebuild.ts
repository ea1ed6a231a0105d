import { CompiledQuery, type Kysely, type Transaction } from 'kysely';
import { evolve, initialClaimState, toClaimView, toEnvelope, type ClaimEventEnvelope, type ClaimState, type ClaimView } from '@claimtrail/domain';
import type { Database, EventMetadata, EventStore, JsonObject, RecordedEvent } from '@claimtrail/event-store';
import { claimIdOfStream } from './events.ts';
import { CLAIMS_CHANGED_CHANNEL } from './view-cache.ts';
import { copyOutRows, PG_EPOCH_SECONDS, type CopyTuple } from './copy-out.ts';
import { PROJECTION_BATCH_ROWS, stateFromView, writeClaimProjection, type ClaimProjectionRow } from './projection.ts';
import { copyEncodedRows, CopyRowsBuilder, encodeRebuiltRows, searchVectors, writeEncodedRows, writeRebuiltRows, type KeepSeq } from './rebuild-writer.ts';

/**
 * Rebuilding the projections from the events.
 *
 * Two transactions on one connection, which holds a session-level advisory lock for the
 * whole run (rebuilds and compares share the scratch schema):
 * 1. `buildScratch`: the projection is folded from the event log into a fresh copy of the
 *    table (`CREATE TABLE … (LIKE claims INCLUDING ALL EXCLUDING INDEXES)` in a scratch
 *    schema, unlogged for a compare), written with the same values as the service's
 *    projection writer (rebuild-writer.ts, in batches of `PROJECTION_BATCH_ROWS` rows, found
 *    through `search_path`); then the primary key and the stream_id lookup are built from
 *    the live table's definitions under their live names, and the copy is committed.
 * 2. `finishRebuild`: writers are paused (SHARE lock for a compare, ACCESS EXCLUSIVE for a
 *    swap); the streams that moved since the build read the log are found; every other row
 *    is compared with the live table while (swap) the remaining indexes are built on two
 *    pooled connections; then the moved streams are caught up and compared too, and
 *    - `compare`: the transaction is rolled back and the copy dropped: nothing changes;
 *    - `swap`: the copy is moved in place of the live table (SET SCHEMA), indexes renamed to
 *      their migration names, triggers re-created, the old table dropped. Readers and
 *      writers see either the old table or the new one, never a half-built one; a writer
 *      blocked on the lock resolves `claims` again and continues on the new table.
 * A failed run drops the copy too (and the next run drops any leftover first).
 *
 * The fold reads the event table by (stream_id, version), one stream after the other, so
 * memory stays bounded (one page of events, or what the COPY stream buffers) whatever the
 * size of the log. Without `concurrentReads` (and always on PGlite, which has one
 * connection) everything goes through the run's own connection, one step after the other.
 * With it (PostgreSQL), the database work is spread over three connections working at
 * once: the events are streamed by one binary `COPY (…) TO STDOUT` on a pooled connection
 * (copy-out.ts), each batch's search vectors (two to_tsvector per row) are computed on a
 * pooled connection, and the run's connection only writes, with a binary COPY … FROM STDIN
 * (`CopyRowsBuilder`/`copyEncodedRows` in rebuild-writer.ts: the same column values, far
 * less database work per row than the INSERT); this process folds meanwhile (it reads only
 * the columns the fold needs). The catch-up, rows the binary encoding does not cover and
 * PGlite keep the INSERT writer.
 */

/** The projection tables the rebuild owns (all in the live schema). */
export const PROJECTION_TABLES = ['claims'] as const;
/**
 * Columns NOT compared between live and rebuilt rows: `seq` is a surrogate for paging (the
 * swap carries it over). Every other column of the live table is compared, so a column
 * added by a later migration is covered without touching this file.
 */
export const UNCOMPARED_COLUMNS = ['seq'] as const;

const REBUILD_SCHEMA = 'claimtrail_rebuild';
const RETIRED_SCHEMA = 'claimtrail_retired';
const EVENTS_TABLE = 'events';
// Serialises rebuilds (and compares) across processes: they share the scratch schema.
const ADVISORY_KEY = 4242101;
/**
 * The rebuild's statements grow with the log: one COPY streams all of it for as long as the
 * fold takes, the index builds and the comparison cover every claim. The pool's statement
 * timeout (meant for requests) does not apply inside its transactions; waiting for the live
 * table's lock is bounded by `lockTimeoutMs` instead.
 */
const NO_STATEMENT_TIMEOUT = 'set local statement_timeout = 0';
/** Projection batches in flight on the transaction's connection during the build. */
const WRITE_WINDOW = 2;
/** The fold yields to the event loop every this many events (see the build loop). */
const YIELD_EVERY_ROWS = 500;
/** Build progress is reported every this many events (a multiple of YIELD_EVERY_ROWS). */
const PROGRESS_EVERY_ROWS = 5000;
const EVENT_COLUMNS = 'id, stream_id, version, type, data, metadata, recorded_at, hash, prev_hash, position';

export type RebuildMode = 'compare' | 'swap';

export interface RebuildProgress {
  phase: 'build' | 'catch-up' | 'compare' | 'swap' | 'done';
  events: number;
  claims: number;
}

export interface RebuildOptions {
  /** `swap` (default) replaces the live projection; `compare` only reports differences. */
  mode?: RebuildMode;
  /** Events read per query when paging (PGlite; default 5000). */
  batchSize?: number;
  /** At most this many differences are listed (default 100); `differences` counts them all. */
  maxDiffs?: number;
  /** Called every few thousand events and at each phase change. */
  onProgress?: (progress: RebuildProgress) => void;
  /**
   * Stream the events on another pooled connection (one COPY), and compute the search
   * vectors on a pooled connection too, while the transaction's connection writes
   * (PostgreSQL only: PGlite has a single connection). Holds three connections of the
   * pool at once: see `canReadConcurrently`. Default false.
   */
  concurrentReads?: boolean;
  /** How long to wait for writers to drain before the swap or compare (default 15000 ms). */
  lockTimeoutMs?: number;
}

export interface ProjectionDiff {
  claimId: string;
  streamId: string;
  /** missing: no live row; extra: live row without events; different: columns differ. */
  reason: 'missing' | 'extra' | 'different';
  /** The columns that differ (for `different`). */
  columns?: string[];
  liveVersion: number | null;
  rebuiltVersion: number | null;
}

export interface RebuildResult {
  mode: RebuildMode;
  /** Claims in the rebuilt projection. */
  claims: number;
  /** Events folded (the build pass plus the catch-up). */
  events: number;
  /** Number of rows that differ between live and rebuilt (before the swap, for `swap`). */
  differences: number;
  /** The first `maxDiffs` of them, by claim id. */
  diffs: ProjectionDiff[];
  /** True when the rebuilt table replaced the live one. */
  swapped: boolean;
  durationMs: number;
}

class CompareDone extends Error {
  constructor(readonly result: RebuildResult) {
    super('compare finished (rolled back on purpose)');
  }
}

/**
 * Whether a rebuild on `database` may use `concurrentReads`: PostgreSQL with a pool of at
 * least three connections (the rebuild's transaction, the event stream, the search vectors;
 * with fewer the vectors would wait for a connection the other two hold until the build ends).
 */
export function canReadConcurrently(database: Pick<Database, 'kind' | 'poolSize'>): boolean {
  return database.kind === 'postgres' && database.poolSize >= 3;
}

/**
 * Rebuilds every projection from the events. `swap` (the default) replaces the live
 * tables atomically; `compare` leaves them untouched and reports the differences.
 */
export async function rebuildProjections(store: EventStore, options: RebuildOptions = {}): Promise<RebuildResult> {
  const mode = options.mode ?? 'swap';
  const started = Date.now();
  const timing = new RebuildTiming(mode, process.env.CLAIMTRAIL_REBUILD_TIMING === '1');
  // One connection for the whole run (two transactions on it): it holds the session-level
  // lock that keeps other rebuilds out of the scratch schema between the two.
  return store.db.connection().execute(async (conn) => {
    const run = (text: string) => conn.executeQuery(CompiledQuery.raw(text));
    await run(`select pg_advisory_lock(${ADVISORY_KEY})`);
    try {
      const built = await conn.transaction().execute((tx) => buildScratch(store, tx, mode, options, timing));
      return await conn.transaction().execute(async (tx) => {
        const result = await finishRebuild(store, tx, built, mode, options, timing, started);
        // A compare changes nothing: its catch-up rows go with the scratch table (below).
        if (mode === 'compare') throw new CompareDone(result);
        return result;
      });
    } catch (error) {
      if (error instanceof CompareDone) return error.result;
      throw error;
    } finally {
      // The scratch table was committed (a swap has moved it in place already): a compare or a
      // failed run leaves nothing behind. Should this fail too, the next rebuild drops it first.
      await run(`drop schema if exists ${ident(REBUILD_SCHEMA)} cascade`).catch(() => undefined);
      await run(`select pg_advisory_unlock(${ADVISORY_KEY})`).catch(() => undefined);
    }
  });
}

/** Compares the live projection with one rebuilt from the events. Empty = equal. */
export async function compareProjections(store: EventStore, options: Omit<RebuildOptions, 'mode'> = {}): Promise<ProjectionDiff[]> {
  return (await rebuildProjections(store, { ...options, mode: 'compare' })).diffs;
}

/** Folds every claim stream (bounded memory is not a goal here: tests and small logs). */
export async function foldAllClaims(store: EventStore): Promise<Map<string, ClaimState>> {
  const states = new Map<string, ClaimState>();
  for await (const event of store.streamAll({ after: 0, batchSize: 1000 })) {
    if (claimIdOfStream(event.streamId) === null) continue;
    const state = states.get(event.streamId) ?? initialClaimState;
    states.set(event.streamId, evolve(state, toEnvelope(event)));
  }
  return states;
}

export interface ClaimProjectionCheck {
  ok: boolean;
  diff?: ProjectionDiff;
  /** The stream's last event (to name it in a report). */
  lastEvent?: { id: string; version: number; position: number | null };
}

/**
 * Compares one claim's live projection row with the fold of its stream, in one snapshot
 * (REPEATABLE READ: the append and its projection commit together, so they agree there).
 */
export async function checkClaimProjection(store: EventStore, streamId: string): Promise<ClaimProjectionCheck> {
  return store.db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (tx) => {
      const schema = await liveSchema(tx);
      const events = await readStreamRows(tx, schema, streamId, 0, 2_147_483_647);
      let state: ClaimState = initialClaimState;
      let headHash: string | null = null;
      for (const e of events) {
        state = evolve(state, toEnvelope(e));
        headHash = e.hash;
      }
      const last = events[events.length - 1];
      const lastEvent = last ? { id: last.id, version: last.version, position: last.position } : undefined;
      const claimId = claimIdOfStream(streamId) ?? streamId;
      const liveRow = await tx.executeQuery<{ version: number; view: string; state: string }>(
        CompiledQuery.raw(
          `select version, view::text as view, state from ${ident(schema)}.claims where stream_id = $1`,
          [streamId],
        ),
      );
      const live = liveRow.rows[0];
      if (state.status === null) {
        if (!live) return { ok: true, ...(lastEvent ? { lastEvent } : {}) };
        return {
          ok: false,
          diff: { claimId, streamId, reason: 'extra', liveVersion: Number(live.version), rebuiltVersion: null },
          ...(lastEvent ? { lastEvent } : {}),
        };
      }
      if (!live) {
        return {
          ok: false,
          diff: { claimId, streamId, reason: 'missing', liveVersion: null, rebuiltVersion: state.version },
          ...(lastEvent ? { lastEvent } : {}),
        };
      }
      // Compare in the database so jsonb/timestamptz/tsvector equality is the database's own:
      // the service's writer fills a temporary `claims` (pg_temp comes first in search_path).
      await tx.executeQuery(CompiledQuery.raw(`create temporary table claims (like ${ident(schema)}.claims including all) on commit drop`));
      await writeClaimProjection(tx, streamId, state, toClaimView(state), null, undefined, headHash);
      const diffRows = await tx.executeQuery<{ columns: string[] | string }>(
        CompiledQuery.raw(
          `select ${differingColumnsSql(await comparedColumns(tx, schema), 'l', 'r').list} as columns
             from ${ident(schema)}.claims l join pg_temp.claims r on r.stream_id = l.stream_id
            where l.stream_id = $1`,
          [streamId],
        ),
      );
      await tx.executeQuery(CompiledQuery.raw('drop table pg_temp.claims'));
      const columns = parseTextArray(diffRows.rows[0]?.columns ?? []);
      if (columns.length === 0) return { ok: true, ...(lastEvent ? { lastEvent } : {}) };
      return {
        ok: false,
        diff: { claimId, streamId, reason: 'different', columns, liveVersion: Number(live.version), rebuiltVersion: state.version },
        ...(lastEvent ? { lastEvent } : {}),
      };
    });
}

// ------------------------------------------------------------------------------------------

interface EventRow {
  id: string;
  stream_id: string;
  version: number;
  type: string;
  data: JsonObject | string;
  metadata: EventMetadata | string;
  recorded_at: Date | string;
  hash: string;
  prev_hash: string | null;
  position: string | number | null;
}

function toRecordedEvent(row: EventRow): RecordedEvent {
  return {
    id: row.id,
    streamId: row.stream_id,
    version: Number(row.version),
    position: row.position === null ? null : Number(row.position),
    type: row.type,
    data: typeof row.data === 'string' ? (JSON.parse(row.data) as JsonObject) : row.data,
    metadata: typeof row.metadata === 'string' ? (JSON.parse(row.metadata) as EventMetadata) : row.metadata,
    recordedAt: row.recorded_at instanceof Date ? row.recorded_at : new Date(row.recorded_at),
    hash: row.hash,
    prevHash: row.prev_hash,
  };
}

/**
 * The build pass reads only what the fold needs, in forms cheap to parse: the actor instead
 * of the whole metadata, the recorded instant as whole epoch seconds plus microseconds
 * (numbers) instead of timestamptz text, no id, position or prev_hash. `date_part` (float8)
 * rather than `extract` (numeric, several times slower per row): whole seconds divide
 * exactly, and the seconds field in microseconds (seconds × 10⁶ + µs, below 6·10⁷) is an
 * exact integer; the fold takes it modulo 10⁶.
 */
const FOLD_COLUMNS = `stream_id, version, type, data, metadata->>'actor' as actor,
  date_part('epoch', date_trunc('second', recorded_at)) as at_s,
  date_part('microseconds', recorded_at) as at_us, hash`;

interface FoldRow {
  stream_id: string;
  version: number;
  type: string;
  data: JsonObject | string;
  /**
   * `metadata->>'actor'`: the actor id as text (the service writes it as a JSON string, so
   * this is the value a parse of the metadata gives, without a JSON parse per event); SQL
   * null when the key is absent.
   */
  actor: unknown;
  at_s: number | string;
  /** The seconds field in microseconds (seconds × 10⁶ + µs); null for ±infinity. */
  at_us: number | string | null;
  hash: string;
}

/**
 * The envelope `toEnvelope(toRecordedEvent(row))` gives for the full row, built directly.
 * recordedAt is the Date pg's timestamptz parser (postgres-date) makes of the text:
 * UTC fields plus `1000 * parseFloat(fraction)` milliseconds, truncated by Date.UTC; that is
 * seconds × 1000 + trunc(1000 × µs / 10⁶) (µs / 10⁶ is the same double parseFloat gives).
 * ±infinity stays the number pg's parser returns.
 */
function foldEnvelope(row: FoldRow, version: number): ClaimEventEnvelope {
  const seconds = Number(row.at_s);
  let recordedAt: Date | string;
  let recordedAtIso: string | undefined;
  if (Number.isFinite(seconds) && row.at_us !== null) {
    const ms = Math.trunc(1000 * ((Number(row.at_us) % 1_000_000) / 1_000_000));
    if (seconds >= MIN_ISO_SECONDS && seconds <= MAX_ISO_SECONDS && Number.isInteger(seconds)) {
      recordedAtIso = isoInstant(seconds, ms);
      recordedAt = recordedAtIso;
    } else recordedAt = new Date(seconds * 1000 + ms);
  } else recordedAt = seconds as unknown as Date;
  return {
    type: row.type,
    data: typeof row.data === 'string' ? (JSON.parse(row.data) as JsonObject) : row.data,
    actor: row.actor === null ? undefined : row.actor,
    recordedAt,
    // Always present (undefined when the instant needs a Date): one object shape per event.
    recordedAtIso,
    version,
    streamId: row.stream_id,
  } as unknown as ClaimEventEnvelope;
}

/**
 * What the COPY read takes (binary format, copy-out.ts): FOLD_COLUMNS with the instant as
 * it is stored (8 bytes of µs since 2000-01-01) instead of two `date_part`s.
 */
const FOLD_COPY_COLUMNS = `stream_id, version, type, data, metadata->>'actor' as actor, recorded_at, hash`;
const MICROS_PER_SECOND = 1_000_000;
const INFINITY_MICROS = 9_223_372_036_854_775_807n;

/**
 * A reader of FOLD_COPY_COLUMNS' tuples as the rows the fold reads, with the same values
 * FOLD_COLUMNS gives (`at_s` whole seconds since 1970, `at_us` the microseconds within the
 * second; ±infinity as ±Infinity and null). Consecutive events mostly share their stream:
 * its id is decoded once per stream (the bytes compared instead).
 */
function foldRowReader(): (tuple: CopyTuple) => FoldRow {
  let streamBytes: Buffer = Buffer.alloc(0);
  let streamId = '';
  return (t) => {
    if (t.count !== 7) throw new Error(`rebuild: an event row of ${t.count} fields from COPY`);
    if (!t.equals(0, streamBytes)) {
      streamBytes = t.bytes(0);
      streamId = t.text(0)!;
    }
    // jsonb's binary form: a format version byte (1), then the text.
    if (t.byte(3) !== 1) throw new Error(`rebuild: jsonb binary format ${t.byte(3)} is not one this reader knows`);
    const micros = t.int64(5)!;
    let atS: number;
    let atUs: number | null;
    if (typeof micros === 'number') {
      const within = ((micros % MICROS_PER_SECOND) + MICROS_PER_SECOND) % MICROS_PER_SECOND;
      atS = (micros - within) / MICROS_PER_SECOND + PG_EPOCH_SECONDS;
      atUs = within;
    } else if (micros === INFINITY_MICROS || micros === -INFINITY_MICROS - 1n) {
      atS = micros > 0n ? Infinity : -Infinity;
      atUs = null;
    } else {
      const within = ((micros % 1_000_000n) + 1_000_000n) % 1_000_000n;
      atS = Number((micros - within) / 1_000_000n) + PG_EPOCH_SECONDS;
      atUs = Number(within);
    }
    return { stream_id: streamId, version: t.int32(1)!, type: t.text(2)!, data: t.text(3, 1)!, actor: t.text(4), at_s: atS, at_us: atUs, hash: t.text(6)! };
  };
}

/**
 * The fold's instants are whole seconds plus milliseconds, and a stream's events mostly
 * share their second: the text of the second is formatted once (by Date itself) and only
 * the milliseconds appended — the text `new Date(seconds * 1000 + ms).toISOString()` gives
 * (years 0001–9999: four-digit years; others take a real Date). Handed to evolve as the
 * envelope's `recordedAtIso`.
 */
const MIN_ISO_SECONDS = -62_135_596_800; // 0001-01-01T00:00:00Z
const MAX_ISO_SECONDS = 253_402_300_799; // 9999-12-31T23:59:59Z
let isoSeconds = Number.NaN;
let isoPrefix = '';

function isoInstant(seconds: number, ms: number): string {
  if (seconds !== isoSeconds) {
    // 'YYYY-MM-DDTHH:MM:SS.' (toISOString of a whole second ends in '.000Z').
    isoPrefix = new Date(seconds * 1000).toISOString().slice(0, -4);
    isoSeconds = seconds;
  }
  return `${isoPrefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z`;
}

interface ComparedColumn {
  name: string;
  /** SQL: true when the column differs between aliases `a` and `b`. */
  differs(a: string, b: string): string;
}

async function comparedColumns(db: Kysely<any> | Transaction<any>, schema: string): Promise<ComparedColumn[]> {
  const { rows } = await db.executeQuery<{ name: string; type: string }>(
    CompiledQuery.raw(
      `select a.attname as name, format_type(a.atttypid, a.atttypmod) as type
         from pg_attribute a
        where a.attrelid = to_regclass($1) and a.attnum > 0 and not a.attisdropped
        order by a.attnum`,
      [`${ident(schema)}.claims`],
    ),
  );
  return rows
    .filter((r) => !(UNCOMPARED_COLUMNS as readonly string[]).includes(r.name))
    .map((r) => {
      const column = ident(r.name);
      return {
        name: r.name,
        // json has no equality: equal texts are equal values (one memcmp); only when the
        // texts differ does the jsonb comparison (a parse of both sides) decide. Same
        // answer as comparing as jsonb, at a fraction of the cost on a whole table.
        differs:
          r.type === 'json'
            ? (a: string, b: string) =>
                `(${a}.${column}::text is distinct from ${b}.${column}::text and ${a}.${column}::jsonb is distinct from ${b}.${column}::jsonb)`
            : (a: string, b: string) => `${a}.${column} is distinct from ${b}.${column}`,
      };
    });
}

function differingColumnsSql(columns: ComparedColumn[], live: string, rebuilt: string): { list: string; any: string } {
  return {
    list: `array_remove(array[${columns
      .map((c) => `case when ${c.differs(live, rebuilt)} then ${quoteLiteral(c.name)} end`)
      .join(', ')}]::text[], null)`,
    any: columns.map((c) => c.differs(live, rebuilt)).join(' or '),
  };
}

function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** lz4 for the TOASTed json of this transaction's new rows, where the server has it. */
async function useLz4(tx: Transaction<any>): Promise<void> {
  const lz4 = await tx.executeQuery(CompiledQuery.raw(`select 1 from pg_settings where name = 'default_toast_compression' and 'lz4' = any(enumvals)`));
  if (lz4.rows.length > 0) await tx.executeQuery(CompiledQuery.raw(`set local default_toast_compression = 'lz4'`));
}

async function liveSchema(db: Kysely<any> | Transaction<any>): Promise<string> {
  const { rows } = await db.executeQuery<{ schema: string | null }>(
    CompiledQuery.raw(`select n.nspname as schema from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.oid = to_regclass('claims')`),
  );
  const schema = rows[0]?.schema;
  if (!schema) throw new Error('the claims projection table does not exist (run the migrations)');
  return schema;
}

async function readStreamRows(
  tx: Transaction<any>,
  schema: string,
  streamId: string,
  afterVersion: number,
  upToVersion: number,
): Promise<RecordedEvent[]> {
  const { rows } = await tx.executeQuery<EventRow>(
    CompiledQuery.raw(
      `select ${EVENT_COLUMNS} from ${ident(schema)}.${EVENTS_TABLE}
        where stream_id = $1 and version > $2 and version <= $3 order by version`,
      [streamId, afterVersion, upToVersion],
    ),
  );
  return rows.map(toRecordedEvent);
}

/** What the build leaves for the second transaction. */
interface ScratchBuild {
  schema: string;
  /** The live table and the scratch copy, schema-qualified and quoted. */
  live: string;
  scratch: string;
  keepSeq: KeepSeq | null;
  /** The copy carries a keep_seq trigger (swap without a seq default): dropped before the swap. */
  seqTrigger: boolean;
  /** Indexes still to build on the committed copy (several at once, beside the comparison). */
  pendingIndexes: IndexDefinition[];
  /** Events folded and claims written by the build pass. */
  events: number;
  claims: number;
  /**
   * The log's highest position before the build read it. An event the build did not see
   * committed later, so it has no position yet or one above this (the sequencer numbers
   * committed events only, each pass above every number committed before it).
   */
  positionBefore: number;
}

/** Where a rebuild's time goes (CLAIMTRAIL_REBUILD_TIMING=1: one line on stderr per run). */
class RebuildTiming {
  private readonly phases = new Map<string, number>();
  private readonly indexes: string[] = [];
  private lapStart = performance.now();

  constructor(
    private readonly mode: RebuildMode,
    readonly enabled: boolean,
  ) {}

  /** The wall time since the previous lap is added to `phase`. */
  lap(phase: string): void {
    if (!this.enabled) return;
    const now = performance.now();
    this.phases.set(phase, (this.phases.get(phase) ?? 0) + (now - this.lapStart));
    this.lapStart = now;
  }

  /** Times `create`, one index's build, reported after the phases. */
  async index<T>(name: string, create: () => Promise<T>): Promise<T> {
    const began = performance.now();
    const result = await create();
    if (this.enabled) this.indexes.push(`${name}=${Math.round(performance.now() - began)}ms`);
    return result;
  }

  report(): void {
    if (!this.enabled) return;
    const phases = [...this.phases].map(([phase, ms]) => `${phase}=${Math.round(ms)}ms`).join(' ');
    process.stderr.write(`[rebuild] ${this.mode} ${phases}${this.indexes.length > 0 ? ` (${this.indexes.join(' ')})` : ''}\n`);
  }
}

/**
 * The first transaction: folds the log into a fresh copy of the projection table in the
 * scratch schema and commits it, with the indexes the second one needs to look rows up.
 */
async function buildScratch(store: EventStore, tx: Transaction<any>, mode: RebuildMode, options: RebuildOptions, timing: RebuildTiming): Promise<ScratchBuild> {
  const batchSize = options.batchSize ?? 5000;
  const progress = options.onProgress ?? (() => undefined);
  const schema = await liveSchema(tx);
  const live = `${ident(schema)}.claims`;
  const scratch = `${ident(REBUILD_SCHEMA)}.claims`;
  const run = (text: string, params: unknown[] = []) => tx.executeQuery(CompiledQuery.raw(text, params));

  await run(NO_STATEMENT_TIMEOUT);
  await run(`drop schema if exists ${ident(REBUILD_SCHEMA)} cascade`);
  await run(`create schema ${ident(REBUILD_SCHEMA)}`);
  // The copy starts WITHOUT its secondary indexes: row-by-row inserts into seven indexes
  // (two GIN) were most of the build's cost in the database; building them once after the
  // fold is several times cheaper. They are created from the live table's own definitions,
  // under their live names: the stream_id lookup at the end of this transaction (the
  // catch-up needs it), the others in the next one (see finishRebuild).
  const liveIndexDefs = await indexDefinitions(tx, schema);
  // A compare's copy is dropped at the end, never read after a crash: unlogged (no WAL for
  // its rows and indexes, no fsync at commit). A swap's becomes the live table: logged.
  await run(`create ${mode === 'compare' ? 'unlogged ' : ''}table ${scratch} (like ${live} including all excluding indexes)`);
  // LIKE copies columns, defaults, constraints, storage and compression, not the table's
  // storage parameters (e.g. a fillfactor leaving room for HOT updates): carry them over,
  // before the rows are written (they decide how full the copy's pages are).
  const reloptions = await run(`select unnest(c.reloptions) as option from pg_class c where c.oid = to_regclass($1)`, [live]);
  const storage = (reloptions.rows as { option: string }[]).map((r) => {
    const at = r.option.indexOf('=');
    return `${ident(r.option.slice(0, at))} = ${quoteLiteral(r.option.slice(at + 1))}`;
  });
  if (storage.length > 0) await run(`alter table ${scratch} set (${storage.join(', ')})`);
  // With `concurrentReads` (PostgreSQL, three connections) the events are read with COPY on
  // one pooled connection, the search vectors computed on another, the rows written with
  // COPY here and (finishRebuild) the indexes built beside the comparison.
  const concurrent = options.concurrentReads === true;
  // The primary key: before the rows for the INSERT writer (its upsert names it); after them
  // for COPY (one index build instead of an insertion per row), which writes distinct ids.
  const primary = liveIndexDefs.filter((d) => d.primary);
  if (!concurrent) for (const d of primary) await run(d.create(scratch));
  // A swap carries `seq` over (cursor pages stay valid): the build's INSERT takes the live
  // row's seq by id (a join, see rebuild-writer.ts), the column default for a claim the live
  // table does not have. Without a default to fall back on, a BEFORE INSERT trigger does it.
  let keepSeq: KeepSeq | null = null;
  const seqDefault = await run(
    `select pg_get_expr(d.adbin, d.adrelid) as expr from pg_attrdef d
       join pg_attribute a on a.attrelid = d.adrelid and a.attnum = d.adnum
      where d.adrelid = to_regclass($1) and a.attname = 'seq'`,
    [live],
  );
  const seqFallback = (seqDefault.rows[0] as { expr: string | null } | undefined)?.expr ?? null;
  if (mode === 'swap') {
    if (seqFallback !== null) keepSeq = { live, fallback: seqFallback };
    else {
      await run(
        `create function ${ident(REBUILD_SCHEMA)}.keep_seq() returns trigger language plpgsql as $$
         begin
           new.seq := coalesce((select l.seq from ${live} l where l.id = new.id), new.seq);
           return new;
         end $$`,
      );
      await run(`create trigger keep_seq before insert on ${scratch} for each row execute function ${ident(REBUILD_SCHEMA)}.keep_seq()`);
    }
  }
  // The service's projection writer names `claims` unqualified: point it at the copy.
  await run(`set local search_path to ${ident(REBUILD_SCHEMA)}, ${ident(schema)}`);
  // The view/card json of a row (~3 kB together) is compressed into TOAST: pglz
  // was about half the database's cost of an insert; lz4 (where the server has it) is
  // several times faster. Same values, only how this transaction's new rows are stored.
  await useLz4(tx);

  let events = 0;
  let claims = 0;
  let state: ClaimState = initialClaimState;
  let headHash: string | null = null;
  let current: string | null = null;
  // Projection rows are written PROJECTION_BATCH_ROWS per multi-row INSERT (one statement
  // instead of one per claim), queued on the transaction's connection without waiting, so
  // the database writes batch N while this process folds batch N+1. At most WRITE_WINDOW
  // batches are in flight (memory stays flat); the first failure is rethrown.
  const pending: Promise<void>[] = [];
  // With `concurrentReads` the transaction's connection is a pg one: the build writes with
  // COPY (see rebuild-writer.ts), which cannot resolve a conflict, so a claim id met twice
  // (two streams folding to the same id: a broken log) is set aside and upserted after the
  // build, in fold order (the last one wins, as with the upsert); so is a row with a value
  // the binary encoding does not cover exactly (e.g. an instant outside years 1–9999).
  const copied = new Set<string>();
  const setAside: ClaimProjectionRow[] = [];
  // COPY cannot join: the live seq of each claim is read once here (a swap keeps it; a
  // compare ignores seq, and taking the live one spares the sequence). A claim the live
  // table gets meanwhile takes the default; the swap's seq fix-up below corrects it under
  // the lock. Without a default the keep_seq trigger (which COPY fires too) fills it.
  let liveSeq: Map<string, string> | null = null;
  if (concurrent && seqFallback !== null) {
    const seqRows = await run(`select id::text as id, seq::text as seq from ${live}`);
    liveSeq = new Map((seqRows.rows as { id: string; seq: string | null }[]).filter((r) => r.seq !== null).map((r) => [r.id, r.seq!]));
  }
  const seqOf = liveSeq === null ? null : (id: string) => liveSeq.get(id);
  let writeError: unknown = null;
  let batch: ClaimProjectionRow[] = [];
  const drain = async (keep: number) => {
    while (pending.length > keep) await pending.shift();
    if (writeError !== null) throw writeError;
  };
  let copyBatch = new CopyRowsBuilder(seqOf);
  const sendCopyBatch = async () => {
    if (copyBatch.count === 0) return;
    const encoded = copyBatch.finish();
    copyBatch = new CopyRowsBuilder(seqOf);
    const vectors = searchVectors(store.db, encoded.texts, NO_STATEMENT_TIMEOUT);
    // The texts are in the query now: let them go while the batch waits for its vectors.
    encoded.texts = [];
    pending.push(
      vectors
        .then((v) => copyEncodedRows(tx, scratch, encoded, v))
        .catch((error: unknown) => {
          writeError ??= error;
        }),
    );
    await drain(WRITE_WINDOW);
  };
  const sendBatch = async () => {
    if (concurrent) return sendCopyBatch();
    if (batch.length === 0) return;
    const rows = batch;
    batch = [];
    // The batch is encoded right away (strings only: the rows' states and views die young,
    // they are not kept while the batch waits).
    const write = writeEncodedRows(tx, encodeRebuiltRows(rows), { keepSeq });
    pending.push(
      write.catch((error: unknown) => {
        writeError ??= error;
      }),
    );
    await drain(WRITE_WINDOW);
  };
  const flushStream = async () => {
    if (current !== null && state.status !== null) {
      const row: ClaimProjectionRow = { streamId: current, state, view: toClaimView(state), headHash };
      claims++;
      if (concurrent) {
        if (copied.has(row.view.id)) setAside.push(row);
        else {
          copied.add(row.view.id);
          if (!copyBatch.add(row)) setAside.push(row);
          else if (copyBatch.count >= PROJECTION_BATCH_ROWS) await sendCopyBatch();
        }
        return;
      }
      batch.push(row);
      if (batch.length >= PROJECTION_BATCH_ROWS) await sendBatch();
    }
  };

  // Phase 1: fold every claim stream, ordered by (stream_id, version) through the
  // unique index. Collation-independent: claim streams are filtered in code. With
  // `concurrentReads` (PostgreSQL) the events come from another pooled connection as one
  // `COPY (…) TO STDOUT` (see copy-out.ts), streamed while the transaction's connection
  // writes; what that snapshot misses (committed later) the catch-up adds under the lock.
  // Otherwise (PGlite) they are read on the transaction, keyset-paged.
  const eventsTable = `${ident(schema)}.${EVENTS_TABLE}`;
  const head = await run(`select coalesce(max(position), 0)::text as position from ${eventsTable} where position is not null`);
  const positionBefore = Number((head.rows[0] as { position: string }).position);
  timing.lap('setup');
  progress({ phase: 'build', events, claims });
  const foldPages = async (pages: AsyncIterable<FoldRow[]>) => {
    let seen = 0;
    for await (const page of pages) {
      for (let i = 0; i < page.length; i++) {
        // Let I/O in now and then (a macrotask, not a microtask): a batch whose search vectors
        // have arrived is handed to the writer at once, not after the whole page is folded.
        if (++seen % YIELD_EVERY_ROWS === 0) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          if (seen % PROGRESS_EVERY_ROWS === 0) progress({ phase: 'build', events, claims });
        }
        const row = page[i]!;
        const streamId = row.stream_id;
        if (streamId !== current) {
          if (!streamId.startsWith('claim-')) continue;
          await flushStream();
          current = streamId;
          state = initialClaimState;
          headHash = null;
        }
        const version = Number(row.version);
        // A gap or a repeat would be a broken log: verify reports it; the fold skips it.
        if (version !== state.version + 1) continue;
        state = evolve(state, foldEnvelope(row, version));
        headHash = row.hash;
        events++;
      }
    }
    progress({ phase: 'build', events, claims });
  };
  if (concurrent) {
    await store.db.transaction().execute(async (readTx) => {
      await readTx.executeQuery(CompiledQuery.raw(NO_STATEMENT_TIMEOUT));
      // The index already holds the order: without this the planner sorts the whole table
      // (a parallel sort, spilling to disk past work_mem).
      await readTx.executeQuery(CompiledQuery.raw('set local enable_sort = off'));
      // A whole-table plan costs past jit_above_cost; compiling it would only add time.
      await readTx.executeQuery(CompiledQuery.raw('set local jit = off'));
      await foldPages(copyOutRows(readTx, `select ${FOLD_COPY_COLUMNS} from ${eventsTable} order by stream_id, version`, foldRowReader()));
    });
  } else {
    await foldPages(
      (async function* pages(): AsyncGenerator<FoldRow[]> {
        let afterStream = '';
        let afterVersion = 0;
        for (;;) {
          const { rows } = await tx.executeQuery<FoldRow>(
            CompiledQuery.raw(
              `select ${FOLD_COLUMNS} from ${eventsTable} where (stream_id, version) > ($1, $2) order by stream_id, version limit $3`,
              [afterStream, afterVersion, batchSize],
            ),
          );
          if (rows.length > 0) yield rows;
          const last = rows[rows.length - 1];
          if (!last || rows.length < batchSize) return;
          afterStream = last.stream_id;
          afterVersion = Number(last.version);
        }
      })(),
    );
  }
  await flushStream();
  await sendBatch();
  await drain(0);
  if (concurrent) for (const d of primary) await timing.index(d.name, () => run(d.create(scratch)));
  while (setAside.length > 0) await writeRebuiltRows(tx, setAside.splice(0, PROJECTION_BATCH_ROWS), { keepSeq });
  timing.lap('build');

  // Secondary indexes, built once over the folded rows. Here only what the second
  // transaction looks rows up with (by stream id); the others (a swap needs them all) are
  // built on the committed copy, several at once beside the comparison, when the pool has
  // connections to spare (`concurrentReads`), else here.
  await run(`set local maintenance_work_mem = '256MB'`);
  const pendingIndexes: IndexDefinition[] = [];
  for (const d of liveIndexDefs) {
    if (d.primary) continue;
    const lookup = d.columns.includes('stream_id');
    if (mode === 'compare' && !lookup) continue;
    if (!lookup && concurrent && d.aside !== null) pendingIndexes.push(d);
    else await timing.index(d.name, () => run(d.create(scratch)));
  }
  timing.lap('indexes');
  return { schema, live, scratch, keepSeq, seqTrigger: mode === 'swap' && keepSeq === null, pendingIndexes, events, claims, positionBefore };
}

/**
 * The second transaction: pauses writers, catches the copy up with what was committed
 * during the build, compares it with the live table and (swap) moves it in place.
 */
async function finishRebuild(
  store: EventStore,
  tx: Transaction<any>,
  built: ScratchBuild,
  mode: RebuildMode,
  options: RebuildOptions,
  timing: RebuildTiming,
  started: number,
): Promise<RebuildResult> {
  const maxDiffs = options.maxDiffs ?? 100;
  const progress = options.onProgress ?? (() => undefined);
  const { schema, live, scratch, keepSeq } = built;
  let { events, claims } = built;
  const run = (text: string, params: unknown[] = []) => tx.executeQuery(CompiledQuery.raw(text, params));
  await run(NO_STATEMENT_TIMEOUT);
  await run(`set local search_path to ${ident(REBUILD_SCHEMA)}, ${ident(schema)}`);
  await useLz4(tx);
  // The comparison's full join hashes whole tables: the default work_mem (4 MB) spills it
  // to disk in batches already at 20k rows.
  await run(`set local work_mem = '128MB'`);
  // The remaining indexes are built on pooled connections meanwhile (they only read the
  // copy: its SHARE lock lets the comparison read it too). The catch-up writes into the
  // copy after they are done.
  const indexesAside = buildIndexesAside(store.db, scratch, built.pendingIndexes, timing);
  indexesAside.catch(() => undefined);
  try {
    // Phase 2: pause writers, find the streams that moved during the build. Only events
    // the build cannot have seen need looking at (see `positionBefore`): both index ranges.
    const lockTimeout = Math.max(1, Math.round(options.lockTimeoutMs ?? 15_000));
    await run(`set local lock_timeout = ${lockTimeout}`);
    await run(`lock table ${live} in ${mode === 'swap' ? 'access exclusive' : 'share'} mode`);
    await run(`set local lock_timeout = 0`);
    progress({ phase: 'catch-up', events, claims });
    const behind = (
      await run(
        `select h.stream_id, h.head, coalesce(r.version, 0) as version
           from (select stream_id, max(version) as head from ${ident(schema)}.${EVENTS_TABLE}
                  where (position > $1 or position is null) and stream_id like 'claim-%' group by stream_id) h
           left join ${scratch} r on r.stream_id = h.stream_id
          where h.head > coalesce(r.version, 0)`,
        [built.positionBefore],
      )
    ).rows as { stream_id: string; head: number; version: number }[];
    const behindStreams = behind.map((row) => row.stream_id);
    timing.lap('lock');

    // Phase 3: compare live and rebuilt, in the database: first every row but the moved
    // streams' (their copies are not caught up yet; meanwhile the indexes are being built).
    progress({ phase: 'compare', events, claims });
    const differing = differingColumnsSql(await comparedColumns(tx, schema), 'l', 'r');
    const settled = await differences(tx, live, scratch, differing, { except: behindStreams }, maxDiffs);
    timing.lap('compare');
    await indexesAside;
    for (const d of built.pendingIndexes) {
      const attach = d.aside?.attach;
      if (attach) await run(attach(scratch));
    }
    timing.lap('indexes (waited)');

    // The moved streams: each folded on from its copy's view, written, compared.
    const caughtUp: ClaimProjectionRow[] = [];
    for (const row of behind) {
      const from = Number(row.version);
      let streamState: ClaimState = initialClaimState;
      let streamHead: string | null = null;
      if (from > 0) {
        const snap = await run(`select view::text as view, head_hash from ${scratch} where stream_id = $1`, [row.stream_id]);
        const found = snap.rows[0] as { view: string; head_hash: string | null };
        streamState = stateFromView(JSON.parse(found.view) as ClaimView);
        streamHead = found.head_hash;
      }
      const missing = await readStreamRows(tx, schema, row.stream_id, from, Number(row.head));
      for (const event of missing) {
        if (event.version !== streamState.version + 1) continue;
        streamState = evolve(streamState, toEnvelope(event));
        streamHead = event.hash;
        events++;
      }
      if (streamState.status !== null) {
        if (from === 0) claims++;
        caughtUp.push({ streamId: row.stream_id, state: streamState, view: toClaimView(streamState), headHash: streamHead });
        if (caughtUp.length >= PROJECTION_BATCH_ROWS) await writeRebuiltRows(tx, caughtUp.splice(0), { keepSeq });
      }
    }
    await writeRebuiltRows(tx, caughtUp, { keepSeq });
    const moved = behindStreams.length === 0 ? null : await differences(tx, live, scratch, differing, { only: behindStreams }, maxDiffs);
    const found = moved === null ? settled : { count: settled.count + moved.count, diffs: mergeDiffs(settled.diffs, moved.diffs, maxDiffs) };
    timing.lap('catch-up');
    if (mode === 'compare') {
      timing.report();
      progress({ phase: 'done', events, claims });
      return { mode, claims, events, differences: found.count, diffs: found.diffs, swapped: false, durationMs: Date.now() - started };
    }

    // Phase 4: swap. Keep `seq` (cursor pages stay valid), move the old table out and the
    // new one in, restore the migration's index names and the sequence's owner.
    progress({ phase: 'swap', events, claims });
    if (built.seqTrigger) await run(`drop trigger keep_seq on ${scratch}`);
    // The build already carried seq over; this only catches what it could not (no-op normally).
    await run(`update ${scratch} r set seq = l.seq from ${live} l where l.id = r.id and r.seq <> l.seq`);
    const liveIndexes = await indexesOf(tx, schema, 'claims');
    const sequences = await run(
      `select s.relname as name from pg_depend d
         join pg_class s on s.oid = d.objid and s.relkind = 'S'
         join pg_class t on t.oid = d.refobjid
         join pg_namespace n on n.oid = t.relnamespace
        where n.nspname = $1 and t.relname = 'claims' and d.deptype in ('a', 'i')`,
      [schema],
    );
    for (const s of sequences.rows as { name: string }[]) {
      await run(`alter sequence ${ident(schema)}.${ident(s.name)} owned by none`);
    }
    // LIKE copies no triggers: the live table's own (e.g. the claims-changed notification of
    // migration 0009) are re-created on the new table from their definitions.
    const triggers = await run(
      `select t.tgname as name, pg_get_triggerdef(t.oid) as def from pg_trigger t where t.tgrelid = to_regclass($1) and not t.tgisinternal`,
      [live],
    );
    for (const t of triggers.rows as { name: string; def: string }[]) {
      const target = [` ON ${ident(schema)}.claims `, ` ON ${schema}.claims `].find((on) => t.def.includes(on));
      if (!target) throw new Error(`rebuild: cannot re-create trigger ${t.name}: ${t.def}`);
      await run(t.def.replace(target, ` ON ${scratch} `));
    }
    // Every row may have changed (a swap repairs what differed): instances drop the claim
    // views they keep in memory at this commit.
    await run(`select pg_notify($1, '*')`, [CLAIMS_CHANGED_CHANNEL]);
    await run(`drop schema if exists ${ident(RETIRED_SCHEMA)} cascade`);
    await run(`create schema ${ident(RETIRED_SCHEMA)}`);
    await run(`alter table ${live} set schema ${ident(RETIRED_SCHEMA)}`);
    await run(`alter table ${scratch} set schema ${ident(schema)}`);
    const newIndexes = await indexesOf(tx, schema, 'claims');
    for (const index of newIndexes) {
      const original = liveIndexes.find((o) => o.shape === index.shape);
      if (original && original.name !== index.name && !newIndexes.some((n) => n.name === original.name)) {
        await run(`alter index ${ident(schema)}.${ident(index.name)} rename to ${ident(original.name)}`);
      }
    }
    for (const s of sequences.rows as { name: string }[]) {
      const column = await run(
        `select a.attname as column from pg_attrdef d
           join pg_attribute a on a.attrelid = d.adrelid and a.attnum = d.adnum
          where d.adrelid = to_regclass($1) and pg_get_expr(d.adbin, d.adrelid) like $2`,
        [`${schema}.claims`, `%${s.name}%`],
      );
      const col = (column.rows[0] as { column: string } | undefined)?.column;
      if (col) await run(`alter sequence ${ident(schema)}.${ident(s.name)} owned by ${live}.${ident(col)}`);
    }
    await run(`drop schema ${ident(RETIRED_SCHEMA)} cascade`);
    await run(`drop schema ${ident(REBUILD_SCHEMA)} cascade`);
    timing.lap('swap');
    timing.report();
    progress({ phase: 'done', events, claims });
    return { mode, claims, events, differences: found.count, diffs: found.diffs, swapped: true, durationMs: Date.now() - started };
  } finally {
    // A failure above leaves no build running on the copy when the transaction ends.
    await indexesAside.catch(() => undefined);
  }
}

type DiffScope = { except: readonly string[] } | { only: readonly string[] };

/**
 * The rows that differ between live (`l`) and rebuilt (`r`), paired by claim id: how many,
 * and the first `maxDiffs` by id. `except`: pairs where neither row belongs to one of those
 * streams; `only`: pairs where one does (together: every pair, once).
 */
async function differences(
  tx: Transaction<any>,
  live: string,
  scratch: string,
  differing: { list: string; any: string },
  scope: DiffScope,
  maxDiffs: number,
): Promise<{ count: number; diffs: ProjectionDiff[] }> {
  const streams = 'only' in scope ? scope.only : scope.except;
  const differs = `(l.id is null or r.id is null or (${differing.any}))`;
  const from =
    'only' in scope
      ? `(select id from ${live} where stream_id = any($1::text[]) union select id from ${scratch} where stream_id = any($1::text[])) k
         left join ${live} l on l.id = k.id left join ${scratch} r on r.id = k.id
        where ${differs}`
      : `${live} l full join ${scratch} r on r.id = l.id
        where ${differs}${streams.length === 0 ? '' : ' and not coalesce(l.stream_id = any($1::text[]), false) and not coalesce(r.stream_id = any($1::text[]), false)'}`;
  const params = 'only' in scope || streams.length > 0 ? [streams] : [];
  const query = `
    select coalesce(l.id, r.id)::text as id, coalesce(l.stream_id, r.stream_id) as stream_id,
           l.version as live_version, r.version as rebuilt_version,
           case when l.id is null then 'missing' when r.id is null then 'extra' else 'different' end as reason,
           ${differing.list} as columns
      from ${from}`;
  const counted = await tx.executeQuery<{ n: number }>(CompiledQuery.raw(`select count(*)::int as n from (${query}) d`, params));
  const count = Number(counted.rows[0]!.n);
  if (count === 0) return { count, diffs: [] };
  const listed = await tx.executeQuery<{ id: string; stream_id: string; live_version: number | null; rebuilt_version: number | null; reason: ProjectionDiff['reason']; columns: string[] | string }>(
    CompiledQuery.raw(`${query} order by 1 limit ${Math.max(0, Math.floor(maxDiffs))}`, params),
  );
  const diffs = listed.rows.map((r) => ({
    claimId: r.id,
    streamId: r.stream_id,
    reason: r.reason,
    ...(r.reason === 'different' ? { columns: parseTextArray(r.columns) } : {}),
    liveVersion: r.live_version === null ? null : Number(r.live_version),
    rebuiltVersion: r.rebuilt_version === null ? null : Number(r.rebuilt_version),
  }));
  return { count, diffs };
}

/** Two id-ordered lists of differences as one, the first `maxDiffs` (ids are uuid texts). */
function mergeDiffs(a: ProjectionDiff[], b: ProjectionDiff[], maxDiffs: number): ProjectionDiff[] {
  if (b.length === 0) return a;
  return [...a, ...b].sort((x, y) => (x.claimId < y.claimId ? -1 : x.claimId > y.claimId ? 1 : 0)).slice(0, Math.max(0, Math.floor(maxDiffs)));
}

/** Connections building indexes at once beside the comparison (with the transaction's own: three). */
const ASIDE_CONNECTIONS = 2;

/**
 * Builds indexes on the committed copy on pooled connections, ASIDE_CONNECTIONS at a time,
 * GIN first (the slowest). Each build is its own statement: CREATE INDEX takes a SHARE lock,
 * which lets the others and the comparison's reads go on.
 */
async function buildIndexesAside(db: Kysely<any>, scratch: string, definitions: readonly IndexDefinition[], timing: RebuildTiming): Promise<void> {
  const queue = definitions
    .map((d) => ({ name: d.name, statement: d.aside!.index(scratch) }))
    .sort((x, y) => Number(!/ USING gin /i.test(x.statement)) - Number(!/ USING gin /i.test(y.statement)));
  let failure: unknown = null;
  const worker = async () => {
    for (let next = queue.shift(); next !== undefined && failure === null; next = queue.shift()) {
      const { name, statement } = next;
      try {
        await timing.index(name, () =>
          db.transaction().execute(async (t) => {
            await t.executeQuery(CompiledQuery.raw(NO_STATEMENT_TIMEOUT));
            await t.executeQuery(CompiledQuery.raw(`set local maintenance_work_mem = '256MB'`));
            await t.executeQuery(CompiledQuery.raw(statement));
          }),
        );
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(ASIDE_CONNECTIONS, queue.length) }, worker));
  if (failure !== null) throw failure;
}

interface IndexDefinition {
  name: string;
  primary: boolean;
  /** Columns the index covers (for a compare, which builds only the stream_id lookup). */
  columns: string[];
  /** The statement creating it on `table` (a constraint for constraint-backed indexes). */
  create(table: string): string;
  /**
   * Building it on the committed copy beside other work: the index alone (CREATE INDEX,
   * a SHARE lock), then `attach` (constraint-backed ones: ADD CONSTRAINT … USING INDEX, a
   * catalog change) once the builds are done. Null: only `create` will do.
   */
  aside: { index(table: string): string; attach: ((table: string) => string) | null } | null;
}

/**
 * The live projection table's indexes, as statements re-creating them under the same
 * names on another table: constraint-backed ones (primary key, unique) as constraints
 * (`pg_get_constraintdef`), the others from `pg_get_indexdef` with the table replaced.
 */
async function indexDefinitions(tx: Transaction<any>, schema: string): Promise<IndexDefinition[]> {
  const { rows } = await tx.executeQuery<{ name: string; def: string; primary: boolean; constraint: string | null; condef: string | null; columns: string[] | string }>(
    CompiledQuery.raw(
      `select i.relname as name, pg_get_indexdef(i.oid) as def, x.indisprimary as primary,
              c.conname as constraint, pg_get_constraintdef(c.oid) as condef,
              array(select a.attname::text from unnest(x.indkey) k join pg_attribute a on a.attrelid = x.indrelid and a.attnum = k) as columns
         from pg_index x join pg_class i on i.oid = x.indexrelid
         left join pg_constraint c on c.conindid = x.indexrelid and c.conrelid = x.indrelid
        where x.indrelid = to_regclass($1)
        order by x.indisprimary desc, i.relname`,
      [`${ident(schema)}.claims`],
    ),
  );
  return rows.map((r) => {
    const columns = parseTextArray(r.columns);
    const match = /^CREATE (UNIQUE )?INDEX \S+ ON (?:ONLY )?\S+ (USING [\s\S]*)$/.exec(r.def);
    const index = match ? (table: string) => `create ${match[1] ?? ''}index ${ident(r.name)} on ${table} ${match[2]!}` : null;
    if (r.constraint !== null && r.condef !== null) {
      const { constraint, condef } = r;
      // A plain UNIQUE constraint can be attached to its finished index; a deferrable one,
      // a primary key or an exclusion constraint is only ever created whole.
      const attachable = index !== null && !r.primary && /^UNIQUE (NULLS NOT DISTINCT )?\(/.test(condef) && !/DEFERRABLE/i.test(condef);
      return {
        name: r.name,
        primary: r.primary,
        columns,
        create: (table: string) => `alter table ${table} add constraint ${ident(constraint)} ${condef}`,
        aside: attachable ? { index, attach: (table: string) => `alter table ${table} add constraint ${ident(constraint)} unique using index ${ident(r.name)}` } : null,
      };
    }
    if (!index) throw new Error(`rebuild: cannot re-create index ${r.name}: ${r.def}`);
    return { name: r.name, primary: r.primary, columns, create: index, aside: { index, attach: null } };
  });
}

/** Index name and its definition with names stripped, to match a copy with its original. */
async function indexesOf(tx: Transaction<any>, schema: string, table: string): Promise<{ name: string; shape: string }[]> {
  const { rows } = await tx.executeQuery<{ name: string; def: string }>(
    CompiledQuery.raw(
      `select i.relname as name, pg_get_indexdef(i.oid) as def
         from pg_index x join pg_class i on i.oid = x.indexrelid
         join pg_class t on t.oid = x.indrelid join pg_namespace n on n.oid = t.relnamespace
        where n.nspname = $1 and t.relname = $2`,
      [schema, table],
    ),
  );
  return rows.map((r) => ({ name: r.name, shape: r.def.replace(/INDEX \S+ ON \S+/, 'INDEX ON') }));
}

function parseTextArray(value: string[] | string): string[] {
  if (Array.isArray(value)) return value;
  const inner = value.replace(/^\{|\}$/g, '');
  return inner === '' ? [] : inner.split(',');
}
