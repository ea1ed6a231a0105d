/**
 * `npm run bench:api`: the service on PostgreSQL (own database) under autocannon, against
 * two baselines measured in the same run: raw `pg` single-row insert transactions from 8
 * connections, and a bare Fastify route returning a constant JSON. Server and baseline
 * server run as child processes; the load generator runs here. Each baseline is measured
 * twice, adjacent to what it is compared with (bare route: before the writes and after the
 * reads; raw inserts: before and after the writes), ratios against the mean of the pair.
 * The reads start after a CHECKPOINT; each write phase after an ANALYZE of the claims it
 * just created (see `analyze` in support.ts). Prints a table and a final JSON line with the ratios.
 *
 * Writes: notes at 32 connections, over 2,000 claims (ordinary size: the target's figure)
 * and over 200 claims (each grows to ≈ 50 notes: every write re-serializes its claim's
 * view, so this shows what big claims cost). Reads: GET /claims/:id on an ordinary bench
 * claim (the target's figure), on a seed claim and on a grown bench claim (the response is
 * the whole view: bigger claims cost more, the load generator's parsing included), GET
 * /board and GET /claims?q= (full views and cards): on the ≈ 2,400 claims of the run, the
 * same with 50 writes/s going on, and with the projection grown to 100,000 claims
 * (BENCH_LARGE_CLAIMS; copies of the run's claims written in SQL: the reads only read the
 * projection).
 */
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { createTestDatabase } from '@claimtrail/testing';
import { analyze, createBenchClaims, growProjection, noteRequests, notesInBackground } from './support.ts';
import { cannon, start, stop, type Row } from './service-process.ts';

const DURATION = Number(process.env.BENCH_DURATION ?? 8);
const BARE = 'baseline: bare Fastify GET (before the writes)';
const BARE_AFTER = 'baseline: bare Fastify GET (after the reads)';
const RAW = 'baseline: raw pg insert tx (before the writes)';
const RAW_AFTER = 'baseline: raw pg insert tx (after the writes)';
const WRITE = 'POST /claims/:id/notes (2,000 claims)';
const WRITE_GROWING = 'POST /claims/:id/notes (200 claims, growing)';
const GET = 'GET /claims/:id (an ordinary bench claim)';
const GET_SEED = 'GET /claims/:id (a seed claim)';
const GET_GROWN = 'GET /claims/:id (a grown bench claim)';
const BOARD = 'GET /board (2,400 claims)';
const SEARCH = 'GET /claims?q=Tyotkino (2,400 claims)';
const SEARCH_CARDS = 'GET /claims?q=Tyotkino&view=card (2,400 claims)';
const BOARD_BUSY = 'GET /board (2,400 claims, 50 writes/s)';
const SEARCH_BUSY = 'GET /claims?q=Tyotkino (2,400 claims, 50 writes/s)';
const LARGE_CLAIMS = Number(process.env.BENCH_LARGE_CLAIMS ?? 100_000);
const LARGE = `${LARGE_CLAIMS.toLocaleString('en')} claims`;
const BOARD_LARGE = `GET /board (${LARGE})`;
const SEARCH_LARGE = `GET /claims?q=Tyotkino (${LARGE})`;
const SEARCH_CARDS_LARGE = `GET /claims?q=Tyotkino&view=card (${LARGE})`;

async function rawInserts(url: string, connections: number): Promise<Row> {
  const pool = new pg.Pool({ connectionString: url, max: connections });
  await pool.query('create table if not exists bench_raw (id bigserial primary key, payload jsonb not null, created_at timestamptz not null default now())');
  const latencies: number[] = [];
  let errors = 0;
  const run = async (until: number, record: boolean) => {
    const client = await pool.connect();
    try {
      while (Date.now() < until) {
        const started = process.hrtime.bigint();
        try {
          await client.query('begin');
          await client.query('insert into bench_raw (payload) values ($1)', [JSON.stringify({ body: 'a note of ordinary length for the baseline' })]);
          await client.query('commit');
        } catch {
          errors++;
          await client.query('rollback').catch(() => undefined);
        }
        if (record) latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
      }
    } finally {
      client.release();
    }
  };
  await Promise.all(Array.from({ length: connections }, () => run(Date.now() + 1000, false)));
  const began = Date.now();
  await Promise.all(Array.from({ length: connections }, () => run(began + DURATION * 1000, true)));
  const seconds = (Date.now() - began) / 1000;
  await pool.end();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => Number((latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))] ?? 0).toFixed(2));
  const row = { name: 'baseline: raw pg insert tx', connections, rps: latencies.length / seconds, p50: pct(50), p99: pct(99), errors };
  console.error(`  ${row.name}: ${row.rps.toFixed(0)} tx/s, p50 ${row.p50} ms, p99 ${row.p99} ms`);
  return row;
}

