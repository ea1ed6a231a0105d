/**
 * `append` to one stream: the guarded multi-row INSERT (one statement, one round trip when
 * the head is known), the head cache behind it, idempotent replays by event id, and the two
 * ways it runs — autocommit (named statements, retries on a stale head) or inside the
 * caller's transaction. Input checks and hashing are in prepare.ts.
 */
import type { CompiledQuery, Kysely, Transaction } from 'kysely';
import { ConcurrencyError, IdempotencyConflictError } from './errors.ts';
import { canonicalJson } from './hash.ts';
import type { LruMap } from './lru.ts';
import { chain, matches, type Head, type Prepared } from './prepare.ts';
import { readHead, streamVersion } from './reads.ts';
import { EVENT_COLUMNS as COLUMNS, isUniqueViolation, q, toRecorded, type EventRow as Row } from './row.ts';
import type { RunStatement } from './statements.ts';
import type { AppendResult, Database, ExpectedVersion, RecordedEvent } from './types.ts';

/** Appends of up to this many events use a named (prepared) statement per connection; see README. */
const MAX_PREPARED_EVENTS = 100;

/** What the append paths use of the store. */
export interface AppendContext {
  readonly db: Kysely<any>;
  readonly kind: Database['kind'];
  /** Stream heads remembered by appends and whole-stream reads (LRU). */
  readonly heads: LruMap<string, Head>;
  readonly run: RunStatement;
  /** Records that `tx` appended: the store wakes the sequencer after it commits. */
  appendedIn(tx: Transaction<any>): void;
}

/** An append of no events: only the expectation is checked. */
export async function appendNothing(
  db: Kysely<any>,
  streamId: string,
  expected: ExpectedVersion,
): Promise<AppendResult> {
  const version = await streamVersion(db, streamId);
  if (!matches(expected, version)) throw new ConcurrencyError(streamId, expected, version);
  return { streamId, nextExpectedVersion: version, events: [], replayed: false };
}

/** One round trip when the stream head is known (cache, or `no_stream`). */
export async function appendAutocommit(
  ctx: AppendContext,
  streamId: string,
  prepared: Prepared[],
  expected: ExpectedVersion,
  suppliedIds: boolean,
): Promise<AppendResult> {
  let refresh = false;
  for (let attempt = 0; ; attempt++) {
    const head = await headFor(ctx, streamId, expected, refresh);
    if (!matches(expected, head.version)) {
      if (suppliedIds) {
        const replay = await replayed(ctx.db, streamId, prepared);
        if (replay) return replay;
      }
      throw new ConcurrencyError(streamId, expected, head.version);
    }
    const recordedAt = new Date();
    const { events, query, name } = buildInsert(streamId, prepared, head, recordedAt);
    try {
      const result = await ctx.run(name, query.sql, query.parameters as unknown[]);
      if (result.rowCount === prepared.length) {
        const last = events[events.length - 1]!;
        ctx.heads.set(streamId, { version: last.version, hash: last.hash });
        return { streamId, nextExpectedVersion: last.version, events, replayed: false };
      }
      // The cached head was not in the table (other database, rolled back tx): re-read.
      ctx.heads.delete(streamId);
      refresh = true;
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      ctx.heads.delete(streamId);
      refresh = true;
      if (suppliedIds) {
        const replay = await replayed(ctx.db, streamId, prepared);
        if (replay) return replay;
      }
      // An exact expectation lost the race: report it. 'any'/'stream_exists' retry on the new head.
      if (typeof expected === 'number' || expected === 'no_stream' || attempt >= 20) {
        const actual = await streamVersion(ctx.db, streamId);
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
export async function appendInTransaction(
  ctx: AppendContext,
  tx: Transaction<any>,
  streamId: string,
  prepared: Prepared[],
  expected: ExpectedVersion,
  suppliedIds: boolean,
  given: Head | undefined,
): Promise<AppendResult> {
  if (suppliedIds) {
    const replay = await replayed(tx, streamId, prepared);
    if (replay) return replay;
  }
  // A head from the caller saves the read; if it does not meet the expectation, the real
  // head decides (so a ConcurrencyError always reports the stream's actual version).
  let head = given ?? (await readHead(tx, streamId));
  if (given && !matches(expected, head.version)) head = await readHead(tx, streamId);
  if (!matches(expected, head.version)) throw new ConcurrencyError(streamId, expected, head.version);
  const { events, query } = buildInsert(streamId, prepared, head, new Date());
  try {
    const result = await tx.executeQuery(query);
    if (Number(result.numAffectedRows ?? 0n) !== prepared.length) {
      // The guard found no event (streamId, version, hash): the given head is not real.
      throw new ConcurrencyError(streamId, expected, await streamVersion(tx, streamId));
    }
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    // Another transaction committed this version first; ours is now aborted.
    const actual = ctx.kind === 'postgres' ? await streamVersion(ctx.db, streamId).catch(() => head.version + 1) : head.version + 1;
    throw new ConcurrencyError(streamId, expected, actual, { cause: error });
  }
  ctx.appendedIn(tx);
  const last = events[events.length - 1]!;
  return { streamId, nextExpectedVersion: last.version, events, replayed: false };
}

/**
 * The single-stream INSERT of `prepared` chained after `head`. With a head, a guard proves
 * the head is a real event; the unique (stream_id, version) index proves nobody appended
 * after it.
 */
function buildInsert(
  streamId: string,
  prepared: Prepared[],
  head: Head,
  recordedAtDate: Date,
): { events: RecordedEvent[]; query: CompiledQuery; name: string | undefined } {
  const recordedAt = recordedAtDate.toISOString();
  const params: unknown[] = [streamId, recordedAt];
  const values: string[] = [];
  const { events, rows } = chain(streamId, prepared, head, recordedAtDate, recordedAt);
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

async function headFor(ctx: AppendContext, streamId: string, expected: ExpectedVersion, refresh: boolean): Promise<Head> {
  if (expected === 'no_stream' && !refresh) return { version: 0, hash: null };
  if (!refresh) {
    const cached = ctx.heads.get(streamId);
    if (cached && (typeof expected !== 'number' || cached.version === expected)) return cached;
  }
  const head = await readHead(ctx.db, streamId);
  if (head.version > 0) ctx.heads.set(streamId, head);
  return head;
}

/** The original result when every id exists as this exact batch; null when none exists. */
async function replayed(db: Kysely<any>, streamId: string, prepared: Prepared[]): Promise<AppendResult | null> {
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
