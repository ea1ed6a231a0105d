/**
 * Reading the log: one stream by version, the whole log by position, a stream's version,
 * the head position. Plain statements on whatever connection or transaction is given.
 */
import type { Kysely } from 'kysely';
import { EVENT_COLUMNS as COLUMNS, q, toRecorded, type EventRow as Row } from './row.ts';
import type { Head } from './prepare.ts';
import type { PositionedEvent, ReadAllOptions, ReadAllResult, ReadStreamOptions, RecordedEvent } from './types.ts';

export async function readStream(db: Kysely<any>, streamId: string, options: ReadStreamOptions): Promise<RecordedEvent[]> {
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
  const { rows } = await db.executeQuery<Row>(q(`select ${COLUMNS} from events where ${where} order by version${limit}`, params));
  return rows.map(toRecorded);
}

/** Whether a `readStream` with these options ends at the stream's head (it read to the end). */
export function readsToHead(options: ReadStreamOptions): boolean {
  return options.toVersion === undefined && options.until === undefined && options.limit === undefined;
}

export async function readAll(db: Kysely<any>, options: ReadAllOptions): Promise<ReadAllResult> {
  const after = options.after ?? 0;
  const limit = Math.max(1, Math.min(options.limit ?? 1000, 10_000));
  const { rows } = await db.executeQuery<Row>(
    q(`select ${COLUMNS} from events where position > $1 order by position limit $2`, [after, limit]),
  );
  const events = rows.map(toRecorded) as PositionedEvent[];
  const last = events[events.length - 1];
  return { events, next: last ? last.position : after };
}

/** Every positioned event after `after`, page by page (bounded memory). */
export async function* streamAll(db: Kysely<any>, options: ReadAllOptions & { batchSize?: number }): AsyncIterable<PositionedEvent> {
  let after = options.after ?? 0;
  const batch = options.batchSize ?? 1000;
  let remaining = options.limit ?? Number.POSITIVE_INFINITY;
  while (remaining > 0) {
    const page = await readAll(db, { after, limit: Math.min(batch, remaining) });
    for (const event of page.events) yield event;
    remaining -= page.events.length;
    after = page.next;
    if (page.events.length < Math.min(batch, remaining + page.events.length)) return;
  }
}

export async function streamVersion(db: Kysely<any>, streamId: string): Promise<number> {
  const { rows } = await db.executeQuery<{ version: number | null }>(
    q('select max(version) as version from events where stream_id = $1', [streamId]),
  );
  return rows[0]?.version ?? 0;
}

/** The last version of each of `streams` that has one. */
export async function streamVersions(db: Kysely<any>, streams: string[]): Promise<Map<string, number>> {
  const { rows } = await db.executeQuery<{ stream_id: string; version: number }>(
    q('select stream_id, max(version)::int as version from events where stream_id = any($1::text[]) group by stream_id', [[...new Set(streams)]]),
  );
  return new Map(rows.map((row) => [row.stream_id, Number(row.version)]));
}

export async function readHead(db: Kysely<any>, streamId: string): Promise<Head> {
  const { rows } = await db.executeQuery<{ version: number; hash: string }>(
    q('select version, hash from events where stream_id = $1 order by version desc limit 1', [streamId]),
  );
  const row = rows[0];
  return row ? { version: row.version, hash: row.hash } : { version: 0, hash: null };
}

export async function headPosition(db: Kysely<any>): Promise<number> {
  const { rows } = await db.executeQuery<{ head: string | number | null }>(
    q('select max(position) as head from events where position is not null'),
  );
  return Number(rows[0]?.head ?? 0);
}

/** How many committed events (visible to this connection) still wait for a position. */
export async function unpositionedCount(db: Kysely<any>): Promise<number> {
  const { rows } = await db.executeQuery<{ n: number }>(q('select count(*)::int as n from events where position is null'));
  return rows[0]?.n ?? 0;
}
