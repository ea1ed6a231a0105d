import { CompiledQuery, type Transaction } from 'kysely';
import { evolve, initialClaimState, toClaimView, type ClaimState } from '@claimtrail/domain';
import { headPositionIn, scanByStreamPages, withScanByStreamCopy, type EventStore, type ScanRow } from '@claimtrail/event-store';
import { PROJECTION_BATCH_ROWS, type ClaimProjectionRow } from '../projection.ts';
import { indexDefinitions, type IndexDefinition } from './indexes.ts';
import { foldEnvelope } from './fold-envelope.ts';
import { ident, liveSchema, NO_STATEMENT_TIMEOUT, quoteLiteral, REBUILD_SCHEMA, useLz4 } from './sql.ts';
import type { RebuildTiming } from './timing.ts';
import type { RebuildMode, RebuildOptions } from './types.ts';
import { copyEncodedRows, CopyRowsBuilder, encodeRebuiltRows, searchVectors, writeEncodedRows, writeRebuiltRows, type KeepSeq } from './writer.ts';

/**
 * The rebuild's first transaction: the projection folded from the event log into a fresh
 * copy of the table in the scratch schema (see rebuild.ts for the whole run).
 */

/** Projection batches in flight on the transaction's connection during the build. */
const WRITE_WINDOW = 2;
/** The fold yields to the event loop every this many events (see the build loop). */
const YIELD_EVERY_ROWS = 500;
/** Build progress is reported every this many events (a multiple of YIELD_EVERY_ROWS). */
const PROGRESS_EVERY_ROWS = 5000;

/** What the build leaves for the second transaction. */
export interface ScratchBuild {
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

/**
 * The first transaction: folds the log into a fresh copy of the projection table in the
 * scratch schema and commits it, with the indexes the second one needs to look rows up.
 */
export async function buildScratch(store: EventStore, tx: Transaction<any>, mode: RebuildMode, options: RebuildOptions, timing: RebuildTiming): Promise<ScratchBuild> {
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
  // row's seq by id (a join, see rebuild/writer.ts), the column default for a claim the live
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
  // COPY (see rebuild/writer.ts), which cannot resolve a conflict, so a claim id met twice
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
  // `COPY (…) TO STDOUT` (the event store's scan.ts), streamed while the transaction's connection
  // writes; what that snapshot misses (committed later) the catch-up adds under the lock.
  // Otherwise (PGlite) they are read on the transaction, keyset-paged.
  const positionBefore = await headPositionIn(tx);
  timing.lap('setup');
  progress({ phase: 'build', events, claims });
  const foldPages = async (pages: AsyncIterable<ScanRow[]>) => {
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
  if (concurrent) await withScanByStreamCopy(store.db, foldPages);
  else await foldPages(scanByStreamPages(tx, batchSize));
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
