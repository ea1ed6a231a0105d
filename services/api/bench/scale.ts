/**
 * `npm run bench:scale`: one instance direct, then three instances on the same kind of
 * database behind nginx (round robin, then the claim-id hash), the same workload each time,
 * in one run:
 *
 * - writes/s: notes at 32 connections over 2,000 claims (as bench:api), through the front
 *   (the instance itself, or nginx);
 * - database commits per write: pg_stat_database `xact_commit` delta over the events
 *   appended (every transaction of every instance counts: writes, sequencer passes, the
 *   store subscriptions' reads);
 * - rolled-back inserts: `n_tup_ins` of `events` minus the events that stayed (a write
 *   transaction that lost a race inserted and rolled back), and `xact_rollback`;
 * - how the batches were written (the instances' /metrics: one round trip vs read first,
 *   mean batch size), the machine's CPU busy share;
 * - websocket delivery p99: 50 feed watchers (the typed client) through the front, from an
 *   event's `recordedAt` to its arrival;
 * - with three instances: 1,000 watchers connected to one instance (their reconnects go
 *   through nginx) while writes continue at 50/s; that instance is killed with SIGKILL;
 *   the time from each watcher's socket closing to its `caught-up` on another instance,
 *   and that every watcher then has every event once, in order.
 *
 * The watchers run in a child process of their own (this file with --watchers), the
 * services are child processes (test/support/service.ts), nginx is started with its own
 * configuration (test/support/nginx.ts). Prints a table and a final JSON line.
 *
 *   npm run bench:scale            BENCH_DURATION=10 (seconds per measurement)
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import WebSocket from 'ws';
import { LiveConnection, type LiveStatus, type WebSocketConstructor } from '@claimtrail/client';
import { createTestDatabase } from '@claimtrail/testing';
import { prepareDatabase } from '../../../test/support/db.ts';
import { startNginx, type Balance, type Nginx } from '../../../test/support/nginx.ts';
import { sleep, startService, type Service } from '../../../test/support/service.ts';
import { analyze, createBenchClaims, machine, noteRequests } from './support.ts';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = 32;
const CLAIMS = 2000;
const DELIVERY_WATCHERS = 50;
const STORM_WATCHERS = 1000;
const STORM_RATE = 50;

// ---------------------------------------------------------------- the watchers' process

type ToWatchers =
  | { type: 'connect'; url: string; reconnectUrl: string; token: string; count: number; after: number }
  | { type: 'measure'; on: boolean }
  | { type: 'arm' }
  | { type: 'verify'; head: number }
  | { type: 'close' };
type FromWatchers =
  | { type: 'connected'; count: number }
  | { type: 'latency'; samples: number; p50: number; p99: number; max: number }
  | { type: 'storm'; watchers: number; caughtUp: number; p50: number; p99: number; max: number; within2s: number }
  | { type: 'verified'; watchers: number; atHead: number; gaps: number; duplicates: number }
  | { type: 'closed' };

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))]!;
}

async function watchersProcess(): Promise<void> {
  interface Watcher {
    live: LiveConnection;
    last: number;
    gaps: number;
    duplicates: number;
    closedAt: number;
    caughtUpAt: number;
  }
  let watchers: Watcher[] = [];
  let measuring = false;
  let armed = false;
  let latencies: number[] = [];
  const send = (message: FromWatchers) => process.send!(message);
  let stormReported = false;
  const stormCheck = () => {
    if (!armed || stormReported) return;
    const done = watchers.filter((w) => w.caughtUpAt > 0);
    if (done.length < watchers.length) return;
    stormReported = true;
    const times = done.map((w) => w.caughtUpAt - w.closedAt).sort((a, b) => a - b);
    send({ type: 'storm', watchers: watchers.length, caughtUp: done.length, p50: percentile(times, 0.5), p99: percentile(times, 0.99), max: times.at(-1) ?? 0, within2s: times.filter((t) => t <= 2000).length });
  };

  process.on('message', async (message: ToWatchers) => {
    switch (message.type) {
      case 'connect': {
        // The first connection goes to `url`; every reconnect to `reconnectUrl` (nginx).
        const wsUrl = (http: string) => `${http.replace(/^http/, 'ws')}/ws`;
        const direct = wsUrl(message.url);
        const front = wsUrl(message.reconnectUrl);
        let first = true;
        const Routed = class extends WebSocket {
          constructor(url: string) {
            super(first ? url.replace(front, direct) : url);
          }
        } as unknown as WebSocketConstructor;
        let caughtUp = 0;
        const batch: Watcher[] = [];
        for (let i = 0; i < message.count; i++) {
          const watcher: Watcher = {
            live: new LiveConnection({ url: front, token: message.token, WebSocket: Routed }),
            last: message.after,
            gaps: 0,
            duplicates: 0,
            closedAt: 0,
            caughtUpAt: 0,
          };
          watcher.live.onStatus((status: LiveStatus) => {
            if (armed && status === 'reconnecting' && watcher.closedAt === 0) watcher.closedAt = performance.now();
          });
          let initial = true;
          watcher.live.subscribe(
            { channel: 'feed', after: message.after },
            {
              onEvent: (event) => {
                if (event.position === watcher.last + 1) watcher.last = event.position;
                else if (event.position <= watcher.last) watcher.duplicates++;
                else {
                  watcher.gaps++;
                  watcher.last = event.position;
                }
                if (measuring) latencies.push(Date.now() - Date.parse(event.event.recordedAt));
              },
              onCaughtUp: () => {
                if (initial) {
                  initial = false;
                  if (++caughtUp === message.count) send({ type: 'connected', count: caughtUp });
                } else if (watcher.closedAt > 0 && watcher.caughtUpAt === 0) {
                  watcher.caughtUpAt = performance.now();
                  stormCheck();
                }
              },
            },
          );
          batch.push(watcher);
          // Connect in small groups: the handshakes of a thousand sockets at once would be the storm itself.
          if (i % 50 === 49) await sleep(20);
        }
        first = false;
        watchers = watchers.concat(batch);
        return;
      }
      case 'measure':
        measuring = message.on;
        if (!message.on) {
          const sorted = latencies.sort((a, b) => a - b);
          send({ type: 'latency', samples: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1) ?? 0 });
          latencies = [];
        }
        return;
      case 'arm':
        armed = true;
        stormReported = false;
        return;
      case 'verify': {
        const deadline = Date.now() + 15_000;
        while (Date.now() < deadline && watchers.some((w) => w.last < message.head)) await sleep(50);
        send({
          type: 'verified',
          watchers: watchers.length,
          atHead: watchers.filter((w) => w.last === message.head).length,
          gaps: watchers.reduce((n, w) => n + w.gaps, 0),
          duplicates: watchers.reduce((n, w) => n + w.duplicates, 0),
        });
        return;
      }
      case 'close':
        for (const w of watchers) w.live.close();
        watchers = [];
        armed = false;
        send({ type: 'closed' });
        return;
    }
  });
  process.send!({ type: 'ready' });
}

// ---------------------------------------------------------------- the bench

class Watchers {
  private constructor(private readonly child: ChildProcess) {}

  static async start(): Promise<Watchers> {
    const child = fork(fileURLToPath(import.meta.url), ['--watchers'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await once(child, 'message');
    return new Watchers(child);
  }

  private next<T extends FromWatchers['type']>(type: T, timeoutMs = 60_000): Promise<Extract<FromWatchers, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.child.off('message', onMessage);
        reject(new Error(`watchers: no ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onMessage = (message: FromWatchers) => {
        if (message.type !== type) return;
        clearTimeout(timer);
        this.child.off('message', onMessage);
        resolve(message as Extract<FromWatchers, { type: T }>);
      };
      this.child.on('message', onMessage);
    });
  }

  async connect(options: Omit<Extract<ToWatchers, { type: 'connect' }>, 'type'>): Promise<void> {
    const connected = this.next('connected', 120_000);
    this.child.send({ type: 'connect', ...options });
    await connected;
  }

  measure(on: true): void;
  measure(on: false): Promise<Extract<FromWatchers, { type: 'latency' }>>;
  measure(on: boolean): void | Promise<Extract<FromWatchers, { type: 'latency' }>> {
    const result = on ? undefined : this.next('latency');
    this.child.send({ type: 'measure', on });
    return result;
  }

  arm(): Promise<Extract<FromWatchers, { type: 'storm' }>> {
    const storm = this.next('storm', 60_000);
    this.child.send({ type: 'arm' });
    return storm;
  }

  async verify(head: number): Promise<Extract<FromWatchers, { type: 'verified' }>> {
    const verified = this.next('verified', 30_000);
    this.child.send({ type: 'verify', head });
    return verified;
  }

  async close(): Promise<void> {
    const closed = this.next('closed');
    this.child.send({ type: 'close' });
    await closed;
  }

  stop(): void {
    this.child.kill('SIGTERM');
  }
}

interface DatabaseCounters {
  commits: number;
  rollbacks: number;
  eventInserts: number;
  events: number;
  head: number;
  /** Calls of `events_sequence`: sequencer passes, those that found the lock taken included. */
  passes: number;
}

