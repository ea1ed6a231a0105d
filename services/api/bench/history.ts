/**
 * `npm run bench:history`: does the cost of reads and writes stay flat as the log grows?
 * The same measurements on a store of SMALL events (10k: 1,000 claims) and of LARGE events
 * (1M: 100,000 claims), each in its own database, printing large/small ratios (target: the
 * reads and the append within 1.2×; the per-event rates of catch-up, rebuild and verify
 * about the same, i.e. their time linear in the log).
 *
 * Per size: the history is appended through the store (claim-history.ts: real hash chains,
 * versions and positions), then measured directly on the store — subscription catch-up
 * from position 0, a projection rebuild (swap), a full chain verify, the desk projections'
 * catch-up and the Merkle tree's extension (so the service starts caught up, as it runs
 * day to day) — and then through the service (a child process on that database, autocannon here): POST notes (8 connections),
 * GET /claims/:id, GET /board and GET /claims?q= (gzip accepted, as a browser asks).
 *
 *   BENCH_HISTORY_SMALL=10000 BENCH_HISTORY_LARGE=1000000 BENCH_DURATION=8 npm run bench:history
 */
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { createEventStore, extendTreeToHead, migrateToLatest, openDatabase, type EventStore } from '@claimtrail/event-store';
import { migrations } from '@claimtrail/migrations';
import { DESK_PROJECTIONS, DeskFollower, rebuildProjections } from '@claimtrail/claims';
import { createTestDatabase } from '@claimtrail/testing';
import { PER_CLAIM, fillClaimHistory } from './claim-history.ts';
import { noteRequests } from './support.ts';
import { cannon, start, stop, type Row } from './service-process.ts';

const SMALL = Number(process.env.BENCH_HISTORY_SMALL ?? 10_000);
const LARGE = Number(process.env.BENCH_HISTORY_LARGE ?? 1_000_000);

interface SizeFigures {
  events: number;
  claims: number;
  fillPerSec: number;
  catchUpPerSec: number;
  rebuildPerSec: number;
  verifyPerSec: number;
  deskPerSec: number;
  treePerSec: number;
  rows: Row[];
}

async function timed(label: string, fn: () => Promise<number>): Promise<number> {
  const started = performance.now();
  const events = await fn();
  const perSec = (events / (performance.now() - started)) * 1000;
  process.stderr.write(`  ${label}: ${Math.round(perSec).toLocaleString('en')} events/s\n`);
  return perSec;
}

/** A subscription from position 0 until it has delivered everything up to the head. */
function catchUp(store: EventStore, head: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const subscription = store.subscribe({ after: 0 }, (event) => {
      seen++;
      if (event.position >= head) {
        void subscription.close().then(() => resolve(seen), reject);
      }
    });
  });
}

