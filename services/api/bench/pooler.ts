/**
 * `npm run bench:pooler`: one instance of the service on PostgreSQL directly; one with the
 * transaction-pooler settings on the same direct connection (what those settings cost by
 * themselves: statements parsed each time as the unnamed statement, the statement timeout
 * sent before each transaction); one through Debian's PgBouncer in transaction mode
 * (test/support/pgbouncer.ts, default_pool_size = DB_POOL_SIZE, so the pooler adds its hop
 * and nothing else). The same workload on each, in one run, the three taking turns window
 * after window (3 rounds; medians), so a change in the machine's load falls on all three:
 *
 * - writes/s and their p50/p99: notes at 32 connections over 500 claims (as bench:api);
 * - GET /claims?limit=20 (a list: SQL over the projection, not the view cache) req/s, p50/p99;
 * - one autocommit statement (`select … where id = $1`) from this process on a pool opened
 *   the same way, one after another: µs each (best of 10 batches of 200).
 *
 * Prints a table and a final JSON line.
 *
 *   npm run bench:pooler           BENCH_DURATION=5 (seconds per window)
 */
import autocannon from 'autocannon';
import { CompiledQuery } from 'kysely';
import { openDatabase, type DatabaseConfig } from '@claimtrail/event-store';
import { createTestDatabase, serverUrl } from '@claimtrail/testing';
import { prepareDatabase } from '../../../test/support/db.ts';
import { startPgBouncer, type PgBouncer } from '../../../test/support/pgbouncer.ts';
import { startService, type Service } from '../../../test/support/service.ts';
import { analyze, createBenchClaims, noteRequests } from './support.ts';

/** Seconds of each measurement window; the routes take turns, ROUNDS windows each. */
const WINDOW_S = Number(process.env.BENCH_DURATION ?? 5);
const ROUNDS = 3;
const CONNECTIONS = 32;
const CLAIMS = 500;
const POOL_SIZE = 10;
const STATEMENT_BATCHES = 10;
const STATEMENTS_PER_BATCH = 200;

type Route = 'direct' | 'direct, pooler settings' | 'PgBouncer (transaction)';

interface Row {
  route: Route;
  writesPerSec: number;
  writeP50Ms: number;
  writeP99Ms: number;
  getPerSec: number;
  getP50Ms: number;
  getP99Ms: number;
  statementUs: number;
  errors: number;
}

/**
 * µs of one autocommit statement on a pool opened with `config` (one connection, warmed
 * up): the mean of a batch of 200 one after another, the best of 10 batches (what the
 * statement costs when the machine's other work leaves it alone).
 */
async function statementMicros(config: DatabaseConfig, id: string): Promise<number> {
  const database = await openDatabase({ ...config, poolSize: 1 });
  try {
    const query = CompiledQuery.raw('select id, version from claims where id = $1', [id]);
    for (let i = 0; i < 200; i++) await database.db.executeQuery(query);
    let best = Infinity;
    for (let batch = 0; batch < STATEMENT_BATCHES; batch++) {
      const started = performance.now();
      for (let i = 0; i < STATEMENTS_PER_BATCH; i++) await database.db.executeQuery(query);
      best = Math.min(best, ((performance.now() - started) * 1000) / STATEMENTS_PER_BATCH);
    }
    return best;
  } finally {
    await database.close();
  }
}

interface Setup {
  route: Route;
  service: Service;
  drop(): Promise<void>;
  ids: string[];
  writer: Record<string, string>;
  reader: Record<string, string>;
  /** The pool settings a process of the same kind would open (for the one-statement figure). */
  database: DatabaseConfig;
}

