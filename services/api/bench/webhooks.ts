/**
 * `npm run bench:webhooks`: webhook delivery and consumer-group throughput.
 *
 * The service (buildApp on PostgreSQL, a fresh database, WEBHOOK_ALLOW_PRIVATE_TARGETS on)
 * and a receiver (a plain node:http server answering 200) run in this process. Writers add
 * notes over HTTP as fast as `--writers` concurrent requests go, spread over `--claims`
 * claims; every note matches every webhook. Measured, with 1 and with 10 webhooks:
 * - deliveries/s: signed POSTs answered 2xx, from the first write to the last delivery;
 * - lag: per delivery, from the event's `recordedAt` (set just before its commit) to its
 *   arrival at the receiver, p50 and p99 (commit → sequencer → NOTIFY → worker → lease →
 *   sign → POST);
 * and the writes/s of the same run as the baseline (a webhook cannot deliver faster than
 * events are written). Then the consumer group against the store's `readAll` over the
 * whole log, in the same run: events/s of fetch + ack (1000 per batch, one member) and of
 * readAll pages of 1000.
 *
 *   npm run bench:webhooks -- [--claims=50] [--notes=1500] [--writers=16]
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConsumerGroups } from '@claimtrail/event-store';
import { createTestDatabase } from '@claimtrail/testing';
import { buildApp } from '../src/app.ts';
import { defaultConfig } from '../src/config.ts';
import { createBenchClaims } from './support.ts';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k!, v ?? 'true'];
  }),
);
const CLAIMS = Number(args.get('claims') ?? 50);
const NOTES = Number(args.get('notes') ?? 1500);
const WRITERS = Number(args.get('writers') ?? 16);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const db = await createTestDatabase('bench_webhooks');
const app = await buildApp({
  logger: false,
  seed: false,
  demoTokens: true,
  config: {
    databaseUrl: db.url,
    rateLimitMax: 0,
    webhooks: { ...defaultConfig().webhooks, allowPrivateTargets: true, concurrency: 20, pollMs: 200, retryScheduleMs: [100, 1000, 5000] },
  },
});
const address = await app.listen({ port: 0, host: '127.0.0.1' });
const admin = { authorization: `Bearer ${app.demoTokens.admin}`, 'content-type': 'application/json' };
const writer = { authorization: `Bearer ${app.demoTokens.fact_checker}`, 'content-type': 'application/json' };

/** Receipts per path: the event id and the lag from its recordedAt. */
let receipts: { path: string; lagMs: number; at: number }[] = [];
const receiver = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const now = Date.now();
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data: { recordedAt: string } };
    receipts.push({ path: request.url ?? '', lagMs: now - Date.parse(body.data.recordedAt), at: now });
    response.writeHead(200).end();
  });
});
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

const claimIds = await createBenchClaims(address, writer, CLAIMS, 4);

async function writeNotes(count: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      for (let i = next++; i < count; i = next++) {
        const response = await fetch(`${address}/claims/${claimIds[i % claimIds.length]}/notes`, {
          method: 'POST',
          headers: writer,
          body: JSON.stringify({ body: `bench note ${i}` }),
        });
        await response.arrayBuffer();
        if (response.status !== 200) throw new Error(`note failed: ${response.status}`);
      }
    }),
  );
  return performance.now() - started;
}

async function run(webhooks: number) {
  const ids: string[] = [];
  for (let i = 0; i < webhooks; i++) {
    const response = await fetch(`${address}/webhooks`, { method: 'POST', headers: admin, body: JSON.stringify({ url: `${receiverUrl}/w${i}`, filter: { eventTypes: ['NoteAdded'] } }) });
    if (response.status !== 201) throw new Error(`webhook: ${response.status} ${await response.text()}`);
    ids.push(((await response.json()) as { id: string }).id);
  }
  receipts = [];
  const start = Date.now();
  const writeMs = await writeNotes(NOTES);
  const expected = NOTES * webhooks;
  while (receipts.length < expected) await new Promise((resolve) => setTimeout(resolve, 20));
  const elapsedMs = Math.max(...receipts.map((r) => r.at)) - start;
  const lags = receipts.map((r) => r.lagMs).sort((a, b) => a - b);
  for (const id of ids) await fetch(`${address}/webhooks/${id}`, { method: 'DELETE', headers: admin });
  return {
    webhooks,
    events: NOTES,
    deliveries: receipts.length,
    writesPerS: Math.round(NOTES / (writeMs / 1000)),
    deliveriesPerS: Math.round(receipts.length / (elapsedMs / 1000)),
    lagP50Ms: percentile(lags, 50),
    lagP99Ms: percentile(lags, 99),
  };
}

const one = await run(1);
console.log(`1 webhook:   ${JSON.stringify(one)}`);
const ten = await run(10);
console.log(`10 webhooks: ${JSON.stringify(ten)}`);

// Consumer group vs readAll over the whole log.
const head = await app.store.headPosition();
const groups = new ConsumerGroups(app.database.db);
await groups.create('bench-all', { leaseMs: 60_000 });
let consumed = 0;
const groupStart = performance.now();
for (;;) {
  const batch = await groups.fetch('bench-all', 'bench', { limit: 1000 });
  if (batch.length === 0) break;
  consumed += batch.length;
  await groups.ack('bench-all', batch.map((d) => d.event.position));
}
const groupMs = performance.now() - groupStart;
let read = 0;
const readStart = performance.now();
for (let after = 0; ; ) {
  const page = await app.store.readAll({ after, limit: 1000 });
  if (page.events.length === 0) break;
  read += page.events.length;
  after = page.next;
}
const readMs = performance.now() - readStart;
const groupPerS = Math.round(consumed / (groupMs / 1000));
const readAllPerS = Math.round(read / (readMs / 1000));
console.log(`consumer group: ${consumed} events in ${groupMs.toFixed(0)} ms (${groupPerS}/s); readAll: ${read} in ${readMs.toFixed(0)} ms (${readAllPerS}/s)`);
console.log(
  JSON.stringify({
    oneWebhook: one,
    tenWebhooks: ten,
    consumerGroup: { log: head, groupEventsPerS: groupPerS, readAllEventsPerS: readAllPerS, ratio: Number((groupPerS / readAllPerS).toFixed(3)) },
  }),
);
await app.close();
await new Promise<void>((resolve) => receiver.close(() => resolve()));
await db.drop();