async function measureSize(total: number): Promise<SizeFigures> {
  const database = await createTestDatabase('bench_history');
  const children: ChildProcess[] = [];
  try {
    process.stderr.write(`${total.toLocaleString('en')} events (${Math.ceil(total / PER_CLAIM).toLocaleString('en')} claims), database ${database.name}\n`);
    const db = await openDatabase({ databaseUrl: database.url, poolSize: 8, statementTimeoutMs: 900_000 });
    await migrateToLatest(db.db, migrations);
    const store = createEventStore(db);
    let fillPerSec = 0;
    let catchUpPerSec = 0;
    let rebuildPerSec = 0;
    let verifyPerSec = 0;
    let deskPerSec = 0;
    let treePerSec = 0;
    let claims = 0;
    try {
      fillPerSec = await timed('append (4 streams in flight)', () => fillClaimHistory(store, total, 4));
      await store.flush();
      const head = await store.headPosition();
      if (head !== total) throw new Error(`head ${head}, expected ${total}`);
      catchUpPerSec = await timed('subscription catch-up from 0', () => catchUp(store, head));
      // The history went in through the store, not the service: the rebuild fills the projection.
      rebuildPerSec = await timed('rebuild (swap)', async () => {
        const result = await rebuildProjections(store, { mode: 'swap', concurrentReads: true });
        claims = result.claims;
        return result.events;
      });
      verifyPerSec = await timed('verify (hash chains)', async () => {
        const result = await store.verify();
        if (!result.ok) throw new Error(`verify failed: ${JSON.stringify(result.firstBroken)}`);
        return result.checked;
      });
      // What the service would otherwise do at its start, and measure the writes beside: the
      // desk projections follow the log from 0, and the Merkle tree is extended over it.
      deskPerSec = await timed('desk projections catch-up from 0', async () => {
        await new DeskFollower(db.db, DESK_PROJECTIONS).catchUp();
        return head;
      });
      treePerSec = await timed('Merkle tree extension from 0', async () => (await extendTreeToHead(db.db)).added);
    } finally {
      await store.close().catch(() => undefined);
      await db.close().catch(() => undefined);
    }
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    await admin.query('vacuum analyze');
    await admin.query('checkpoint');
    await admin.end();

    const api = await start(
      'services/api/src/server.ts',
      { DATABASE_URL: database.url, PORT: '0', HOST: '127.0.0.1', DEMO_TOKENS: '1', SEED: '0', RATE_LIMIT_MAX: '0', LOG_LEVEL: 'warn', DATABASE_POOL_SIZE: '16' },
      /listening on (http:\/\/\S+)/,
    );
    children.push(api.child);
    const apiUrl = /listening on (http:\/\/\S+)/.exec(api.output())![1]!;
    const token = (role: string) => new RegExp(`^\\s+${role}\\s+(\\S+)`, 'm').exec(api.output())![1]!;
    const fc = { authorization: `Bearer ${token('fact_checker')}`, 'content-type': 'application/json' };
    const browser = { authorization: `Bearer ${token('auditor')}`, 'accept-encoding': 'gzip, deflate, br' };
    // Claims spread over the whole history (the list is newest first; every 5th of 1,000).
    const page = (await (await fetch(`${apiUrl}/claims?limit=100&view=card`, { headers: browser })).json()) as { items: { id: string }[] };
    const ids = page.items.map((c) => c.id);
    const rows: Row[] = [];
    rows.push(await cannon('POST /claims/:id/notes', { url: apiUrl, connections: 8, requests: noteRequests(fc, ids) }));
    rows.push(await cannon('GET /claims/:id', { url: `${apiUrl}/claims/${ids[ids.length - 1]}`, connections: 32, headers: browser }));
    rows.push(await cannon('GET /board', { url: `${apiUrl}/board`, connections: 32, headers: browser }));
    rows.push(await cannon('GET /claims?q=Tyotkino', { url: `${apiUrl}/claims?q=Tyotkino`, connections: 32, headers: browser }));
    await stop(api.child);
    return { events: total, claims, fillPerSec, catchUpPerSec, rebuildPerSec, verifyPerSec, deskPerSec, treePerSec, rows };
  } finally {
    for (const child of children) await stop(child);
    await database.drop();
  }
}

async function main(): Promise<void> {
  const small = await measureSize(SMALL);
  const large = await measureSize(LARGE);
  const ratio = (a: number, b: number) => Number((a / b).toFixed(3));
  const lines: [string, number, number, number][] = [
    ['append rate (filling the store), events/s', small.fillPerSec, large.fillPerSec, ratio(large.fillPerSec, small.fillPerSec)],
    ['subscription catch-up, events/s', small.catchUpPerSec, large.catchUpPerSec, ratio(large.catchUpPerSec, small.catchUpPerSec)],
    ['rebuild (swap), events/s', small.rebuildPerSec, large.rebuildPerSec, ratio(large.rebuildPerSec, small.rebuildPerSec)],
    ['verify (hash chains), events/s', small.verifyPerSec, large.verifyPerSec, ratio(large.verifyPerSec, small.verifyPerSec)],
    ['desk projections catch-up, events/s', small.deskPerSec, large.deskPerSec, ratio(large.deskPerSec, small.deskPerSec)],
    ['Merkle tree extension, leaves/s', small.treePerSec, large.treePerSec, ratio(large.treePerSec, small.treePerSec)],
  ];
  const latency: Record<string, { p50Ratio: number; rpsRatio: number }> = {};
  for (const row of small.rows) {
    const big = large.rows.find((r) => r.name === row.name)!;
    lines.push([`${row.name}, req/s`, row.rps, big.rps, ratio(big.rps, row.rps)]);
    lines.push([`${row.name}, p50 ms`, row.p50, big.p50, ratio(big.p50, Math.max(row.p50, 1))]);
    latency[row.name] = { p50Ratio: ratio(big.p50, Math.max(row.p50, 1)), rpsRatio: ratio(big.rps, row.rps) };
  }
  console.log(`\n| measure | ${SMALL.toLocaleString('en')} events | ${LARGE.toLocaleString('en')} events | large/small |`);
  console.log('| --- | ---: | ---: | ---: |');
  for (const [name, a, b, r] of lines) console.log(`| ${name} | ${Math.round(a * 10) / 10} | ${Math.round(b * 10) / 10} | ${r} |`);
  console.log(
    '\n' +
      JSON.stringify({
        bench: 'history',
        small: { events: small.events, claims: small.claims },
        large: { events: large.events, claims: large.claims },
        rates: Object.fromEntries(lines.slice(0, 6).map(([name, a, b, r]) => [name, { small: Math.round(a), large: Math.round(b), ratio: r }])),
        requests: latency,
        errors: [...small.rows, ...large.rows].reduce((n, r) => n + r.errors, 0),
      }),
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
