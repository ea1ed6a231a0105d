/**
 * `npm run bench:store`: our store against raw `pg` on the same table shape, in one run.
 * Uses DATABASE_URL (or the local server) only to create and drop its own database.
 * Prints a table, then one JSON line with every figure and each ratio ours/raw.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createEventStore, eventStoreMigrations, migrateToLatest, openDatabase, type EventStore, type NewEvent } from '../src/index.ts';

const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const quick = process.env.BENCH_QUICK === '1';
const N_SINGLE = quick ? 500 : 3000;
const N_PARALLEL = quick ? 1000 : 6000;
const N_BATCHES = quick ? 20 : 150;
const TOTAL = quick ? 20_000 : 200_000;
const PAGE = 1000;

const COLUMNS = 'id, stream_id, version, type, data, metadata, recorded_at, hash, prev_hash';
const READ_COLUMNS = 'position, id, stream_id, version, type, data, metadata, recorded_at, hash, prev_hash';
const payload = { claimId: 'c-1', text: 'The village of Tyotkino is in the Kursk region', sources: ['a', 'b'], n: 42 };

function newEvent(i: number): NewEvent {
  return { type: 'ClaimNoted', data: { ...payload, i }, metadata: { actor: 'bench' } };
}

function rawRow(stream: string, version: number, i: number): unknown[] {
  const metadata = JSON.stringify({ actor: 'bench', correlationId: 'x', causationId: 'x' });
  return [randomUUID(), stream, version, 'ClaimNoted', JSON.stringify({ ...payload, i }), metadata, new Date().toISOString(), 'f'.repeat(64), version > 1 ? 'e'.repeat(64) : null];
}

function rawInsert(rows: unknown[][]): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const tuples = rows.map((row) => {
    const start = values.length;
    values.push(...row);
    return `(${row.map((_, k) => `$${start + k + 1}`).join(',')})`;
  });
  return { text: `insert into raw_events (${COLUMNS}) values ${tuples.join(',')}`, values };
}

async function timed(fn: () => Promise<number>): Promise<{ ops: number; ms: number; perSec: number }> {
  const start = performance.now();
  const ops = await fn();
  const ms = performance.now() - start;
  return { ops, ms, perSec: (ops / ms) * 1000 };
}

/**
 * The machine is shared: alternate ours/raw in ABBA order over several rounds and keep
 * each side's median round rate, so a burst of someone else's load hits both sides.
 */
async function compare(
  rounds: number,
  ours: (round: number) => Promise<number>,
  raw: (round: number) => Promise<number>,
): Promise<{ ours: number; raw: number }> {
  const rates = { ours: [] as number[], raw: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? (['ours', 'raw'] as const) : (['raw', 'ours'] as const);
    for (const side of order) {
      const result = await timed(() => (side === 'ours' ? ours(round) : raw(round)));
      rates[side].push(result.perSec);
    }
  }
  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  };
  return { ours: median(rates.ours), raw: median(rates.raw) };
}

