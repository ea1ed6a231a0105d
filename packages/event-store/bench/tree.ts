/**
 * `npm run bench:transparency`: the log's Merkle tree (tree.ts) in one run against its own
 * baselines:
 *   - appends (8 connections, single-event appends) with the tree extender running beside
 *     them every second (the service's job: every CHECKPOINT_INTERVAL_MS, default 2 s), against the same appends without it (ABBA rounds, medians);
 *   - the tree extension rate (leaves/s, in passes of 20,000) against raw multi-row inserts
 *     of events (rows/s) in the same run, and the time to extend the tree over TOTAL new events;
 *   - inclusion and consistency proof latency at the resulting size (median, p99; each one
 *     query of O(log n) point reads plus hashing).
 * Uses DATABASE_URL (or the local server) only to create and drop its own database. Prints
 * a table, then one JSON line. BENCH_QUICK=1 for a short run.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { consistencyProof, inclusionProof, treeRoot } from '@claimtrail/transparency';
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
  withStoredNodes,
  type EventStore,
  type NewEvent,
} from '../src/index.ts';

const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const quick = process.env.BENCH_QUICK === '1';
const N_PARALLEL = quick ? 1600 : 8000;
const TOTAL = quick ? 20_000 : 200_000;
const PROOFS = quick ? 100 : 500;
const ROUNDS = 4;
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

    // -- appends with and without the extender beside them
    const per = Math.floor(N_PARALLEL / 8 / ROUNDS);
    const appendRound = async (): Promise<number> => {
      const started = performance.now();
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          const stream = `par-${randomUUID()}`;
          for (let i = 0; i < per; i++) await s.append(stream, [newEvent(i)], { expectedVersion: i === 0 ? 'no_stream' : i });
        }),
      );
      return ((per * 8) / (performance.now() - started)) * 1000;
    };
    const rates = { with: [] as number[], without: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const side of round % 2 === 0 ? (['without', 'with'] as const) : (['with', 'without'] as const)) {
        let stop = false;
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

    // -- bulk: TOTAL events appended (1000 per stream), then the tree extended over them
    for (let at = 0; at < TOTAL; at += 1000) {
      await s.append(`bulk-${randomUUID()}`, Array.from({ length: 1000 }, (_, i) => newEvent(at + i)), { expectedVersion: 'no_stream' });
    }
    await s.flush();
    const extendStart = performance.now();
    let passes = 0;
    for (;;) {
      const result = await extendTree(db);
      passes++;
      if (result.added === 0) break;
    }
    const extendMs = performance.now() - extendStart;
    const size = Number((await raw.query('select count(*) as n from events_tree where level = 0')).rows[0].n);
    const rootStart = performance.now();
    await storedTreeRoot(db, size);
    const rootMs = performance.now() - rootStart;

    // -- raw inserts of the same TOTAL rows (1000 per statement), same run
    const metadata = JSON.stringify({ actor: 'bench' });
    const rawStart = performance.now();
    for (let at = 0; at < TOTAL; at += 1000) {
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
    const leavesExtended = TOTAL;

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
      ['appends, 8 conns, extender every 1 s', `${appendWith.toFixed(0)} events/s`, `${(appendWith / appendWithout).toFixed(3)}× without (${appendWithout.toFixed(0)}/s)`],
      ['tree extension', `${((leavesExtended / extendMs) * 1000).toFixed(0)} leaves/s`, `${(((leavesExtended / extendMs) * 1000) / ((TOTAL / rawMs) * 1000)).toFixed(2)}× raw insert (${((TOTAL / rawMs) * 1000).toFixed(0)} rows/s)`],
      [`extend over ${TOTAL.toLocaleString('en')} new events`, `${(extendMs / 1000).toFixed(2)} s`, `${passes} passes`],
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
        extendLeavesPerSec: Math.round((leavesExtended / extendMs) * 1000),
        rawInsertRowsPerSec: Math.round((TOTAL / rawMs) * 1000),
        extendSeconds: Number((extendMs / 1000).toFixed(2)),
        treeSize: size,
        inclusionMedianMs: Number(median(inclusion).toFixed(3)),
        consistencyMedianMs: Number(median(consistency).toFixed(3)),
      }),
    );
  } finally {
    await store?.close();
    await raw.end();
    await database.close();
    await admin.query(`drop database "${name}" with (force)`);
    await admin.end();
  }
}

await main();