async function runSql(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

async function counters(url: string): Promise<DatabaseCounters> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const db = await client.query<{ xact_commit: string; xact_rollback: string }>(
      'select xact_commit, xact_rollback from pg_stat_database where datname = current_database()',
    );
    const table = await client.query<{ n_tup_ins: string }>("select n_tup_ins from pg_stat_user_tables where relname = 'events'");
    const events = await client.query<{ n: string; head: string | null }>('select count(*) as n, max(position) as head from events');
    const passes = await client.query<{ calls: string }>("select coalesce(sum(calls), 0) as calls from pg_stat_user_functions where funcname = 'events_sequence'");
    return {
      passes: Number(passes.rows[0]!.calls),
      commits: Number(db.rows[0]!.xact_commit),
      rollbacks: Number(db.rows[0]!.xact_rollback),
      eventInserts: Number(table.rows[0]!.n_tup_ins),
      events: Number(events.rows[0]!.n),
      head: Number(events.rows[0]!.head ?? 0),
    };
  } finally {
    await client.end();
  }
}

/**
 * A backend reports its counters when it goes idle, but at most once a second; what it
 * could not report then waits for its next report or for the idle timer (10 s in
 * PostgreSQL 15). So the counters are read 11 s after the load stopped, once every
 * committed event has its position (an instance killed between a commit and its
 * sequencer pass leaves that to the others' poll). Meanwhile the instances' idle work
 * (sequencer polls, subscription polls) is counted too, as it is in service.
 */
