/**
 * `npm run bench:sharded`: the merged feed over 4 simulated shards (4 databases on this
 * server) against one database holding the same events, in one run. Uses DATABASE_URL (or
 * the local server) only to create and drop its own databases. Prints a table, then one
 * JSON line with every figure and each ratio merged/single.
 */
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { sql } from 'kysely';
import pg from 'pg';
import {
  createEventStore,
  createShardedEventStore,
  eventStoreMigrations,
  migrateToLatest,
  openDatabase,
  type Database,
  type EventStore,
  type FeedCursor,
  type NewEvent,
  type StreamAppend,
} from '../src/index.ts';

const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const quick = process.env.BENCH_QUICK === '1';
const SHARDS = 4;
const EVENTS_PER_STREAM = 10;
const STREAMS = quick ? 2_000 : 10_000;
const ROUNDS = quick ? 2 : 4;
const PAGE = 1000;
/** Streams per loading transaction (one appendMany statement: 500 events). */
const STREAMS_PER_TX = 50;
const payload = { claimId: 'c-1', text: 'The village of Tyotkino is in the Kursk region', sources: ['a', 'b'], n: 42 };

interface Side {
  name: string;
  database: Database;
}

async function main(): Promise<void> {
  const benchStart = performance.now();
  const prefix = `bench_sharded_${Date.now().toString(36)}`;
  const names = [`${prefix}_single`, ...Array.from({ length: SHARDS }, (_, shard) => `${prefix}_shard${shard}`)];
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  const sides: Side[] = [];
  const stores: EventStore[] = [];
  try {
    for (const name of names) {
      await admin.query(`create database "${name}"`);
      const url = new URL(serverUrl);
      url.pathname = `/${name}`;
      // 4 shard pools + the single one stay well inside max_connections.
      const database = await openDatabase({ databaseUrl: url.toString(), poolSize: 6, onError: () => undefined });
      sides.push({ name, database });
      await migrateToLatest(database.db, eventStoreMigrations);
    }
    const open = (side: Side) => {
      const store = createEventStore(side.database, { onError: () => undefined });
      stores.push(store);
      return store;
    };
    const single = open(sides[0]!);
    const sharded = createShardedEventStore(sides.slice(1).map(open));

    // The same events (ids, data, streams) for both layouts: 10-event streams.
    const streams: StreamAppend[] = Array.from({ length: STREAMS }, (_, s) => ({
      streamId: `claim-${randomUUID()}`,
      head: { version: 0, hash: null },
      events: Array.from({ length: EVENTS_PER_STREAM }, (_, i): NewEvent => ({
        id: randomUUID(),
        type: 'ClaimNoted',
        data: { ...payload, s, i },
        metadata: { actor: 'bench' },
      })),
    }));
    // Both layouts get the events in the same order and transactions of the same streams (50
    // ten-event streams, one appendMany each); on the shards each transaction is split by shard
    // and the parts commit in parallel, so every shard's recordedAt spans the whole load as
    // production writes spread over the shards would. Two loaders: the machine has two cores.
    const batches: StreamAppend[][] = [];
    for (let i = 0; i < streams.length; i += STREAMS_PER_TX) batches.push(streams.slice(i, i + STREAMS_PER_TX));
    const load = async (write: (batch: StreamAppend[]) => Promise<unknown>) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 2 }, async () => {
          while (next < batches.length) await write(batches[next++]!);
        }),
      );
    };
    const loadStart = performance.now();
    await load((batch) => single.transaction((tx) => single.appendMany(batch, { tx })));
    await single.flush();
    const singleLoadMs = performance.now() - loadStart;
    const shardedStart = performance.now();
    await load((batch) => {
      const byShard = sharded.shards.map(() => [] as StreamAppend[]);
      for (const append of batch) byShard[sharded.shardOf(append.streamId)]!.push(append);
      return Promise.all(
        sharded.shards.map((store, shard) => (byShard[shard]!.length > 0 ? store.transaction((tx) => store.appendMany(byShard[shard]!, { tx })) : null)),
      );
    });
    await sharded.flush();
    const shardedLoadMs = performance.now() - shardedStart;
    const total = STREAMS * EVENTS_PER_STREAM;
    const head = await sharded.head();
    if ((await single.headPosition()) !== total || head.reduce((sum, position) => sum + position, 0) !== total) {
      throw new Error(`loaded ${await single.headPosition()} / ${head.join('+')} events, expected ${total} each`);
    }
    // The sequencer's UPDATE leaves a dead tuple per event: vacuum every database the same way
    // so neither side is measured with autovacuum running or a cold visibility map.
    for (const side of sides) await sql`vacuum analyze events`.execute(side.database.db);

    const zero: FeedCursor = new Array<number>(SHARDS).fill(0);
    const measures: Record<string, { single: number; merged: number; unit: string }> = {};
    const median = (values: number[]) => {
      const sorted = [...values].sort((a, b) => a - b);
      const mid = Math.floor(sorted.length / 2);
      return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    };
    /** ABBA rounds, median events/s per side: a burst of someone else's load hits both sides. */
    const compare = async (what: string, runSingle: () => Promise<number>, runMerged: () => Promise<number>) => {
      const rates = { single: [] as number[], merged: [] as number[] };
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 === 0 ? (['single', 'merged'] as const) : (['merged', 'single'] as const);
        for (const side of order) {
          const start = performance.now();
          const events = await (side === 'single' ? runSingle() : runMerged());
          if (events !== total) throw new Error(`${what} (${side}) delivered ${events} events, expected ${total}`);
          rates[side].push((events / (performance.now() - start)) * 1000);
        }
      }
      measures[what] = { single: median(rates.single), merged: median(rates.merged), unit: 'events/s' };
    };

    // Catch-up of a subscription from the beginning to the head (what a new consumer, a live
    // client's resume or a projection rebuild from the feed does).
    await compare(
      `subscribe catch-up, ${total} events`,
      async () => {
        let n = 0;
        const subscription = single.subscribe({ after: 0, batchSize: PAGE }, () => {
          n++;
        });
        await subscription.caughtUp;
        await subscription.close();
        return n;
      },
      async () => {
        let n = 0;
        const subscription = sharded.subscribe({ after: zero, batchSize: PAGE }, () => {
          n++;
        });
        await subscription.caughtUp;
        await subscription.close();
        return n;
      },
    );

    // Paging through the feed: readAll by position against readFeed by cursor (1000 a page).
    await compare(
      `paged read (${PAGE} a page), ${total} events`,
      async () => {
        let after = 0;
        let n = 0;
        for (;;) {
          const page = await single.readAll({ after, limit: PAGE });
          n += page.events.length;
          if (page.events.length < PAGE) return n;
          after = page.next;
        }
      },
      async () => {
        let after: FeedCursor = zero;
        let n = 0;
        for (;;) {
          const page = await sharded.readFeed({ after, limit: PAGE });
          n += page.events.length;
          if (page.caughtUp) return n;
          after = page.next;
        }
      },
    );

    const rows = Object.entries(measures).map(([what, m]) => ({
      what,
      single: Math.round(m.single),
      merged: Math.round(m.merged),
      unit: m.unit,
      ratio: Number((m.merged / m.single).toFixed(2)),
    }));
    const width = Math.max(...rows.map((r) => r.what.length));
    const version = (await admin.query('show server_version')).rows[0].server_version as string;
    console.log(
      `\nPostgreSQL ${version}, ${availableParallelism()} cores; ${total} events in ${STREAMS} streams of ${EVENTS_PER_STREAM}; ` +
        `shards hold ${head.join(' / ')}; load ${Math.round(singleLoadMs)} ms single, ${Math.round(shardedLoadMs)} ms sharded`,
    );
    console.log(`| ${'measure'.padEnd(width)} | ${'1 database'.padStart(10)} | ${'4 shards'.padStart(10)} | unit     | shards/1 |`);
    console.log(`| ${'-'.repeat(width)} | ${'-'.repeat(10)} | ${'-'.repeat(10)} | -------- | -------- |`);
    for (const r of rows) {
      console.log(`| ${r.what.padEnd(width)} | ${String(r.single).padStart(10)} | ${String(r.merged).padStart(10)} | ${r.unit.padEnd(8)} | ${r.ratio.toFixed(2).padStart(8)} |`);
    }
    console.log(`(bench took ${Math.round((performance.now() - benchStart) / 1000)} s)`);
    console.log(
      JSON.stringify({
        shards: SHARDS,
        events: total,
        perShard: head,
        ...Object.fromEntries(rows.map((r) => [r.what, { single: r.single, merged: r.merged, unit: r.unit, ratio: r.ratio }])),
      }),
    );
  } finally {
    for (const store of stores) await store.close();
    for (const side of sides) await side.database.close();
    for (const name of names) await admin.query(`drop database if exists "${name}" with (force)`);
    await admin.end();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