async function main(): Promise<void> {
  const benchStart = performance.now();
  const name = `bench_store_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database "${name}"`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const database = await openDatabase({ databaseUrl: url.toString(), poolSize: 10, onError: () => undefined });
  const raw = new pg.Pool({ connectionString: url.toString(), max: 10 });
  raw.on('error', () => undefined);
  let store: EventStore | undefined;
  try {
    await migrateToLatest(database.db, eventStoreMigrations);
    // Same columns, defaults, identity, constraints and indexes; no triggers, no sequencer.
    await raw.query('create table raw_events (like events including all)');
    store = createEventStore(database);
    const s = store;
    const results: Record<string, { ours: number; raw: number; unit: string }> = {};

    const ROUNDS = 4;
    // -- single-event appends, 1 connection
    const one = Math.floor(N_SINGLE / ROUNDS);
    const r1 = await compare(
      ROUNDS,
      async () => {
        const stream = `one-${randomUUID()}`;
        for (let i = 0; i < one; i++) await s.append(stream, [newEvent(i)], { expectedVersion: i === 0 ? 'no_stream' : i });
        return one;
      },
      async () => {
        const stream = `one-${randomUUID()}`;
        for (let i = 0; i < one; i++) {
          const { text, values } = rawInsert([rawRow(stream, i + 1, i)]);
          await raw.query(text, values);
        }
        return one;
      },
    );
    results['append 1 event, 1 conn'] = { ...r1, unit: 'events/s' };

    // -- single-event appends, 8 connections (one stream each)
    const per = Math.floor(N_PARALLEL / 8 / ROUNDS);
    const r8 = await compare(
      ROUNDS,
      async () => {
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            const stream = `par-${randomUUID()}`;
            for (let i = 0; i < per; i++) await s.append(stream, [newEvent(i)], { expectedVersion: i === 0 ? 'no_stream' : i });
          }),
        );
        return per * 8;
      },
      async () => {
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            const stream = `par-${randomUUID()}`;
            for (let i = 0; i < per; i++) {
              const { text, values } = rawInsert([rawRow(stream, i + 1, i)]);
              await raw.query(text, values);
            }
          }),
        );
        return per * 8;
      },
    );
    results['append 1 event, 8 conns'] = { ...r8, unit: 'events/s' };

    // -- 100-event appends, 1 connection (ours includes sequencing them: flush at the end)
    const batches = Math.floor(N_BATCHES / ROUNDS);
    const r100 = await compare(
      ROUNDS,
      async () => {
        const stream = `batch-${randomUUID()}`;
        for (let b = 0; b < batches; b++) {
          await s.append(stream, Array.from({ length: 100 }, (_, i) => newEvent(i)), { expectedVersion: b * 100 });
        }
        await s.flush();
        return batches * 100;
      },
      async () => {
        const stream = `batch-${randomUUID()}`;
        for (let b = 0; b < batches; b++) {
          const { text, values } = rawInsert(Array.from({ length: 100 }, (_, i) => rawRow(stream, b * 100 + i + 1, i)));
          await raw.query(text, values);
        }
        return batches * 100;
      },
    );
    results['append 100 events, 1 conn'] = { ...r100, unit: 'events/s' };

    // -- fill to TOTAL events through the store (8 writers, 500-event appends), then copy for raw
    await s.flush();
    let have = await s.headPosition();
    const fillStart = performance.now();
    while (have < TOTAL) {
      const chunk = Math.min(TOTAL - have, 8 * 500);
      const writers = Math.ceil(chunk / 500);
      await Promise.all(
        Array.from({ length: writers }, (_, w) => {
          const size = Math.min(500, chunk - w * 500);
          return s.append(`fill-${randomUUID()}`, Array.from({ length: size }, (_, i) => newEvent(i)), { expectedVersion: 'no_stream' });
        }),
      );
      have += chunk;
    }
    await s.flush();
    const fillMs = performance.now() - fillStart;
    const total = await s.headPosition();
    // The raw table gets the same rows (with positions) so both read the same data by the same index.
    await raw.query('truncate raw_events');
    await raw.query(`insert into raw_events (${COLUMNS}, position) select ${COLUMNS}, position from events`);
    await raw.query('vacuum analyze raw_events');
    await raw.query('vacuum analyze events');

    const rawPages = async (onRow: (row: unknown) => void) => {
      let after = 0;
      let n = 0;
      for (;;) {
        const { rows } = await raw.query(`select ${READ_COLUMNS} from raw_events where position > $1 order by position limit $2`, [after, PAGE]);
        for (const row of rows) onRow(row);
        n += rows.length;
        if (rows.length < PAGE) return n;
        after = Number(rows[rows.length - 1].position);
      }
    };
    // -- readAll over every event
    const rAll = await compare(
      2,
      async () => {
        let after = 0;
        let n = 0;
        for (;;) {
          const page = await s.readAll({ after, limit: PAGE });
          n += page.events.length;
          if (page.events.length < PAGE) return n;
          after = page.next;
        }
      },
      () => rawPages(() => undefined),
    );
    results[`readAll ${total} events`] = { ...rAll, unit: 'events/s' };

    // -- subscription catch-up over every event (raw: the same pages, a callback per row)
    let delivered = 0;
    const rCatchUp = await compare(
      2,
      async () => {
        let n = 0;
        const subscription = s.subscribe({ after: 0, batchSize: PAGE }, () => {
          n++;
        });
        await subscription.caughtUp;
        await subscription.close();
        return n;
      },
      () => rawPages(() => delivered++),
    );
    results[`subscribe catch-up ${total}`] = { ...rCatchUp, unit: 'events/s' };

    // -- reading one 1000-event stream
    const longStream = `long-${randomUUID()}`;
    for (let b = 0; b < 10; b++) await s.append(longStream, Array.from({ length: 100 }, (_, i) => newEvent(i)), { expectedVersion: b * 100 });
    await raw.query(`insert into raw_events (${COLUMNS}) select ${COLUMNS} from events where stream_id = $1`, [longStream]);
    const reads = quick ? 10 : 40;
    const rStream = await compare(
      ROUNDS,
      async () => {
        for (let i = 0; i < reads; i++) await s.readStream(longStream);
        return reads;
      },
      async () => {
        for (let i = 0; i < reads; i++) await raw.query(`select ${READ_COLUMNS} from raw_events where stream_id = $1 order by version`, [longStream]);
        return reads;
      },
    );
    results['readStream 1000 events'] = { ...rStream, unit: 'reads/s' };

    // -- verify (full hash recomputation) against a raw read in the same (stream, version) order
    let checked = 0;
    const rVerify = await compare(
      2,
      async () => {
        const result = await s.verify();
        if (!result.ok) throw new Error(`verify failed: ${JSON.stringify(result.firstBroken)}`);
        checked = result.checked;
        return result.checked;
      },
      async () => {
        let stream = '';
        let version = 0;
        let n = 0;
        for (;;) {
          const { rows } = await raw.query(
            `select ${READ_COLUMNS} from events where (stream_id, version) > ($1, $2) order by stream_id, version limit 5000`,
            [stream, version],
          );
          n += rows.length;
          if (rows.length < 5000) return n;
          stream = rows[rows.length - 1].stream_id;
          version = rows[rows.length - 1].version;
        }
      },
    );
    results[`verify ${checked} events`] = { ...rVerify, unit: 'events/s' };

    const rows = Object.entries(results).map(([what, r]) => ({
      what,
      ours: Math.round(r.ours),
      raw: Math.round(r.raw),
      unit: r.unit,
      ratio: Number((r.ours / r.raw).toFixed(2)),
    }));
    const width = Math.max(...rows.map((r) => r.what.length));
    console.log(`\nPostgreSQL ${(await raw.query('show server_version')).rows[0].server_version}, ${total} events (fill ${Math.round(fillMs)} ms)`);
    console.log(`| ${'measure'.padEnd(width)} | ${'ours'.padStart(9)} | ${'raw pg'.padStart(9)} | unit     | ours/raw |`);
    console.log(`| ${'-'.repeat(width)} | ${'-'.repeat(9)} | ${'-'.repeat(9)} | -------- | -------- |`);
    for (const r of rows) {
      console.log(`| ${r.what.padEnd(width)} | ${String(r.ours).padStart(9)} | ${String(r.raw).padStart(9)} | ${r.unit.padEnd(8)} | ${r.ratio.toFixed(2).padStart(8)} |`);
    }
    console.log(`(bench took ${Math.round((performance.now() - benchStart) / 1000)} s)`);
    console.log(JSON.stringify(Object.fromEntries(rows.map((r) => [r.what, { ours: r.ours, raw: r.raw, unit: r.unit, ratio: r.ratio }]))));
  } finally {
    await store?.close();
    await raw.end();
    await database.close();
    await admin.query(`drop database if exists "${name}" with (force)`);
    await admin.end();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