async function main(): Promise<void> {
  const database = await createTestDatabase('bench_api');
  const children: ChildProcess[] = [];
  try {
    console.error(`database ${database.name}; ${DURATION}s per measurement`);
    const rows: Row[] = [];

    // Each baseline is measured twice, next to what it is compared with (the bare route
    // before the writes and after the reads, raw inserts before and after the writes), and
    // a ratio is taken against the mean of the pair: this VM's speed drifts within a run
    // (the bare route measured 10k–41k req/s in one afternoon), and a baseline from minutes
    // earlier would compare with a different machine.
    const bareRun = async (name: string) => {
      const bare = await start('services/api/bench/bare.ts', { PORT: '0' }, /listening on (http:\/\/\S+)/);
      children.push(bare.child);
      const bareUrl = /listening on (http:\/\/\S+)/.exec(bare.output())![1]!;
      const row = await cannon(name, { url: `${bareUrl}/bare`, connections: 32 });
      await stop(bare.child);
      return row;
    };
    rows.push(await bareRun(BARE));
    rows.push({ ...(await rawInserts(database.url, 8)), name: RAW });

    const api = await start(
      'services/api/src/server.ts',
      {
        DATABASE_URL: database.url,
        PORT: '0',
        HOST: '127.0.0.1',
        DEMO_TOKENS: '1',
        SEED: '1',
        RATE_LIMIT_MAX: '0',
        LOG_LEVEL: 'warn',
        DATABASE_POOL_SIZE: '16',
      },
      /listening on (http:\/\/\S+)/,
    );
    children.push(api.child);
    const apiUrl = /listening on (http:\/\/\S+)/.exec(api.output())![1]!;
    const token = (role: string) => new RegExp(`^\\s+${role}\\s+(\\S+)`, 'm').exec(api.output())![1]!;
    const fc = { authorization: `Bearer ${token('fact_checker')}`, 'content-type': 'application/json' };
    const auditor = { authorization: `Bearer ${token('auditor')}` };

    // GET /claims/:id is measured on a claim of each kind: an ordinary bench claim (its few
    // notes; the target's figure), a claim of the seed case (the real reports: appearances
    // with excerpts, evidence, a verdict; chosen before bench claims exist) and a grown one.
    const seedClaim = ((await (await fetch(`${apiUrl}/claims?q=Tyotkino&limit=1`, { headers: auditor })).json()) as { items: { id: string }[] }).items[0]!.id;
    // Every write stores and returns the claim's whole view, notes included, so its cost
    // grows with the claim. Two write phases: notes over 2,000 claims (≈ 5 notes each by the
    // end: claims of ordinary size; the target is measured here) and over 200 claims (≈ 50
    // each: ever-growing claims). Many claims also keep 32 writers off each other's row locks.
    const ordinary = await createBenchClaims(apiUrl, fc, 2000, 16);
    await analyze(database.url);
    rows.push(await cannon(WRITE, { url: apiUrl, connections: 32, requests: noteRequests(fc, ordinary) }));
    const growing = await createBenchClaims(apiUrl, fc, 200, 16);
    await analyze(database.url);
    rows.push(await cannon(WRITE_GROWING, { url: apiUrl, connections: 32, requests: noteRequests(fc, growing) }));
    rows.push({ ...(await rawInserts(database.url, 8)), name: RAW_AFTER });
    // The reads start on a settled database: the writes' dirty pages are flushed first
    // (otherwise the checkpoint lands in whichever read is measured first).
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    await admin.query('checkpoint');
    await admin.end();
    rows.push(await cannon(GET, { url: `${apiUrl}/claims/${ordinary[0]}`, connections: 32, headers: auditor }));
    rows.push(await cannon(GET_SEED, { url: `${apiUrl}/claims/${seedClaim}`, connections: 32, headers: auditor }));
    rows.push(await cannon(GET_GROWN, { url: `${apiUrl}/claims/${growing[0]}`, connections: 32, headers: auditor }));
    // The board and searches as a browser asks for them: gzip accepted (a board of 350 cards
    // is ≈ 250 KB of JSON; kept bodies are compressed once).
    const browser = { ...auditor, 'accept-encoding': 'gzip, deflate, br' };
    rows.push(await cannon(BOARD, { url: `${apiUrl}/board`, connections: 32, headers: browser }));
    rows.push(await cannon(SEARCH, { url: `${apiUrl}/claims?q=Tyotkino`, connections: 32, headers: browser }));
    rows.push(await cannon(SEARCH_CARDS, { url: `${apiUrl}/claims?q=Tyotkino&view=card`, connections: 32, headers: browser }));
    // The same reads with a write every 20 ms (50/s) going on: every write makes the kept
    // board and search bodies stale, so this is what a busy desk's reads cost.
    const busy = notesInBackground(apiUrl, fc, ordinary, 50);
    rows.push(await cannon(BOARD_BUSY, { url: `${apiUrl}/board`, connections: 32, headers: browser }));
    rows.push(await cannon(SEARCH_BUSY, { url: `${apiUrl}/claims?q=Tyotkino`, connections: 32, headers: browser }));
    await busy.stop();
    // The newsroom after years: the projection grown to LARGE_CLAIMS claims (copies of the
    // claims above with new ids, older dates), announced as a bypassing write would be.
    const grown = await growProjection(database.url, LARGE_CLAIMS);
    console.error(`  claims table grown to ${grown} rows`);
    rows.push(await cannon(BOARD_LARGE, { url: `${apiUrl}/board`, connections: 32, headers: browser }));
    rows.push(await cannon(SEARCH_LARGE, { url: `${apiUrl}/claims?q=Tyotkino`, connections: 32, headers: browser }));
    rows.push(await cannon(SEARCH_CARDS_LARGE, { url: `${apiUrl}/claims?q=Tyotkino&view=card`, connections: 32, headers: browser }));
    await stop(api.child);
    rows.push(await bareRun(BARE_AFTER));

    const by = (name: string) => rows.find((r) => r.name === name)!;
    const bareRps = (by(BARE).rps + by(BARE_AFTER).rps) / 2;
    const rawRps = (by(RAW).rps + by(RAW_AFTER).rps) / 2;
    console.log('\n| measurement | connections | req/s | p50 ms | p99 ms | errors |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
    for (const r of rows) console.log(`| ${r.name} | ${r.connections} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.errors} |`);
    const ratios = {
      writesVsRawInsert: Number((by(WRITE).rps / rawRps).toFixed(3)),
      getClaimVsBare: Number((by(GET).rps / bareRps).toFixed(3)),
      writesGrowingClaimsVsRawInsert: Number((by(WRITE_GROWING).rps / rawRps).toFixed(3)),
      getSeedClaimVsBare: Number((by(GET_SEED).rps / bareRps).toFixed(3)),
      getGrownClaimVsBare: Number((by(GET_GROWN).rps / bareRps).toFixed(3)),
      boardVsBare: Number((by(BOARD).rps / bareRps).toFixed(3)),
      searchVsBare: Number((by(SEARCH).rps / bareRps).toFixed(3)),
      searchCardsVsBare: Number((by(SEARCH_CARDS).rps / bareRps).toFixed(3)),
      boardBusyVsBare: Number((by(BOARD_BUSY).rps / bareRps).toFixed(3)),
      searchBusyVsBare: Number((by(SEARCH_BUSY).rps / bareRps).toFixed(3)),
      boardLargeVsBare: Number((by(BOARD_LARGE).rps / bareRps).toFixed(3)),
      searchLargeVsBare: Number((by(SEARCH_LARGE).rps / bareRps).toFixed(3)),
      searchCardsLargeVsBare: Number((by(SEARCH_CARDS_LARGE).rps / bareRps).toFixed(3)),
    };
    const targets = { writesVsRawInsert: 0.4, getClaimVsBare: 0.5, boardVsBare: 0.3, searchVsBare: 0.1, boardLargeVsBare: 0.3, searchLargeVsBare: 0.1 };
    console.log(`\nbaselines (mean of the pair): bare ${bareRps.toFixed(0)} req/s, raw insert ${rawRps.toFixed(0)} tx/s`);
    console.log(
      '\n' +
        JSON.stringify({
          bench: 'api',
          ratios,
          targets,
          met: Object.fromEntries(Object.entries(targets).map(([key, target]) => [key, ratios[key as keyof typeof ratios] >= target])),
          rows,
        }),
    );
  } finally {
    for (const child of children) await stop(child);
    await database.drop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
