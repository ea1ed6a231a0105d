/**
 * `npm run bench:ws`: delivery latency of live board updates.
 *
 * This process runs the service (buildApp on PostgreSQL, its own fresh database) and the
 * writers (HTTP, a steady rate). The watchers live in a SEPARATE process (forked from this
 * file with --child) so their work does not share the service's event loop. Latency is
 * measured per delivered message from the event's `recordedAt` (set by the store when it
 * appends, just before the commit) to its arrival at the watcher: commit → sequencer →
 * NOTIFY → store subscription → fan-out → socket → client, on one machine clock.
 *
 * Then the reconnect storm: every watcher's socket is cut at once, `--missed` events are
 * written while they are away (one note on each of as many claims), and all of them
 * connect again in the same instant, each subscribing with `after` = the last position it
 * saw — what the watchers of a killed instance do to the instances left. Measured: the
 * time until every watcher has received `caught-up`, and that each got exactly the missed
 * events, in order.
 *
 *   npm run bench:ws -- [--watchers=1000] [--rate=50] [--duration=20] [--missed=20] [--replay-buffer=N] [--batch=false]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { runInNewContext } from 'node:vm';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k!, v ?? 'true'];
  }),
);
const WATCHERS = Number(args.get('watchers') ?? 1000);
const RATE = Number(args.get('rate') ?? 50);
const DURATION_S = Number(args.get('duration') ?? 20);
const MISSED = Number(args.get('missed') ?? 20);
/** Watchers take coalesced frames (`batch`, as the typed client does) unless --batch=false. */
const BATCH = args.get('batch') !== 'false';
/** The hub's window of recent events (LiveConfig.replayBufferEvents); 1 makes every replay read the store. */
const REPLAY_BUFFER = args.has('replay-buffer') ? Number(args.get('replay-buffer')) : undefined;

type ToChild =
  | { type: 'start'; url: string; token: string; watchers: number }
  | { type: 'finish' }
  | { type: 'drop' }
  | { type: 'reconnect' }
  | { type: 'exit' };
type FromChild =
  | { type: 'progress'; connected: number }
  | { type: 'dropped'; lowest: number; highest: number }
  | {
      type: 'reconnected';
      watchers: number;
      /** From the first reconnect attempt until the last watcher's `caught-up`. */
      allCaughtUpMs: number;
      /** Until every socket was open (TCP + upgrade + token check). */
      allOpenMs: number;
      /** Per watcher: reconnect attempt → its `caught-up`. */
      caughtUpP50Ms: number;
      caughtUpP99Ms: number;
      replayedMin: number;
      replayedMax: number;
      outOfOrder: number;
      failed: number;
    }
  | { type: 'ready'; connected: number; connectMs: number }
  | {
      type: 'result';
      /** Delivery latency percentiles (ms) over every delivered event message. */
      p50: number;
      p95: number;
      p99: number;
      max: number;
      /** CPU of the watcher process between start of writes and finish (one core = 100). */
      cpuPercent: number;
      messages: number;
      /** Payload bytes of the event frames received (array frames whole). */
      bytes: number;
      firstAt: number;
      lastAt: number;
      outOfOrder: number;
      perWatcherMin: number;
      perWatcherMax: number;
      closes: Record<string, number>;
    };

if (args.has('child')) await child();
else await main();

// -------------------------------------------------------------------------------- watchers

