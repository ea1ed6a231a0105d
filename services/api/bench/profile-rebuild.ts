/**
 * Where a rebuild's CPU goes: runs rebuildProjections (swap, concurrent reads) ROUNDS
 * times on an existing database (e.g. one kept by `BENCH_KEEP=1 npm run bench:audit`) and
 * prints, per round, wall time, this process's CPU and each PostgreSQL backend's CPU
 * (from /proc, Linux), labelled by the last statement it ran.
 *
 *   PROFILE_DB=bench_audit_… tsx services/api/bench/profile-rebuild.ts
 *   MODE=compare  ROUNDS=3  CLAIMTRAIL_REBUILD_TIMING=1 (each phase's and index build's time on stderr)
 */
import { availableParallelism } from 'node:os';
import pg from 'pg';
import { createEventStore, openDatabase } from '@claimtrail/event-store';
import { formatRebuildTimings, rebuildProjections, type RebuildTimings } from '@claimtrail/claims';
import { CLOCK_TICK_MS, machine, ticks } from './support.ts';

const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbName = process.env.PROFILE_DB;
if (!dbName) throw new Error('PROFILE_DB=<database> is required');
const url = new URL(serverUrl);
url.pathname = `/${dbName}`;
const rounds = Number(process.env.ROUNDS ?? 3);
const mode = process.env.MODE === 'compare' ? 'compare' : 'swap';
const onTimings =
  process.env.CLAIMTRAIL_REBUILD_TIMING === '1' ? (timings: RebuildTimings) => process.stderr.write(`${formatRebuildTimings(timings)}\n`) : undefined;

const cpuOf = (pid: number) => ticks(pid) * CLOCK_TICK_MS;

const database = await openDatabase({ databaseUrl: url.toString(), poolSize: 8, statementTimeoutMs: 600_000 });
const store = createEventStore(database);
const watcher = new pg.Client({ connectionString: url.toString() });
await watcher.connect();
const backends = async () =>
  (await watcher.query<{ pid: number; query: string }>(`select pid, left(regexp_replace(query, '\\s+', ' ', 'g'), 70) as query from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`, [dbName])).rows;
try {
  for (let round = 1; round <= rounds; round++) {
    const before = new Map((await backends()).map((b) => [b.pid, cpuOf(b.pid)]));
    const cpu0 = process.cpuUsage();
    if (process.env.MARK_ROUNDS === '1') console.log(`mark ${round} ${process.hrtime.bigint() / 1000n}`);
    const t0 = performance.now();
    // TIMELINE=1: the whole machine's busy cores every 100 ms (from /proc/stat) during the round.
    const timeline: string[] = [];
    let last = machine();
    const sampler = process.env.TIMELINE === '1'
      ? setInterval(() => {
          const now = machine();
          const cores = (availableParallelism() * (now.busy - last.busy)) / Math.max(1, now.all - last.all);
          timeline.push(cores.toFixed(1));
          last = now;
        }, 100)
      : null;
    const result = await rebuildProjections(store, { mode, concurrentReads: true, ...(onTimings ? { onTimings } : {}) });
    if (sampler) {
      clearInterval(sampler);
      console.log(`   busy cores per 100 ms: ${timeline.join(' ')}`);
    }
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const after = await backends();
    const lines = after
      .map((b) => ({ ...b, ms: cpuOf(b.pid) - (before.get(b.pid) ?? 0) }))
      .filter((b) => b.ms > 0)
      .sort((a, b) => b.ms - a.ms);
    const pgTotal = lines.reduce((sum, b) => sum + b.ms, 0);
    console.log(
      `round ${round}: ${result.events} events ${Math.round(wall)} ms wall, ${Math.round((result.events / wall) * 1000)} ev/s; node ${Math.round((cpu.user + cpu.system) / 1000)} ms cpu; postgres ${pgTotal} ms cpu`,
    );
    for (const b of lines) console.log(`   ${String(b.ms).padStart(5)} ms  pid ${b.pid}  ${b.query}`);
  }
} finally {
  await watcher.end();
  await store.close();
  await database.close();
}
