import { CompiledQuery, type Kysely, type Transaction } from 'kysely';
import { copyOutRows, PG_EPOCH_SECONDS, type CopyTuple } from './copy-out.ts';
import type { EventMetadata, JsonObject, RecordedEvent } from './types.ts';

/**
 * Reads for a projection rebuilt from the whole log (the store's table named here only):
 * every event ordered by (stream_id, version), in the cheap form a fold reads (keyset pages
 * on the caller's transaction, or ONE binary `COPY (…) TO STDOUT` on a pooled connection of
 * its own); one stream's events, the log's head position and the streams that moved past a
 * position, all inside the caller's transaction (its snapshot, its locks).
 */

const SCAN_EVENT_COLUMNS = 'id, stream_id, version, type, data, metadata, recorded_at, hash, prev_hash, position';

interface ScannedEventRow {
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

function toRecordedEvent(row: ScannedEventRow): RecordedEvent {
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
 * A fold over the log reads only what it needs, in forms cheap to parse: the actor instead
 * of the whole metadata, the recorded instant as whole epoch seconds plus microseconds
 * (numbers) instead of timestamptz text, no id, position or prev_hash. `date_part` (float8)
 * rather than `extract` (numeric, several times slower per row): whole seconds divide
 * exactly, and the seconds field in microseconds (seconds × 10⁶ + µs, below 6·10⁷) is an
 * exact integer; the fold takes it modulo 10⁶.
 */
const FOLD_COLUMNS = `stream_id, version, type, data, metadata->>'actor' as actor,
  date_part('epoch', date_trunc('second', recorded_at)) as at_s,
  date_part('microseconds', recorded_at) as at_us, hash`;

/** An event as a scan of the whole log yields it (the columns as selected: see FOLD_COLUMNS). */
export interface ScanRow {
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
function scanRowReader(): (tuple: CopyTuple) => ScanRow {
  let streamBytes: Buffer = Buffer.alloc(0);
  let streamId = '';
  return (t) => {
    if (t.count !== 7) throw new Error(`scan: an event row of ${t.count} fields from COPY`);
    if (!t.equals(0, streamBytes)) {
      streamBytes = t.bytes(0);
      streamId = t.text(0)!;
    }
    // jsonb's binary form: a format version byte (1), then the text.
    if (t.byte(3) !== 1) throw new Error(`scan: jsonb binary format ${t.byte(3)} is not one this reader knows`);
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

/** One stream's events after `afterVersion` up to `upToVersion`, read in `tx` (its snapshot). */
export async function readStreamIn(
  tx: Transaction<any>,
  streamId: string,
  afterVersion: number,
  upToVersion: number,
): Promise<RecordedEvent[]> {
  const { rows } = await tx.executeQuery<ScannedEventRow>(
    CompiledQuery.raw(
      `select ${SCAN_EVENT_COLUMNS} from events
        where stream_id = $1 and version > $2 and version <= $3 order by version`,
      [streamId, afterVersion, upToVersion],
    ),
  );
  return rows.map(toRecordedEvent);
}

/**
 * The log's highest position now, read in `tx`. An event a read started after this does not
 * see committed later, so it has no position yet or one above this (the sequencer numbers
 * committed events only, each pass above every number committed before it).
 */
export async function headPositionIn(tx: Transaction<any>): Promise<number> {
  const { rows } = await tx.executeQuery<{ position: string }>(
    CompiledQuery.raw(`select coalesce(max(position), 0)::text as position from events where position is not null`),
  );
  return Number(rows[0]!.position);
}

/**
 * Every event as a fold reads it (`ScanRow`), ordered by (stream_id, version) through the
 * unique index, in keyset pages of `batchSize` read on `tx`.
 */
export async function* scanByStreamPages(tx: Transaction<any>, batchSize: number): AsyncGenerator<ScanRow[]> {
  let afterStream = '';
  let afterVersion = 0;
  for (;;) {
    const { rows } = await tx.executeQuery<ScanRow>(
      CompiledQuery.raw(
        `select ${FOLD_COLUMNS} from events where (stream_id, version) > ($1, $2) order by stream_id, version limit $3`,
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
 * Every event as a fold reads it, in the same order, streamed by ONE binary
 * `COPY (…) TO STDOUT` in a transaction of its own on a pooled connection of `db`
 * (PostgreSQL through pg): `consume` reads the pages while the COPY runs. The read takes
 * as long as the log is long: the pool's statement timeout is lifted for it.
 */
export async function withScanByStreamCopy(db: Kysely<any>, consume: (pages: AsyncIterable<ScanRow[]>) => Promise<void>): Promise<void> {
  await db.transaction().execute(async (readTx) => {
    await readTx.executeQuery(CompiledQuery.raw('set local statement_timeout = 0'));
    // The index already holds the order: without this the planner sorts the whole table
    // (a parallel sort, spilling to disk past work_mem).
    await readTx.executeQuery(CompiledQuery.raw('set local enable_sort = off'));
    // A whole-table plan costs past jit_above_cost; compiling it would only add time.
    await readTx.executeQuery(CompiledQuery.raw('set local jit = off'));
    await consume(copyOutRows(readTx, `select ${FOLD_COPY_COLUMNS} from events order by stream_id, version`, scanRowReader()));
  });
}

/**
 * The streams whose id starts with `streamPrefix` that have events committed after
 * `position` (no position yet, or one above it: both index ranges), with their head version,
 * read in `tx`.
 */
export async function streamHeadsAfter(tx: Transaction<any>, position: number, streamPrefix: string): Promise<{ streamId: string; head: number }[]> {
  const { rows } = await tx.executeQuery<{ stream_id: string; head: number }>(
    CompiledQuery.raw(
      `select stream_id, max(version) as head from events
        where (position > $1 or position is null) and starts_with(stream_id, $2) group by stream_id`,
      [position, streamPrefix],
    ),
  );
  return rows.map((r) => ({ streamId: r.stream_id, head: Number(r.head) }));
}