async function child(): Promise<void> {
  const send = (m: FromChild) => process.send!(m);
  const sockets: WebSocket[] = [];
  // Latency samples (ms), one per delivered event message.
  let samples = new Float64Array(1 << 20);
  let n = 0;
  let messages = 0;
  let bytes = 0;
  let firstAt = 0;
  let lastAt = 0;
  let outOfOrder = 0;
  const counts: number[] = [];
  /** Per watcher: the last position it received (where it resumes after the storm). */
  const lastPositions: number[] = [];
  let url = '';
  let token = '';
  let cpuAtFirst: NodeJS.CpuUsage | undefined;
  const cpuSpent = () => process.cpuUsage(cpuAtFirst);
  const closes: Record<string, number> = {};
  const RECORDED = Buffer.from('"recordedAt":"');
  // Read straight from the bytes, no strings: at 10,000 watchers the watcher process handles
  // hundreds of thousands of messages a second on the same cores as the service.
  /** The unsigned integer whose digits start at `at`. */
  const digitsAt = (data: Buffer, at: number): number => {
    let n = 0;
    for (let i = at; i < data.length; i++) {
      const d = data[i]! - 0x30;
      if (d < 0 || d > 9) break;
      n = n * 10 + d;
    }
    return n;
  };
  /** Milliseconds since the epoch of the ISO-8601 UTC time `YYYY-MM-DDTHH:MM:SS.mmmZ` at `at`. */
  const isoMillis = (data: Buffer, at: number): number => {
    const d = (i: number, n: number): number => {
      let v = 0;
      for (let k = 0; k < n; k++) v = v * 10 + (data[at + i + k]! - 0x30);
      return v;
    };
    return Date.UTC(d(0, 4), d(5, 2) - 1, d(8, 2), d(11, 2), d(14, 2), d(17, 2), d(20, 3));
  };
  const POSITION = Buffer.from('"position":');

  process.on('message', async (m: ToChild) => {
    if (m.type === 'start') {
      url = m.url;
      token = m.token;
      const started = Date.now();
      let ready = 0;
      const connectOne = (i: number) =>
        new Promise<void>((resolve, reject) => {
          const ws = new WebSocket(`${m.url}?token=${m.token}`, { perMessageDeflate: false });
          sockets.push(ws);
          counts[i] = 0;
          let last = 0;
          ws.on('message', (data: Buffer) => {
            // Cheap parsing: find the fields in the bytes instead of JSON.parse per message.
            if (data[9] === 0x73 /* "type":"s(napshot)" */) {
              const p = data.indexOf(POSITION);
              lastPositions[i] = Number(data.toString('latin1', p + POSITION.length, data.indexOf(0x2c, p)));
              ready++;
              resolve();
              return;
            }
            bytes += data.length;
            // A coalesced frame (`batch`) is an array of event messages: each one in turn.
            const now = Date.now();
            let from = 0;
            for (;;) {
              const p = data.indexOf(POSITION, from);
              if (p < 0) return;
              const at = data.indexOf(RECORDED, p);
              if (at < 0) return;
              from = at + RECORDED.length;
              const recordedAt = isoMillis(data, at + RECORDED.length);
              const position = digitsAt(data, p + POSITION.length);
              if (position <= last) outOfOrder++;
              last = position;
              lastPositions[i] = position;
              counts[i]!++;
              messages++;
              if (firstAt === 0) {
                firstAt = now;
                cpuAtFirst = process.cpuUsage();
              }
              lastAt = now;
              if (n === samples.length) {
                const bigger = new Float64Array(samples.length * 2);
                bigger.set(samples);
                samples = bigger;
              }
              samples[n++] = now - recordedAt;
              if (data[0] !== 0x5b /* [ */) return;
            }
          });
          ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', channel: 'board', batch: BATCH })));
          ws.on('error', reject);
          ws.on('close', (code) => (closes[code] = (closes[code] ?? 0) + 1));
        });
      // Connect in waves so the accept queue and the token lookups are not one burst.
      const WAVE = 100;
      for (let i = 0; i < m.watchers; i += WAVE) {
        await Promise.all(Array.from({ length: Math.min(WAVE, m.watchers - i) }, (_, j) => connectOne(i + j)));
        send({ type: 'progress', connected: ready });
      }
      send({ type: 'ready', connected: ready, connectMs: Date.now() - started });
    } else if (m.type === 'finish') {
      const sorted = samples.subarray(0, n).sort();
      const pct = (p: number) => sorted[Math.min(n - 1, Math.floor((p / 100) * n))] ?? NaN;
      const result: FromChild = {
        type: 'result',
        p50: pct(50),
        p95: pct(95),
        p99: pct(99),
        max: sorted[n - 1] ?? NaN,
        cpuPercent: Math.round(((cpuSpent().user + cpuSpent().system) / 1000 / Math.max(1, lastAt - firstAt)) * 100),
        messages,
        bytes,
        firstAt,
        lastAt,
        outOfOrder,
        perWatcherMin: Math.min(...counts),
        perWatcherMax: Math.max(...counts),
        closes,
      };
      send(result);
    } else if (m.type === 'drop') {
      // Cut every socket at once, as a killed instance does (no close handshake).
      for (const ws of sockets.splice(0)) {
        ws.removeAllListeners('close');
        ws.terminate();
      }
      send({ type: 'dropped', lowest: Math.min(...lastPositions), highest: Math.max(...lastPositions) });
    } else if (m.type === 'reconnect') {
      send(await reconnectStorm());
    } else if (m.type === 'exit') {
      for (const ws of sockets) ws.terminate();
      process.exit(0);
    }
  });

  /** Every watcher connects again in the same tick and resumes after its last position. */
  async function reconnectStorm(): Promise<FromChild> {
    const started = performance.now();
    const caughtUpMs: number[] = [];
    const openMs: number[] = [];
    const replayed: number[] = [];
    let outOfOrderNow = 0;
    let failed = 0;
    const CAUGHT_UP = 0x63; // "type":"c(aught-up)"
    const EVENT = 0x65; // "type":"e(vent)"
    await Promise.all(
      lastPositions.map(
        (after, i) =>
          new Promise<void>((resolve) => {
            const ws = new WebSocket(`${url}?token=${token}`, { perMessageDeflate: false });
            sockets.push(ws);
            let last = after;
            let count = 0;
            ws.on('open', () => {
              openMs.push(performance.now() - started);
              ws.send(JSON.stringify({ type: 'subscribe', channel: 'board', after, batch: BATCH }));
            });
            ws.on('message', (data: Buffer) => {
              if (data[9] === EVENT || data[0] === 0x5b /* a coalesced frame */) {
                let from = 0;
                for (let p = data.indexOf(POSITION, from); p >= 0; p = data.indexOf(POSITION, from)) {
                  const position = Number(data.toString('latin1', p + POSITION.length, data.indexOf(0x2c, p)));
                  from = data.indexOf(RECORDED, p) + 1;
                  if (from === 0) break;
                  if (position <= last) outOfOrderNow++;
                  last = position;
                  count++;
                }
              } else if (data[9] === CAUGHT_UP) {
                caughtUpMs.push(performance.now() - started);
                replayed[i] = count;
                resolve();
              }
            });
            ws.on('error', (err) => {
              failed++;
              if (failed <= 3) process.stderr.write(`  reconnect failed: ${err.message}\n`);
              resolve();
            });
          }),
      ),
    );
    const allCaughtUpMs = performance.now() - started;
    const sorted = [...caughtUpMs].sort((a, b) => a - b);
    const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
    const counted = replayed.filter((n) => n !== undefined);
    return {
      type: 'reconnected',
      watchers: caughtUpMs.length,
      allCaughtUpMs: Math.round(allCaughtUpMs),
      allOpenMs: Math.round(Math.max(...openMs)),
      caughtUpP50Ms: Math.round(pct(50)),
      caughtUpP99Ms: Math.round(pct(99)),
      replayedMin: Math.min(...counted),
      replayedMax: Math.max(...counted),
      outOfOrder: outOfOrderNow,
      failed,
    };
  }
}

