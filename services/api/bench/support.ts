/**
 * Shared by the service benches: creating the claims a run works on, and the profiling
 * harness of profile-gets.ts / profile-notes.ts (the service as a child process, CPU time
 * per request of each party read from /proc, Linux).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { createTestDatabase } from '@claimtrail/testing';

const root = fileURLToPath(new URL('../../../', import.meta.url));
export const CLOCK_TICK_MS = 10; // USER_HZ = 100

/** Creates `count` bench claims through POST /claims, `parallel` at a time; returns their ids in index order. */
export async function createBenchClaims(url: string, headers: Record<string, string>, count: number, parallel = 1): Promise<string[]> {
  const ids: string[] = new Array(count);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const response = await fetch(`${url}/claims`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ text: `Benchmark claim ${i} about Tyotkino`, tags: ['bench'] }),
      });
      ids[i] = ((await response.json()) as { id: string }).id;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, parallel) }, worker));
  return ids;
}

/**
 * ANALYZE after loading: the tables went from the seed's few rows to thousands in seconds,
 * and until autovacuum's next round (up to a minute) the planner still costs them as tiny
 * (a sequential scan of `claims` to lock one row). A database in service has had that
 * round; the load is measured on such a one.
 */
export async function analyze(url: string): Promise<void> {
  if (process.env.NO_ANALYZE) return;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('analyze');
  } finally {
    await client.end();
  }
}

/**
 * Grows the claims projection to `total` rows in one INSERT … SELECT: copies of the rows
 * there (same states, tags, search vectors, views and cards), new ids, dates moved back so
 * the copies are older. Announced on `claimtrail_claims` as `*`, as a write that bypasses
 * the store must be, so the service's kept answers are dropped. Returns the row count.
 */
export async function growProjection(url: string, total: number): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const have = Number((await client.query<{ n: string }>('select count(*) as n from claims')).rows[0]!.n);
    const missing = total - have;
    if (missing > 0) {
      await client.query(
        `insert into claims (id, stream_id, state, assignee, tags, rating, draft_rating, version, created_at, updated_at, search, view, card, head_hash)
         select id, 'claim-' || id, state, assignee, tags, rating, draft_rating, version,
           created_at - copy * interval '1 day', updated_at - copy * interval '1 day', search, view, card, head_hash
         from (
           select gen_random_uuid() as id, g as copy, c.state, c.assignee, c.tags, c.rating, c.draft_rating, c.version,
             c.created_at, c.updated_at, c.search, c.view, c.card, c.head_hash
           from generate_series(1, $1::int / $2::int + 1) g cross join claims c
           limit $1
         ) copies`,
        [missing, have],
      );
    }
    // As autovacuum would have by then: statistics and the visibility map (index-only counts).
    await client.query('vacuum analyze claims');
    await client.query(`select pg_notify('claimtrail_claims', '*')`);
    return Number((await client.query<{ n: string }>('select count(*) as n from claims')).rows[0]!.n);
  } finally {
    await client.end();
  }
}

/** Adds notes at `perSecond` (round-robin over `ids`) until stopped: the writes of a busy desk during a read measurement. */
export function notesInBackground(url: string, headers: Record<string, string>, ids: readonly string[], perSecond: number): { stop(): Promise<void> } {
  let next = 0;
  const inFlight = new Set<Promise<unknown>>();
  const timer = setInterval(() => {
    const id = ids[next++ % ids.length];
    const write = fetch(`${url}/claims/${id}/notes`, { method: 'POST', headers, body: JSON.stringify({ body: 'a note written during the reads' }) })
      .then((response) => response.arrayBuffer())
      .catch(() => undefined);
    inFlight.add(write);
    void write.finally(() => inFlight.delete(write));
  }, 1000 / perSecond);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all(inFlight);
    },
  };
}

/** autocannon requests adding one note per request, round-robin over the claims `ids`. */
export function noteRequests(headers: Record<string, string>, ids: readonly string[]): autocannon.Request[] {
  let next = 0;
  return [
    {
      method: 'POST',
      headers,
      body: JSON.stringify({ body: 'a note of ordinary length for the baseline' }),
      setupRequest: (request) => ({ ...request, path: `/claims/${ids[next++ % ids.length]}/notes` }),
    },
  ];
}

/** utime + stime of a process, in clock ticks (0 when it is gone); `kernel`: stime only. */
export function ticks(pid: number, kernel = false): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (kernel ? 0 : Number(fields[11])) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/** The whole machine's busy and total clock ticks since boot (/proc/stat, all cores). */
export function machine(): { busy: number; all: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const all = fields.reduce((a, b) => a + b, 0);
  return { busy: all - fields[3]! - fields[4]!, all };
}

export interface RunningService {
  url: string;
  /** The service's stdout + stderr so far (demo tokens included). */
  output: string;
  /** Headers of the fact_checker demo token, JSON body. */
  factChecker: Record<string, string>;
}

export interface ProfileSpec {
  /** Label of the result line. */
  name: string;
  /** RATE_LIMIT_MAX and LOG_LEVEL of the service. */
  rateLimitMax: string;
  logLevel: string;
  /** `perf record -F` frequency. */
  perfFrequency: string;
  /** Prepares the load (claims, notes) and returns the autocannon options to run. */
  load(service: RunningService): Promise<autocannon.Options>;
}