async function setUp(route: Route, bouncer: PgBouncer): Promise<Setup> {
  const db = await createTestDatabase('bench_pooler');
  const users = await prepareDatabase(db.url);
  const pooledUrl = route === 'PgBouncer (transaction)' ? bouncer.urlFor(db.url) : db.url;
  const poolerEnv: Record<string, string> = route === 'direct' ? {} : { DATABASE_POOLER: 'transaction', DIRECT_DATABASE_URL: db.url };
  const service = await startService({
    databaseUrl: pooledUrl,
    env: { LOG_LEVEL: 'warn', RATE_LIMIT_MAX: '0', DB_POOL_SIZE: String(POOL_SIZE), ...poolerEnv },
  });
  const writer = { authorization: `Bearer ${users.fact_checker.token}`, 'content-type': 'application/json' };
  const ids = await createBenchClaims(service.url, writer, CLAIMS, 16);
  await analyze(db.url);
  // Warm-up: one note on every claim, then list reads (every pooled connection has parsed what it sends).
  await autocannon({ url: service.url, connections: CONNECTIONS, amount: CLAIMS, requests: noteRequests(writer, ids) });
  const reader = { authorization: `Bearer ${users.editor.token}` };
  await autocannon({ url: `${service.url}/claims?limit=20`, connections: CONNECTIONS, amount: 500, headers: reader });
  return {
    route,
    service,
    ids,
    writer,
    reader,
    database: route === 'direct' ? { databaseUrl: db.url } : { databaseUrl: pooledUrl, pooler: 'transaction', sessionUrl: db.url },
    async drop() {
      await service.kill('SIGTERM');
      await db.drop();
    },
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

const server = new URL(serverUrl());
const bouncer = await startPgBouncer({
  upstream: { host: server.hostname, port: Number(server.port || 5432) },
  user: server.username || 'postgres',
  poolSize: POOL_SIZE,
});
const routes = ['direct', 'direct, pooler settings', 'PgBouncer (transaction)'] as const;
const setups: Setup[] = [];
const rows: Row[] = [];
try {
  for (const route of routes) {
    console.error(`setting up: ${route}`);
    setups.push(await setUp(route, bouncer));
  }
  // The routes take turns, window after window, so a change in the machine's load falls on all of them.
  const samples = new Map<Route, { writes: autocannon.Result[]; gets: autocannon.Result[]; statementUs: number[] }>(
    routes.map((route) => [route, { writes: [], gets: [], statementUs: [] }]),
  );
  for (let round = 1; round <= ROUNDS; round++) {
    for (const setup of setups) {
      const sample = samples.get(setup.route)!;
      sample.writes.push(await autocannon({ url: setup.service.url, connections: CONNECTIONS, duration: WINDOW_S, requests: noteRequests(setup.writer, setup.ids) }));
      sample.gets.push(await autocannon({ url: `${setup.service.url}/claims?limit=20`, connections: CONNECTIONS, duration: WINDOW_S, headers: setup.reader }));
      sample.statementUs.push(await statementMicros(setup.database, setup.ids[0]!));
      const w = sample.writes.at(-1)!;
      const g = sample.gets.at(-1)!;
      console.error(
        `  round ${round}, ${setup.route}: writes ${w.requests.average.toFixed(0)}/s (p50 ${w.latency.p50} ms, p99 ${w.latency.p99} ms); ` +
          `GET list ${g.requests.average.toFixed(0)}/s (p50 ${g.latency.p50} ms, p99 ${g.latency.p99} ms); one statement ${sample.statementUs.at(-1)!.toFixed(0)} µs`,
      );
    }
  }
  for (const route of routes) {
    const { writes, gets, statementUs } = samples.get(route)!;
    const failed = (results: autocannon.Result[]) => results.reduce((n, r) => n + r.errors + r.non2xx + r.timeouts, 0);
    rows.push({
      route,
      writesPerSec: median(writes.map((r) => r.requests.average)),
      writeP50Ms: median(writes.map((r) => r.latency.p50)),
      writeP99Ms: median(writes.map((r) => r.latency.p99)),
      getPerSec: median(gets.map((r) => r.requests.average)),
      getP50Ms: median(gets.map((r) => r.latency.p50)),
      getP99Ms: median(gets.map((r) => r.latency.p99)),
      statementUs: median(statementUs),
      errors: failed(writes) + failed(gets),
    });
  }
} finally {
  for (const setup of setups) await setup.drop().catch(() => undefined);
  await bouncer.stop();
}

const direct = rows[0]!;
console.log(`\nmedians of ${ROUNDS} windows of ${WINDOW_S} s per route, the routes taking turns`);
console.log(`| route | writes/s | write p50 / p99 ms | GET /claims?limit=20 req/s | GET p50 / p99 ms | one statement µs | errors |`);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) {
  console.log(
    `| ${r.route} | ${r.writesPerSec.toFixed(0)} | ${r.writeP50Ms} / ${r.writeP99Ms} | ${r.getPerSec.toFixed(0)} | ${r.getP50Ms} / ${r.getP99Ms} | ${r.statementUs.toFixed(0)} | ${r.errors} |`,
  );
}
const key = (route: Route) => (route === 'direct' ? 'direct' : route === 'direct, pooler settings' ? 'poolerSettings' : 'pgbouncer');
console.log(
  JSON.stringify({
    bench: 'pooler',
    windowS: WINDOW_S,
    rounds: ROUNDS,
    ...Object.fromEntries(
      rows.map((r) => [
        key(r.route),
        {
          writesPerSec: Math.round(r.writesPerSec),
          writeP50Ms: r.writeP50Ms,
          writeP99Ms: r.writeP99Ms,
          getPerSec: Math.round(r.getPerSec),
          getP50Ms: r.getP50Ms,
          getP99Ms: r.getP99Ms,
          statementUs: Math.round(r.statementUs),
          errors: r.errors,
        },
      ]),
    ),
    pgbouncerWritesVsDirect: Number((rows[2]!.writesPerSec / direct.writesPerSec).toFixed(3)),
    pgbouncerGetsVsDirect: Number((rows[2]!.getPerSec / direct.getPerSec).toFixed(3)),
  }),
);
