/**
 * `npx tsx services/api/bench/profile-gets.ts`: the read load of bench:api
 * (GET /claims/:id, 32 connections, one claim, auditor token) against the service alone,
 * with the CPU time per request of the service process, its PostgreSQL backends and the
 * load generator read from /proc (Linux), as profile-notes.ts does for writes.
 *
 *   DURATION=10           seconds measured (after a 1 s warm-up)
 *   RATE_LIMIT_MAX=0      the bench's setting (off); e.g. 10000000 to include the limiter
 *   LOG_LEVEL=warn        the bench's setting; `info` for one line per request
 *   CPU_PROF=/tmp/prof    also write a V8 profile (node --cpu-prof) there
 *   PERF=/tmp/perf.data   also `perf record -g` the service (started with --perf-basic-prof)
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { createTestDatabase } from '@claimtrail/testing';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const DURATION = Number(process.env.DURATION ?? 10);
const CLOCK_TICK_MS = 10; // USER_HZ = 100

/** utime + stime of a process, in clock ticks (0 when it is gone). */
function ticks(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

function machine(): { busy: number; all: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const all = fields.reduce((a, b) => a + b, 0);
  return { busy: all - fields[3]! - fields[4]!, all };
}

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
      RATE_LIMIT_MAX: process.env.RATE_LIMIT_MAX ?? '0',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
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
  const fc = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const ids: string[] = [];
  for (let i = 0; i < 1; i++) {
    const response = await fetch(`${url}/claims`, {
      method: 'POST',
      headers: fc,
      body: JSON.stringify({ text: `Benchmark claim ${i} about Tyotkino`, tags: ['bench'] }),
    });
    ids.push(((await response.json()) as { id: string }).id);
  }
  // The bench reads a claim that its write run gave ~30–100 notes; give this one 50.
  for (let i = 0; i < 50; i++) {
    await fetch(`${url}/claims/${ids[0]}/notes`, { method: 'POST', headers: fc, body: JSON.stringify({ body: 'a note of ordinary length for the baseline' }) });
  }
  const auditorToken = /^\s+auditor\s+(\S+)/m.exec(out)![1]!;
  const options: autocannon.Options = {
    url: `${url}/claims/${ids[0]}`,
    connections: 32,
    headers: { authorization: `Bearer ${auditorToken}` },
  };
  await autocannon({ ...options, duration: 1 });

  const admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
  const backends = (
    await admin.query<{ pid: number }>('select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()')
  ).rows.map((row) => row.pid);
  await admin.end();
  const postgres = () => backends.reduce((sum, pid) => sum + ticks(pid), 0);

  const before = { service: ticks(child.pid!), postgres: postgres(), machine: machine(), self: process.cpuUsage() };
  const perf = process.env.PERF
    ? spawn('perf', ['record', '-F', process.env.PERF_FREQ ?? '499', '-g', '-o', process.env.PERF, ...(process.env.PERF_ALL ? ['-a'] : ['-p', String(child.pid)])], {
        stdio: 'ignore',
      })
    : undefined;
  const result = await autocannon({ ...options, duration: DURATION });
  if (perf) {
    perf.kill('SIGINT');
    await once(perf, 'exit');
  }
  const self = process.cpuUsage(before.self);
  const m = machine();
  const requests = result.requests.total;
  const per = (t: number) => ((t * CLOCK_TICK_MS) / requests).toFixed(3);
  console.log(
    `GET /claims/:id: ${result.requests.average.toFixed(0)} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, errors ${result.errors + result.non2xx}`,
  );
  console.log(
    `CPU ms per request: service ${per(ticks(child.pid!) - before.service)}, PostgreSQL (${backends.length} backends) ${per(postgres() - before.postgres)}, ` +
      `autocannon ${((self.user + self.system) / 1000 / requests).toFixed(3)}, whole machine ${per(m.busy - before.machine.busy)} ` +
      `(${((100 * (m.busy - before.machine.busy)) / (m.all - before.machine.all)).toFixed(0)}% busy)`,
  );
  child.kill('SIGTERM');
  await once(child, 'exit');
} finally {
  await database.drop();
}