// -------------------------------------------------------------------------------- service

async function main(): Promise<void> {
  const { createTestDatabase } = await import('@claimtrail/testing');
  const { buildApp } = await import('../src/app.ts');
  const { ClaimtrailClient } = await import('@claimtrail/client');

  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const memory = () => {
    gc();
    gc();
    const m = process.memoryUsage();
    return { rss: m.rss, heap: m.heapUsed + m.external + m.arrayBuffers };
  };

  const db = await createTestDatabase('bench_ws');
  const app = await buildApp({
    config: { databaseUrl: db.url, rateLimitMax: 0, logLevel: 'warn', poolSize: 20 },
    logger: false,
    seed: false,
    demoTokens: true,
    ...(REPLAY_BUFFER !== undefined ? { live: { replayBufferEvents: REPLAY_BUFFER } } : {}),
  });
  let watchersProcess: ChildProcess | undefined;
  try {
    // A backlog for the reconnect storm: every watcher connects in the same instant.
    await app.listen({ port: 0, host: '127.0.0.1', backlog: 2048 });
    const { port } = app.server.address() as AddressInfo;
    const base = `http://127.0.0.1:${port}`;
    // Writes without Idempotency-Keys, as this benchmark has always sent them: a keyed
    // write takes the slower write path, which would move the delivery figures.
    const api = new ClaimtrailClient({ baseUrl: base, token: app.demoTokens.editor!, autoIdempotencyKeys: false });
    const log = (s: string) => process.stderr.write(s + '\n');
    log(`claimtrail ws bench: ${WATCHERS} board watchers (separate process), ${RATE} writes/s for ${DURATION_S} s, PostgreSQL ${db.name}`);

    // A few claims so the board snapshot is not empty.
    for (let i = 0; i < 20; i++) await api.createClaim({ text: `Warm-up claim ${i} about Tyotkino`, tags: ['warmup'] });

    const before = memory();
    const childProcess = fork(fileURLToPath(import.meta.url), ['--child'], {
      execArgv: ['--import', 'tsx', ...(process.env.BENCH_PROFILE_WATCHERS ? ['--cpu-prof', '--cpu-prof-dir=/tmp/wprof'] : [])],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    watchersProcess = childProcess;
    const fromChild = <T extends FromChild['type']>(type: T) =>
      new Promise<Extract<FromChild, { type: T }>>((resolve, reject) => {
        const onMessage = (m: FromChild) => {
          if (m.type === 'progress') return;
          if (m.type === type) {
            childProcess.off('message', onMessage);
            resolve(m as Extract<FromChild, { type: T }>);
          }
        };
        childProcess.on('message', onMessage);
        childProcess.once('exit', (code) => reject(new Error(`watcher process exited (${code}) before "${type}"`)));
      });
    const ready = fromChild('ready');
    childProcess.send({ type: 'start', url: `ws://127.0.0.1:${port}/ws`, token: app.demoTokens.auditor!, watchers: WATCHERS } satisfies ToChild);
    const { connected, connectMs } = await ready;
    const after = memory();
    const sessions = app.live.sessions();
    log(`  ${connected} watchers connected and snapshotted in ${(connectMs / 1000).toFixed(1)} s (server sees ${sessions})`);

    // Writers: a token bucket releases RATE writes per second to 16 workers; each worker
    // walks a claim through create → triage → assign → evidence → note.
    const interval = 1000 / RATE;
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    const cpuBefore = process.cpuUsage();
    const fanOutBefore = { ms: app.live.stats.fanOutMs, events: app.live.stats.events };
    const hubLag: number[] = [];
    const hubProbe = app.store.subscribe({ after: 'end' }, (e) => {
      hubLag.push(Date.now() - e.recordedAt.getTime());
    });
    const startAt = Date.now();
    const endAt = startAt + DURATION_S * 1000;
    let issued = 0;
    let failed = 0;
    const writeLatencies: number[] = [];
    const createdIds: string[] = [];
    const nextSlot = async (): Promise<boolean> => {
      const slot = startAt + issued++ * interval;
      // Fixed schedule; a saturated machine gets 15 s of grace, then the run ends anyway.
      if (slot >= endAt || Date.now() > endAt + 15_000) return false;
      const wait = slot - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      return true;
    };
    const worker = async (w: number) => {
      for (let round = 0; ; round++) {
        const steps: ((id: string) => Promise<unknown>)[] = [
          (id) => api.triage(id),
          (id) => api.assign(id, { assignee: 'seed-fc-mara' }),
          (id) => api.addEvidence(id, { summary: `Report ${round} names Tetkino`, stance: 'context' }),
          (id) => api.addNote(id, { body: `Checked by worker ${w}` }),
        ];
        if (!(await nextSlot())) return;
        let t = Date.now();
        let id: string;
        try {
          id = (await api.createClaim({ text: `Worker ${w} claim ${round}: the Legion holds Tyotkino`, tags: [`w${w % 4}`] })).id;
          createdIds.push(id);
          writeLatencies.push(Date.now() - t);
        } catch {
          failed++;
          continue;
        }
        for (const step of steps) {
          if (!(await nextSlot())) return;
          t = Date.now();
          try {
            await step(id);
            writeLatencies.push(Date.now() - t);
          } catch {
            failed++;
          }
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, (_, w) => worker(w)));
    const writes = writeLatencies.length;
    const writeSeconds = (Date.now() - startAt) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const fanOut = {
      perEventMs: +((app.live.stats.fanOutMs - fanOutBefore.ms) / Math.max(1, app.live.stats.events - fanOutBefore.events)).toFixed(2),
      maxMs: +app.live.stats.fanOutMaxMs.toFixed(1),
    };
    loopDelay.disable();
    await hubProbe.close();
    const positionAtEnd = await app.store.headPosition();
    // Let the last messages arrive.
    const drainStart = Date.now();
    while (Date.now() - drainStart < 10_000 && app.live.stats.position < positionAtEnd) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 1500));
    // The server's part: commit → the coalesced frame handed to each slice of sockets.
    const handoff = { p50: app.live.hub.handoff.percentile(50), p99: app.live.hub.handoff.percentile(99) };
    const result = fromChild('result');
    childProcess.send({ type: 'finish' } satisfies ToChild);
    const r = await result;

    // The reconnect storm: cut every watcher, write MISSED events while they are away (a
    // note on each of MISSED different claims, as a busy desk spreads its writes), then
    // every watcher reconnects in the same instant with `after`.
    const storeReads = countStoreReads(app.store);
    const dropped = fromChild('dropped');
    childProcess.send({ type: 'drop' } satisfies ToChild);
    const { lowest, highest } = await dropped;
    for (let i = 0; i < MISSED; i++) {
      await api.addNote(createdIds[createdIds.length - 1 - (i % createdIds.length)]!, { body: `Written while watcher ${i} was away` });
    }
    await app.store.flush();
    const stormHead = await app.store.headPosition();
    while (app.live.stats.position < stormHead) await new Promise((resolve) => setTimeout(resolve, 10));
    const readsBefore = { ...storeReads };
    const stormCpu = process.cpuUsage();
    const reconnected = fromChild('reconnected');
    childProcess.send({ type: 'reconnect' } satisfies ToChild);
    const storm = await reconnected;
    const stormCpuMs = Math.round((process.cpuUsage(stormCpu).user + process.cpuUsage(stormCpu).system) / 1000);
    const stormReads = { readAll: storeReads.readAll - readsBefore.readAll, readStream: storeReads.readStream - readsBefore.readStream };
    const expectedReplay = highest === lowest ? stormHead - lowest : NaN;

    const expected = writes * connected;
    const seconds = (r.lastAt - r.firstAt) / 1000;
    const summary = {
      bench: 'ws',
      watchers: connected,
      coalescedFrames: BATCH,
      writesPerSecondTarget: RATE,
      writes,
      writesFailed: failed,
      writesPerSecond: +(writes / writeSeconds).toFixed(1),
      writeP50Ms: percentile(writeLatencies, 50),
      writeP99Ms: percentile(writeLatencies, 99),
      messagesExpected: expected,
      messagesDelivered: r.messages,
      messagesPerSecond: Math.round(r.messages / seconds),
      bytesPerMessage: Math.round(r.bytes / Math.max(1, r.messages)),
      megabytesPerSecond: Number((r.bytes / seconds / 1e6).toFixed(1)),
      outOfOrder: r.outOfOrder,
      perWatcherMin: r.perWatcherMin,
      perWatcherMax: r.perWatcherMax,
      latencyP50Ms: r.p50,
      latencyP95Ms: r.p95,
      latencyP99Ms: r.p99,
      latencyMaxMs: r.max,
      serverBytesPerConnection: Math.round((after.heap - before.heap) / connected),
      serverRssPerConnection: Math.round((after.rss - before.rss) / connected),
      connectSeconds: +(connectMs / 1000).toFixed(1),
      watcherCpuPercent: r.cpuPercent,
      fanOutPerEventMs: fanOut.perEventMs,
      fanOutMaxMs: fanOut.maxMs,
      serverCpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / (writeSeconds * 1000)) * 100),
      serverLoopDelayP99Ms: +(loopDelay.percentile(99) / 1e6).toFixed(1),
      storeSubscriptionLagP50Ms: percentile(hubLag, 50),
      storeSubscriptionLagP99Ms: percentile(hubLag, 99),
      serverHandoffP50Ms: Math.round(handoff.p50),
      serverHandoffP99Ms: Math.round(handoff.p99),
      closes: r.closes,
      reconnectWatchers: storm.watchers,
      reconnectFailed: storm.failed,
      reconnectMissedEvents: MISSED,
      reconnectReplayedMin: storm.replayedMin,
      reconnectReplayedMax: storm.replayedMax,
      reconnectOutOfOrder: storm.outOfOrder,
      reconnectAllOpenMs: storm.allOpenMs,
      reconnectAllCaughtUpMs: storm.allCaughtUpMs,
      reconnectCaughtUpP50Ms: storm.caughtUpP50Ms,
      reconnectCaughtUpP99Ms: storm.caughtUpP99Ms,
      reconnectStoreReadAll: stormReads.readAll,
      reconnectStoreReadStream: stormReads.readStream,
      reconnectServerCpuMs: stormCpuMs,
    };
    const rows: [string, string][] = [
      ['watchers (separate process)', String(connected)],
      ['writes (target / achieved)', `${RATE}/s / ${summary.writesPerSecond}/s, ${writes} ok, ${failed} failed`],
      ['write latency p50 / p99', `${summary.writeP50Ms} / ${summary.writeP99Ms} ms`],
      ['messages delivered / expected', `${r.messages} / ${expected}${r.outOfOrder ? `, ${r.outOfOrder} out of order` : ', all in order'}`],
      ['messages/s (to clients)', `${summary.messagesPerSecond} (${summary.bytesPerMessage} bytes each, ${summary.megabytesPerSecond} MB/s)`],
      ['delivery latency p50', `${summary.latencyP50Ms} ms`],
      ['delivery latency p95', `${summary.latencyP95Ms} ms`],
      ['delivery latency p99', `${summary.latencyP99Ms} ms`],
      ['delivery latency max', `${summary.latencyMaxMs} ms`],
      ['fan-out per event (avg / max)', `${fanOut.perEventMs} / ${fanOut.maxMs} ms (view + one frame, written to every socket)`],
      ['watcher process CPU', `${r.cpuPercent} %`],
      ['service CPU (one core = 100 %)', `${summary.serverCpuPercent} %, event-loop delay p99 ${summary.serverLoopDelayP99Ms} ms`],
      ['store subscription lag p50 / p99', `${summary.storeSubscriptionLagP50Ms} / ${summary.storeSubscriptionLagP99Ms} ms (recordedAt → subscriber, no fan-out)`],
      ['server hand-off p50 / p99', `${summary.serverHandoffP50Ms} / ${summary.serverHandoffP99Ms} ms (recordedAt → coalesced frame written to the sockets; batched watchers)`],
      ['server memory per connection', `${(summary.serverBytesPerConnection / 1024).toFixed(1)} KiB heap+buffers, ${(summary.serverRssPerConnection / 1024).toFixed(1)} KiB RSS`],
      [
        `${storm.watchers} watchers reconnecting, after=P`,
        `all caught up in ${storm.allCaughtUpMs} ms (all open ${storm.allOpenMs} ms; per watcher p50 / p99 ${storm.caughtUpP50Ms} / ${storm.caughtUpP99Ms} ms)`,
      ],
      [
        '  replayed per watcher (min / max)',
        `${storm.replayedMin} / ${storm.replayedMax} of ${Number.isNaN(expectedReplay) ? MISSED : expectedReplay} missed${storm.outOfOrder ? `, ${storm.outOfOrder} out of order` : ', all in order'}${storm.failed ? `, ${storm.failed} failed` : ''}`,
      ],
      ['  store reads for the replays', `${stormReads.readAll} readAll, ${stormReads.readStream} readStream; service CPU ${stormCpuMs} ms`],
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    console.log('');
    for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
    console.log('');
    console.log(JSON.stringify(summary));
    // Let it exit on its own (a --cpu-prof profile is written at exit), then kill it anyway.
    const exited = new Promise((resolve) => childProcess.once('exit', resolve));
    childProcess.send({ type: 'exit' } satisfies ToChild);
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  } finally {
    watchersProcess?.kill();
    await app.close();
    await db.drop();
  }
}

/** Counts the store's reads from here on (the replays' cost), by wrapping the two methods. */
function countStoreReads(store: { readAll: (...a: never[]) => unknown; readStream: (...a: never[]) => unknown }): { readAll: number; readStream: number } {
  const counts = { readAll: 0, readStream: 0 };
  for (const name of ['readAll', 'readStream'] as const) {
    const original = store[name].bind(store) as (...a: unknown[]) => unknown;
    (store as Record<string, unknown>)[name] = (...a: unknown[]) => {
      counts[name]++;
      return original(...a);
    };
  }
  return counts;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
