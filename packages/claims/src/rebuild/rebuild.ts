import { CompiledQuery, type Transaction } from 'kysely';
import { evolve, initialClaimState, toClaimView, toEnvelope, type ClaimState, type ClaimView } from '@claimtrail/domain';
import { readStreamIn, streamHeadsAfter, type Database, type EventStore } from '@claimtrail/event-store';
import { claimIdOfStream } from '../events.ts';
import { PROJECTION_BATCH_ROWS, stateFromView, type ClaimProjectionRow } from '../projection.ts';
import { buildScratch, type ScratchBuild } from './build.ts';
import { comparedColumns, differences, differingColumnsSql, mergeDiffs } from './compare.ts';
import { buildIndexesAside } from './indexes.ts';
import { ident, NO_STATEMENT_TIMEOUT, REBUILD_SCHEMA, useLz4 } from './sql.ts';
import { swapIntoPlace } from './swap.ts';
import { RebuildTiming } from './timing.ts';
import type { ProjectionDiff, RebuildMode, RebuildOptions, RebuildResult } from './types.ts';
import { writeRebuiltRows } from './writer.ts';

/**
 * Rebuilding the projections from the events.
 *
 * Two transactions on one connection, which holds a session-level advisory lock for the
 * whole run (rebuilds and compares share the scratch schema):
 * 1. `buildScratch`: the projection is folded from the event log into a fresh copy of the
 *    table (`CREATE TABLE … (LIKE claims INCLUDING ALL EXCLUDING INDEXES)` in a scratch
 *    schema, unlogged for a compare), written with the same values as the service's
 *    projection writer (writer.ts, in batches of `PROJECTION_BATCH_ROWS` rows, found
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
 * (the event store's scan.ts), each batch's search vectors (two to_tsvector per row) are computed on a
 * pooled connection, and the run's connection only writes, with a binary COPY … FROM STDIN
 * (`CopyRowsBuilder`/`copyEncodedRows` in writer.ts: the same column values, far
 * less database work per row than the INSERT); this process folds meanwhile (it reads only
 * the columns the fold needs). The catch-up, rows the binary encoding does not cover and
 * PGlite keep the INSERT writer.
 *
 * The modules: build.ts (the first transaction), fold-envelope.ts (the fold's input),
 * writer.ts (the bulk writers), compare.ts, indexes.ts, swap.ts; this one runs the two
 * transactions, the lock, the catch-up and the choice between compare and swap.
 */

/** The projection tables the rebuild owns (all in the live schema). */
export const PROJECTION_TABLES = ['claims'] as const;
// Serialises rebuilds (and compares) across processes: they share the scratch schema.
const ADVISORY_KEY = 4242101;

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
  const timing = new RebuildTiming(mode, options.onTimings);
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
    const behind = await streamsBehind(tx, built);
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
      const missing = await readStreamIn(tx, row.stream_id, from, Number(row.head));
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

    // Phase 4: swap (swap.ts).
    progress({ phase: 'swap', events, claims });
    await swapIntoPlace(tx, built);
    timing.lap('swap');
    timing.report();
    progress({ phase: 'done', events, claims });
    return { mode, claims, events, differences: found.count, diffs: found.diffs, swapped: true, durationMs: Date.now() - started };
  } finally {
    // A failure above leaves no build running on the copy when the transaction ends.
    await indexesAside.catch(() => undefined);
  }
}

/**
 * The claim streams with events the build cannot have seen (see `positionBefore`), each with
 * its head version and the version its copy holds (0: none), where the head is ahead.
 */
async function streamsBehind(tx: Transaction<any>, built: ScratchBuild): Promise<{ stream_id: string; head: number; version: number }[]> {
  const heads = await streamHeadsAfter(tx, built.positionBefore, 'claim-');
  if (heads.length === 0) return [];
  const { rows } = await tx.executeQuery<{ stream_id: string; version: number }>(
    CompiledQuery.raw(`select stream_id, version from ${built.scratch} where stream_id = any($1::text[])`, [heads.map((h) => h.streamId)]),
  );
  const copied = new Map(rows.map((r) => [r.stream_id, Number(r.version)]));
  return heads
    .map((h) => ({ stream_id: h.streamId, head: h.head, version: copied.get(h.streamId) ?? 0 }))
    .filter((h) => h.head > h.version);
}
