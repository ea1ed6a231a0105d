/**
 * `npm run bench:transparency`: the log's Merkle tree (tree.ts) in one run against its own
 * baselines:
 *   - appends (8 connections, single-event appends, rounds of ROUND_MS) with the tree
 *     extender running beside them every second (the service runs it every
 *     CHECKPOINT_INTERVAL_MS, default 2 s), against the same appends without it (alternating
 *     ABBA rounds, medians);
 *   - the time to bring the tree and a signed checkpoint over NEW new events on top of a log
 *     of TOTAL − NEW, and that extension rate (leaves/s, passes of 20,000) against raw
 *     multi-row inserts of the same NEW rows (rows/s) in the same run;
 *   - inclusion and consistency proof latency at TOTAL leaves (median, p99: O(log n) stored
 *     nodes in one query, plus at most two 64-leaf edges computed from the events).
 * BENCH_TREE_EVENTS sets TOTAL (default 1,000,000); BENCH_KEEP=1 keeps the database.
 * Uses DATABASE_URL (or the local server) only to create and drop its own database. Prints
 * a table, then one JSON line. BENCH_QUICK=1 for a short run.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { consistencyProof, formatCheckpoint, generateSignerKey, inclusionProof, parseSignerKey, signNote, treeRoot } from '@claimtrail/transparency';
import {
  createEventStore,
  eventStoreMigrations,
  extendTree,
  extendTreeToHead,
  migrateToLatest,
  openDatabase,
  storedConsistencyProof,
  storedInclusionProof,
  storedTreeRoot,
  treeSize,
  withStoredNodes,
  type EventStore,
  type NewEvent,
} from '../src/index.ts';

const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const quick = process.env.BENCH_QUICK === '1';
const ROUND_MS = quick ? 1500 : 5000;
const ROUNDS = quick ? 2 : 6;
const TOTAL = Number(process.env.BENCH_TREE_EVENTS ?? (quick ? 100_000 : 1_000_000));
const NEW = Math.min(TOTAL, quick ? 20_000 : 200_000);
const PROOFS = quick ? 100 : 500;
/** The extender's cadence beside the appends: half the service's default CHECKPOINT_INTERVAL_MS (2000). */
const EXTEND_EVERY_MS = 1000;

