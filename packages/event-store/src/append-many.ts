/**
 * `appendMany`: several streams in ONE statement inside the caller's transaction — the
 * events as parallel arrays, each stream chained to the head its caller holds and guarded
 * by it, all or nothing — and `prepareAppendMany`, the same statement for a caller that
 * sends it itself.
 */
import type { Kysely, Transaction } from 'kysely';
import { ConcurrencyError, InvalidEventError } from './errors.ts';
import { chain, checkHead, checkStream, MAX_PARAMS_EVENTS, prepareEvents } from './prepare.ts';
import { streamVersions } from './reads.ts';
import { isUniqueViolation, q } from './row.ts';
import type { AppendContext } from './append.ts';
import type { AppendResult, PreparedAppend, StreamAppend } from './types.ts';

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

/**
 * Whether a statement from `prepareAppendMany`, run by the caller, failed because a stream
 * had moved on past the head it was given (its next version was taken: the transaction is
 * aborted, nothing of it was written).
 */
export function isAppendConflict(error: unknown): boolean {
  return isUniqueViolation(error);
}

/** See `EventStore.prepareAppendMany`: checks, numbers and hashes; sends nothing. */
export function prepareAppendMany(appends: StreamAppend[]): PreparedAppend {
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
    const { events, rows } = chain(streamId, prepared, head, recordedAtDate, recordedAt);
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

/** Runs a prepared `appendMany` in `tx`; a wrong or taken head → the ConcurrencyError naming it. */
export async function appendManyIn(
  ctx: AppendContext,
  tx: Transaction<any>,
  appends: StreamAppend[],
  prepared: PreparedAppend,
): Promise<AppendResult[]> {
  const { results, rows: total, guards } = prepared;
  if (total === 0) return results;
  const streams = results.flatMap((r) => r.events.map(() => r.streamId));
  // One statement text whatever the batch: prepared once per connection on PostgreSQL.
  const compiled =
    ctx.kind === 'postgres' ? { ...prepared.query, sql: { name: prepared.statementName, text: APPEND_MANY_SQL } as unknown as string } : prepared.query;
  let inserted: number;
  try {
    const result = await tx.executeQuery(compiled);
    inserted = Number(result.numAffectedRows ?? 0n);
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    // A concurrent transaction committed one of these versions first; ours is aborted, so
    // the actual versions are read outside it (PGlite has no other connection: a guess).
    const reader = ctx.kind === 'postgres' ? ctx.db : null;
    throw await staleHeadError(reader, appends, streams, error);
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
    throw await staleHeadError(tx, appends.filter((a) => a.streamId === rows[0]?.stream_id), streams);
  }
  ctx.appendedIn(tx);
  return results;
}

/** The ConcurrencyError of a failed `appendMany`: the first stream whose head was not its real one. */
async function staleHeadError(db: Kysely<any> | null, appends: StreamAppend[], streams: string[], cause?: unknown): Promise<ConcurrencyError> {
  const withEvents = appends.filter((a) => a.events.length > 0);
  if (withEvents.length === 0) return new ConcurrencyError(streams[0] ?? '', 'any', 0, cause === undefined ? undefined : { cause });
  const actual = db ? await streamVersions(db, streams) : new Map<string, number>();
  // Without a reader, the unique violation's detail names the stream and the taken version.
  const taken = /\(stream_id, version\)=\((.+), (\d+)\)/.exec(String((cause as { detail?: unknown } | undefined)?.detail ?? ''));
  const stale =
    (db ? withEvents.find((a) => (actual.get(a.streamId) ?? 0) !== a.head.version) : withEvents.find((a) => a.streamId === taken?.[1])) ??
    withEvents[0]!;
  const expected = stale.head.version === 0 ? 'no_stream' : stale.head.version;
  const current = actual.get(stale.streamId) ?? (db ? 0 : taken ? Number(taken[2]) : stale.head.version + 1);
  return new ConcurrencyError(stale.streamId, expected, current, cause === undefined ? undefined : { cause });
}