/**
 * Starts the service on its own database, warms up for 1 s, then runs `duration` seconds
 * and prints req/s, latency and CPU ms per request (service, its PostgreSQL backends,
 * autocannon, the whole machine). CPU_PROF / PERF / PERF_ALL / POOL as in the scripts' docs;
 * TABLE_STATS=1 also prints pg_stat_user_tables at the end.
 */
export async function profileService(spec: ProfileSpec, duration: number): Promise<void> {
  const database = await createTestDatabase('prof_api');
  try {
    const args = [
      ...(process.env.PERF ? ['--perf-basic-prof'] : []),
      ...(process.env.CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.CPU_PROF}`] : []),
      '--import',
      'tsx',
      'services/api/src/server.ts',
    ];
    const child = spawn(process.execPath, args, {
      cwd: root,
      env: {
        ...process.env,
        DATABASE_URL: database.url,
        PORT: '0',
        HOST: '127.0.0.1',
        DEMO_TOKENS: '1',
        SEED: '1',
        RATE_LIMIT_MAX: spec.rateLimitMax,
        LOG_LEVEL: spec.logLevel,
        DATABASE_POOL_SIZE: process.env.POOL ?? '16',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += String(d)));
    child.stderr!.on('data', (d) => (out += String(d)));
    while (!/listening on (http:\/\/\S+)/.test(out) || !/fact_checker\s+\S+/.test(out)) {
      if (child.exitCode !== null) throw new Error(out);
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 300));
    const url = /listening on (http:\/\/\S+)/.exec(out)![1]!;
    const token = /^\s+fact_checker\s+(\S+)/m.exec(out)![1]!;
    const factChecker = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const options = await spec.load({ url, output: out, factChecker });
    await analyze(database.url);
    await autocannon({ ...options, duration: 1 });

    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    const backends = (
      await admin.query<{ pid: number }>('select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()')
    ).rows.map((row) => row.pid);
    await admin.end();
    const postgres = () => backends.reduce((sum, pid) => sum + ticks(pid), 0);

    const before = { service: ticks(child.pid!), serviceKernel: ticks(child.pid!, true), postgres: postgres(), machine: machine(), self: process.cpuUsage() };
    const perf = process.env.PERF
      ? spawn('perf', ['record', '-F', spec.perfFrequency, '-g', '-o', process.env.PERF, ...(process.env.PERF_ALL ? ['-a'] : ['-p', String(child.pid)])], {
          stdio: 'ignore',
        })
      : undefined;
    const result = await autocannon({ ...options, duration });
    const metrics = await (await fetch(`${url}/metrics`, { headers: { authorization: factChecker.authorization! } })).text().catch(() => '');
    if (perf) {
      perf.kill('SIGINT');
      await once(perf, 'exit');
    }
    const self = process.cpuUsage(before.self);
    const m = machine();
    const requests = result.requests.total;
    const per = (t: number) => ((t * CLOCK_TICK_MS) / requests).toFixed(3);
    console.log(
      `${spec.name}: ${result.requests.average.toFixed(0)} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, errors ${result.errors + result.non2xx}`,
    );
    console.log(
      `CPU ms per request: service ${per(ticks(child.pid!) - before.service)} (kernel ${per(ticks(child.pid!, true) - before.serviceKernel)}), PostgreSQL (${backends.length} backends) ${per(postgres() - before.postgres)}, ` +
        `autocannon ${((self.user + self.system) / 1000 / requests).toFixed(3)}, whole machine ${per(m.busy - before.machine.busy)} ` +
        `(${((100 * (m.busy - before.machine.busy)) / (m.all - before.machine.all)).toFixed(0)}% busy)`,
    );
    const batches = /^claimtrail_write_batch_size_count (\d+)/m.exec(metrics)?.[1];
    const commands = /^claimtrail_write_batch_size_sum (\d+)/m.exec(metrics)?.[1];
    if (batches && commands) console.log(`write batches: ${batches}, ${(Number(commands) / Number(batches)).toFixed(1)} commands per batch on average (whole run)`);
    const paths = [...metrics.matchAll(/^claimtrail_write_batches_total\{path="(\w+)"\} (\d+)/gm)].map((m) => `${m[1]} ${m[2]}`);
    if (paths.length > 0) console.log(`write paths: ${paths.join(', ')}`);
    if (process.env.TABLE_STATS) {
      // Per-table scans and writes of the whole run (is anything sequentially scanned? are updates heap-only?).
      const stats = new pg.Client({ connectionString: database.url });
      await stats.connect();
      const { rows } = await stats.query(
        'select relname, seq_scan, seq_tup_read, idx_scan, n_tup_ins, n_tup_upd, n_tup_hot_upd from pg_stat_user_tables order by seq_tup_read desc',
      );
      await stats.end();
      console.table(rows);
    }
    child.kill('SIGTERM');
    await once(child, 'exit');
  } finally {
    await database.drop();
  }
}
