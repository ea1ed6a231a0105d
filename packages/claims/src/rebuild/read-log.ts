import { CompiledQuery, type Kysely, type Transaction } from 'kysely';
import type { ClaimEventEnvelope } from '@claimtrail/domain';
import type { EventMetadata, JsonObject, RecordedEvent } from '@claimtrail/event-store';
import { copyOutRows, PG_EPOCH_SECONDS, type CopyTuple } from '../copy-out.ts';
import { ident, NO_STATEMENT_TIMEOUT } from './sql.ts';

/**
 * The rebuild's reads of the event log: the whole log ordered by (stream_id, version) for
 * the fold (a binary COPY on PostgreSQL with concurrent reads, keyset pages otherwise), one
 * stream's events in the caller's transaction (the catch-up, the single-claim check), the
 * log's head position and the streams that moved past it. The only module of this package
 * that names the event store's table.
 */

const EVENTS_TABLE = 'events';
const EVENT_COLUMNS = 'id, stream_id, version, type, data, metadata, recorded_at, hash, prev_hash, position';

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

export interface FoldRow {
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
export function foldEnvelope(row: FoldRow, version: number): ClaimEventEnvelope {
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

export async function readStreamRows(
  tx: Transaction<any>,
  schema: string,
  streamId: string,
  afterVersion: number,
  upToVersion: number,
): Promise<RecordedEvent[]> {
  const { rows } = await tx.executeQuery<EventRow>(
    CompiledQuery.raw(
      `select ${EVENT_COLUMNS} from ${eventsTable(schema)}
        where stream_id = $1 and version > $2 and version <= $3 order by version`,
      [streamId, afterVersion, upToVersion],
    ),
  );
  return rows.map(toRecordedEvent);
}

function eventsTable(schema: string): string {
  return `${ident(schema)}.${EVENTS_TABLE}`;
}

/**
 * The log's highest position now. An event a read started after this does not see committed
 * later, so it has no position yet or one above this (the sequencer numbers committed events
 * only, each pass above every number committed before it).
 */
export async function logHeadPosition(tx: Transaction<any>, schema: string): Promise<number> {
  const { rows } = await tx.executeQuery<{ position: string }>(
    CompiledQuery.raw(`select coalesce(max(position), 0)::text as position from ${eventsTable(schema)} where position is not null`),
  );
  return Number(rows[0]!.position);
}

/**
 * Every event as the fold reads it (`FoldRow`), ordered by (stream_id, version) through the
 * unique index, in keyset pages of `batchSize` read on `tx`.
 */
export async function* foldRowPages(tx: Transaction<any>, schema: string, batchSize: number): AsyncGenerator<FoldRow[]> {
  let afterStream = '';
  let afterVersion = 0;
  for (;;) {
    const { rows } = await tx.executeQuery<FoldRow>(
      CompiledQuery.raw(
        `select ${FOLD_COLUMNS} from ${eventsTable(schema)} where (stream_id, version) > ($1, $2) order by stream_id, version limit $3`,
        [afterStream, afterVersion, batchSize],
      ),
    );
    if (rows.length > 0) yield rows;
    const last = rows[rows.length - 1];
    if (!last || rows.length < batchSize) return;
    afterStream = last.stream_id;
    afterVersion = Number(last.version);
  }
}

/**
 * Every event as the fold reads it, in the same order, streamed by ONE binary
 * `COPY (…) TO STDOUT` in a transaction of its own on a pooled connection of `db`
 * (PostgreSQL): `consume` reads the pages while the COPY runs.
 */
export async function withFoldRowsByCopy(db: Kysely<any>, schema: string, consume: (pages: AsyncIterable<FoldRow[]>) => Promise<void>): Promise<void> {
  await db.transaction().execute(async (readTx) => {
    await readTx.executeQuery(CompiledQuery.raw(NO_STATEMENT_TIMEOUT));
    // The index already holds the order: without this the planner sorts the whole table
    // (a parallel sort, spilling to disk past work_mem).
    await readTx.executeQuery(CompiledQuery.raw('set local enable_sort = off'));
    // A whole-table plan costs past jit_above_cost; compiling it would only add time.
    await readTx.executeQuery(CompiledQuery.raw('set local jit = off'));
    await consume(copyOutRows(readTx, `select ${FOLD_COPY_COLUMNS} from ${eventsTable(schema)} order by stream_id, version`, foldRowReader()));
  });
}

/**
 * The claim streams with events the build cannot have seen (committed after `positionBefore`:
 * no position yet, or one above it: both index ranges), each with its head version and the
 * version its copy in `scratch` holds (0: none), where the head is ahead of the copy.
 */
export async function streamsMovedSince(
  tx: Transaction<any>,
  schema: string,
  positionBefore: number,
  scratch: string,
): Promise<{ stream_id: string; head: number; version: number }[]> {
  const { rows } = await tx.executeQuery<{ stream_id: string; head: number; version: number }>(
    CompiledQuery.raw(
      `select h.stream_id, h.head, coalesce(r.version, 0) as version
         from (select stream_id, max(version) as head from ${eventsTable(schema)}
                where (position > $1 or position is null) and stream_id like 'claim-%' group by stream_id) h
         left join ${scratch} r on r.stream_id = h.stream_id
        where h.head > coalesce(r.version, 0)`,
      [positionBefore],
    ),
  );
  return rows;
}