const STATS_SETTLE_MS = 11_000;

async function settledCounters(url: string): Promise<DatabaseCounters> {
  await sleep(STATS_SETTLE_MS);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (let i = 0; i < 100; i++) {
      const { rows } = await client.query<{ n: string }>('select count(*) as n from events where position is null');
      if (Number(rows[0]!.n) === 0) break;
      await sleep(100);
    }
  } finally {
    await client.end();
  }
  return counters(url);
}

interface BatchCounters {
  oneFlight: number;
  readFirst: number;
  failed: number;
  batchSum: number;
  batchCount: number;
}

async function batchCounters(services: readonly Service[], token: string): Promise<BatchCounters> {
  const total: BatchCounters = { oneFlight: 0, readFirst: 0, failed: 0, batchSum: 0, batchCount: 0 };
  for (const service of services) {
    if (service.exited()) continue;
    const text = await (await fetch(`${service.url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
    total.oneFlight += value(/^claimtrail_write_batches_total\{path="one_flight"\} (\S+)$/m);
    total.readFirst += value(/^claimtrail_write_batches_total\{path="read_first"\} (\S+)$/m);
    total.failed += value(/^claimtrail_write_batches_total\{path="failed"\} (\S+)$/m);
    total.batchSum += value(/^claimtrail_write_batch_size_sum (\S+)$/m);
    total.batchCount += value(/^claimtrail_write_batch_size_count (\S+)$/m);
  }
  return total;
}

interface PhaseResult {
  name: string;
  instances: number;
  writesPerSec: number;
  writeP50Ms: number;
  writeP99Ms: number;
  errors: number;
  commitsPerWrite: number;
  /** Sequencer passes per write (part of the commits). */
  passesPerWrite: number;
  rollbacks: number;
  rolledBackInserts: number;
  oneFlightShare: number;
  meanBatch: number;
  cpuBusy: number;
  deliveryP99Ms: number;
  storm?: { watchers: number; caughtUp: number; p50Ms: number; p99Ms: number; maxMs: number; within2s: number; atHead: number; gaps: number; duplicates: number };
}

async function phase(name: string, instances: number, balance: Balance | null, watchers: Watchers, storm: boolean): Promise<PhaseResult> {
  console.error(`\n== ${name}`);
  const db = await createTestDatabase('bench_scale');
  let nginx: Nginx | undefined;
  const services: Service[] = [];
  try {
    const users = await prepareDatabase(db.url);
    // Counts the sequencer's function calls (pg_stat_user_functions), for every session opened from now on.
    await runSql(db.url, `alter database "${db.name}" set track_functions = 'pl'`);
    const token = users.fact_checker.token;
    services.push(
      ...(await Promise.all(
        Array.from({ length: instances }, () =>
          startService({ databaseUrl: db.url, env: { LOG_LEVEL: 'warn', RATE_LIMIT_MAX: '0', TRUST_PROXY: 'loopback' } }),
        ),
      )),
    );
    if (balance !== null) nginx = await startNginx({ upstreams: services.map((s) => `127.0.0.1:${s.port}`), balance });
    const front = nginx?.url ?? services[0]!.url;
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const ids = await createBenchClaims(front, headers, CLAIMS, 16);
    await analyze(db.url);

    const start = await counters(db.url);
    await watchers.connect({ url: front, reconnectUrl: front, token, count: DELIVERY_WATCHERS, after: start.head });
    const requests = noteRequests(headers, ids);
    // Warm-up: one note on every claim, so each instance has written (and holds the state
    // of) the claims that come to it, as in a service that has been running for a while.
    await autocannon({ url: front, connections: CONNECTIONS, amount: CLAIMS, requests });

    const before = await settledCounters(db.url);
    const batchesBefore = await batchCounters(services, token);
    const cpuBefore = machine();
    watchers.measure(true);
    const result = await autocannon({ url: front, connections: CONNECTIONS, duration: DURATION, requests });
    const latency = await watchers.measure(false);
    const cpuAfter = machine();
    const after = await settledCounters(db.url);
    const batchesAfter = await batchCounters(services, token);
    await watchers.close();

    const writes = after.events - before.events;
    const batches = {
      oneFlight: batchesAfter.oneFlight - batchesBefore.oneFlight,
      readFirst: batchesAfter.readFirst - batchesBefore.readFirst,
      size: (batchesAfter.batchSum - batchesBefore.batchSum) / Math.max(1, batchesAfter.batchCount - batchesBefore.batchCount),
    };
    const row: PhaseResult = {
      name,
      instances,
      writesPerSec: result.requests.average,
      writeP50Ms: result.latency.p50,
      writeP99Ms: result.latency.p99,
      errors: result.errors + result.non2xx + result.timeouts,
      commitsPerWrite: (after.commits - before.commits) / Math.max(1, writes),
      passesPerWrite: (after.passes - before.passes) / Math.max(1, writes),
      rollbacks: after.rollbacks - before.rollbacks,
      rolledBackInserts: after.eventInserts - before.eventInserts - writes,
      oneFlightShare: batches.oneFlight / Math.max(1, batches.oneFlight + batches.readFirst),
      meanBatch: batches.size,
      cpuBusy: (cpuAfter.busy - cpuBefore.busy) / Math.max(1, cpuAfter.all - cpuBefore.all),
      deliveryP99Ms: latency.p99,
    };
    console.error(
      `  ${row.writesPerSec.toFixed(0)} writes/s (p50 ${row.writeP50Ms} ms, p99 ${row.writeP99Ms} ms, errors ${row.errors}); ` +
        `${row.commitsPerWrite.toFixed(2)} commits/write (${row.passesPerWrite.toFixed(2)} sequencer passes), ${row.rollbacks} rollbacks, ${row.rolledBackInserts} rolled-back event inserts; ` +
        `one round trip ${(row.oneFlightShare * 100).toFixed(0)} %, batch ${row.meanBatch.toFixed(1)}; CPU ${(row.cpuBusy * 100).toFixed(0)} %; ` +
        `delivery p99 ${row.deliveryP99Ms} ms over ${latency.samples} messages`,
    );

    if (storm && nginx) {
      // 1,000 watchers on the last instance; writes go on through nginx; that instance dies.
      const victim = services.at(-1)!;
      const head = (await counters(db.url)).head;
      await watchers.connect({ url: victim.url, reconnectUrl: nginx.url, token, count: STORM_WATCHERS, after: head });
      let writing = true;
      let written = 0;
      const writer = (async () => {
        for (let i = 0; writing; i++) {
          const started = performance.now();
          const response = await fetch(`${nginx!.url}/claims/${ids[i % ids.length]}/notes`, {
            method: 'POST',
            headers,
            body: JSON.stringify({ body: 'a note written while an instance dies' }),
          }).catch(() => null);
          if (response) {
            await response.arrayBuffer();
            if (response.ok) written++;
          }
          await sleep(Math.max(0, 1000 / STORM_RATE - (performance.now() - started)));
        }
      })();
      await sleep(2000);
      const stormDone = watchers.arm();
      victim.child.kill('SIGKILL');
      const caught = await stormDone;
      await sleep(2000);
      writing = false;
      await writer;
      const final = await settledCounters(db.url);
      const verified = await watchers.verify(final.head);
      await watchers.close();
      row.storm = {
        watchers: caught.watchers,
        caughtUp: caught.caughtUp,
        p50Ms: caught.p50,
        p99Ms: caught.p99,
        maxMs: caught.max,
        within2s: caught.within2s,
        atHead: verified.atHead,
        gaps: verified.gaps,
        duplicates: verified.duplicates,
      };
      console.error(
        `  reconnect storm: ${caught.caughtUp}/${caught.watchers} caught up, p50 ${caught.p50.toFixed(0)} ms, p99 ${caught.p99.toFixed(0)} ms, ` +
          `max ${caught.max.toFixed(0)} ms, ${caught.within2s} within 2 s; ${verified.atHead} at the head, gaps ${verified.gaps}, ` +
          `duplicates ${verified.duplicates} (${written} writes meanwhile)`,
      );
    }
    return row;
  } finally {
    await nginx?.stop();
    await Promise.all(services.map((s) => s.kill('SIGTERM')));
    await db.drop();
  }
}

function table(rows: readonly PhaseResult[]): string {
  const header = ['', 'writes/s', 'p99 ms', 'commits/write', 'of which sequencer passes', 'rollbacks', 'rolled-back inserts', 'one round trip', 'batch', 'CPU', 'delivery p99 ms', '1,000 watchers caught up (p99 / max ms)'];
  const lines = rows.map((r) => [
    r.name,
    r.writesPerSec.toFixed(0),
    String(r.writeP99Ms),
    r.commitsPerWrite.toFixed(2),
    r.passesPerWrite.toFixed(2),
    String(r.rollbacks),
    String(r.rolledBackInserts),
    `${(r.oneFlightShare * 100).toFixed(0)} %`,
    r.meanBatch.toFixed(1),
    `${(r.cpuBusy * 100).toFixed(0)} %`,
    String(r.deliveryP99Ms),
    r.storm ? `${r.storm.caughtUp}/${r.storm.watchers}: ${r.storm.p99Ms.toFixed(0)} / ${r.storm.maxMs.toFixed(0)}` : '—',
  ]);
  return [header, header.map(() => '---'), ...lines].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

async function main(): Promise<void> {
  const watchers = await Watchers.start();
  try {
    const one = await phase('1 instance, direct', 1, null, watchers, false);
    const roundRobin = await phase('3 instances, nginx round robin', 3, 'round-robin', watchers, false);
    const hashed = await phase('3 instances, nginx claim-id hash', 3, 'claim-hash', watchers, true);
    const rows = [one, roundRobin, hashed];
    console.log(`\nbench:scale — notes at ${CONNECTIONS} connections over ${CLAIMS} claims, ${DURATION} s each\n`);
    console.log(table(rows));
    const ratios = {
      writesHashVsOne: hashed.writesPerSec / one.writesPerSec,
      commitsPerWriteHashVsOne: hashed.commitsPerWrite / one.commitsPerWrite,
      writesRoundRobinVsOne: roundRobin.writesPerSec / one.writesPerSec,
      commitsPerWriteRoundRobinVsOne: roundRobin.commitsPerWrite / one.commitsPerWrite,
    };
    const storm = hashed.storm;
    const met =
      ratios.writesHashVsOne >= 1 &&
      ratios.commitsPerWriteHashVsOne <= 1.2 &&
      storm !== undefined &&
      storm.within2s === storm.watchers &&
      storm.atHead === storm.watchers &&
      storm.gaps === 0 &&
      storm.duplicates === 0;
    console.log(
      JSON.stringify({
        bench: 'scale',
        ratios: Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, Number(v.toFixed(3))])),
        targets: { writesHashVsOne: 1, commitsPerWriteHashVsOne: 1.2, stormWithin2s: STORM_WATCHERS },
        met,
        rows,
      }),
    );
  } finally {
    watchers.stop();
  }
}

if (process.argv.includes('--watchers')) {
  await watchersProcess();
} else {
  await main();
}