const payload = { claimId: 'c-1', text: 'The village of Tyotkino is in the Kursk region', sources: ['a', 'b'], n: 42 };
const newEvent = (i: number): NewEvent => ({ type: 'ClaimNoted', data: { ...payload, i }, metadata: { actor: 'bench' } });

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const name = `bench_tree_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database "${name}"`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const database = await openDatabase({ databaseUrl: url.toString(), poolSize: 10, onError: () => undefined });
  const raw = new pg.Pool({ connectionString: url.toString(), max: 2 });
  raw.on('error', () => undefined);
  let store: EventStore | undefined;
  try {
    await migrateToLatest(database.db, eventStoreMigrations);
    await raw.query('create table raw_events (like events including all)');
    store = createEventStore(database);
    const s = store;
    const db = database.db;

    // -- appends with and without the extender beside them, for ROUND_MS each
    const appendRound = async (): Promise<number> => {
      const started = performance.now();
      const deadline = started + ROUND_MS;
      let appended = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          const stream = `par-${randomUUID()}`;
          for (let i = 0; performance.now() < deadline; i++) {
            await s.append(stream, [newEvent(i)], { expectedVersion: i === 0 ? 'no_stream' : i });
            appended++;
          }
        }),
      );
      return (appended / (performance.now() - started)) * 1000;
    };
    const rates = { with: [] as number[], without: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const side of round % 2 === 0 ? (['without', 'with'] as const) : (['with', 'without'] as const)) {
        let stop = false;
        // The tree starts each round covering the whole log, so a round with the extender
        // extends over its own appends only (as the service does in a steady state), not
        // over the previous round's as well.
        await s.flush();
        await extendTreeToHead(db);
        const extender =
          side === 'with'
            ? (async () => {
                while (!stop) {
                  await extendTreeToHead(db);
                  await new Promise((resolve) => setTimeout(resolve, EXTEND_EVERY_MS));
                }
              })()
            : Promise.resolve();
        rates[side].push(await appendRound());
        stop = true;
        await extender;
      }
    }
    await s.flush();
    await extendTreeToHead(db);
    const appendWith = median(rates.with);
    const appendWithout = median(rates.without);

    // -- bulk: the log grown to TOTAL − NEW events (1000 per append) and the tree over it, then
    // NEW more events and the time to extend the tree over them and sign a checkpoint.
    const bulk = async (count: number): Promise<void> => {
      for (let at = 0; at < count; at += 1000) {
        await s.append(`bulk-${randomUUID()}`, Array.from({ length: Math.min(1000, count - at) }, (_, i) => newEvent(at + i)), { expectedVersion: 'no_stream' });
      }
      await s.flush();
    };
    await bulk(TOTAL - (await treeSize(db)) - NEW);
    await extendTreeToHead(db);
    await bulk(NEW);
    const signer = parseSignerKey(generateSignerKey('bench.claimtrail.example'));
    const extendStart = performance.now();
    let passes = 0;
    for (;;) {
      const result = await extendTree(db);
      passes++;
      if (result.added === 0) break;
    }
    const extendMs = performance.now() - extendStart;
    const size = await treeSize(db);
    const checkpointNote = signNote(formatCheckpoint({ origin: 'bench.claimtrail.example', size, rootHash: await storedTreeRoot(db, size) }), signer);
    const checkpointMs = performance.now() - extendStart;
    const rootStart = performance.now();
    await storedTreeRoot(db, size);
    const rootMs = performance.now() - rootStart;

    // -- raw inserts of the same NEW rows (1000 per statement), same run
    const metadata = JSON.stringify({ actor: 'bench' });
    const rawStart = performance.now();
    for (let at = 0; at < NEW; at += 1000) {
      const stream = `raw-${randomUUID()}`;
      const values: unknown[] = [];
      const tuples: string[] = [];
      for (let i = 0; i < 1000; i++) {
        const k = values.length;
        values.push(randomUUID(), stream, i + 1, 'ClaimNoted', JSON.stringify({ ...payload, i }), metadata, new Date().toISOString(), 'f'.repeat(64), i > 0 ? 'e'.repeat(64) : null);
        tuples.push(`($${k + 1},$${k + 2},$${k + 3},$${k + 4},$${k + 5},$${k + 6},$${k + 7},$${k + 8},$${k + 9})`);
      }
      await raw.query(`insert into raw_events (id, stream_id, version, type, data, metadata, recorded_at, hash, prev_hash) values ${tuples.join(',')}`, values);
    }
    const rawMs = performance.now() - rawStart;
    const leavesExtended = NEW;

    // -- proof latency at the current size
    const inclusion: number[] = [];
    const consistency: number[] = [];
    for (let i = 0; i < PROOFS; i++) {
      const index = Math.floor(Math.random() * size);
      let t = performance.now();
      await storedInclusionProof(db, index, size);
      inclusion.push(performance.now() - t);
      const from = 1 + Math.floor(Math.random() * (size - 1));
      t = performance.now();
      await storedConsistencyProof(db, from, size);
      consistency.push(performance.now() - t);
    }
    // Sanity: the stored proofs are the in-memory algorithm over the stored nodes.
    await withStoredNodes(db, (nodes) => [treeRoot(nodes, size), inclusionProof(nodes, 0, size), consistencyProof(nodes, 1, size)]);

    const rows: [string, string, string][] = [
      [`appends, 8 conns, extender every ${EXTEND_EVERY_MS / 1000} s`, `${appendWith.toFixed(0)} events/s`, `${(appendWith / appendWithout).toFixed(3)}× without (${appendWithout.toFixed(0)}/s)`],
      ['tree extension', `${((leavesExtended / extendMs) * 1000).toFixed(0)} leaves/s`, `${(((leavesExtended / extendMs) * 1000) / ((NEW / rawMs) * 1000)).toFixed(2)}× raw insert (${((NEW / rawMs) * 1000).toFixed(0)} rows/s)`],
      [`checkpoint over ${NEW.toLocaleString('en')} new events`, `${(checkpointMs / 1000).toFixed(2)} s`, `extension ${(extendMs / 1000).toFixed(2)} s in ${passes} passes, note ${checkpointNote.length} bytes`],
      [`root at ${size.toLocaleString('en')}`, `${rootMs.toFixed(2)} ms`, ''],
      [`inclusion proof at ${size.toLocaleString('en')}`, `${median(inclusion).toFixed(2)} ms median`, `p99 ${percentile(inclusion, 99).toFixed(2)} ms`],
      [`consistency proof at ${size.toLocaleString('en')}`, `${median(consistency).toFixed(2)} ms median`, `p99 ${percentile(consistency, 99).toFixed(2)} ms`],
    ];
    for (const [what, value, ratio] of rows) console.log(`${what.padEnd(44)} ${value.padEnd(22)} ${ratio}`);
    console.log(
      JSON.stringify({
        bench: 'transparency',
        quick,
        appendsWithExtender: Math.round(appendWith),
        appendsWithout: Math.round(appendWithout),
        appendRatio: Number((appendWith / appendWithout).toFixed(3)),
        appendRounds: { with: rates.with.map(Math.round), without: rates.without.map(Math.round) },
        extendLeavesPerSec: Math.round((leavesExtended / extendMs) * 1000),
        rawInsertRowsPerSec: Math.round((NEW / rawMs) * 1000),
        extendSeconds: Number((extendMs / 1000).toFixed(2)),
        checkpointSeconds: Number((checkpointMs / 1000).toFixed(2)),
        newEvents: NEW,
        treeSize: size,
        inclusionMedianMs: Number(median(inclusion).toFixed(3)),
        consistencyMedianMs: Number(median(consistency).toFixed(3)),
      }),
    );
  } finally {
    await store?.close();
    await raw.end();
    await database.close();
    if (process.env.BENCH_KEEP === '1') console.log(`kept database ${name}`);
    else await admin.query(`drop database "${name}" with (force)`);
    await admin.end();
  }
}

await main();
