/**
 * GET /events with Accept: application/x-ndjson on a real PostgreSQL and a listening
 * server: 100k events (≈ 100+ MB of NDJSON) stream with bounded memory. The events are
 * appended through the store directly, in big batches. The client reads slowly at times
 * so the server has to respect backpressure rather than buffer.
 */
import http from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { EventStore, EventStoreInternals, NewEvent } from '@claimtrail/event-store';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { buildApp } from '../src/app.ts';

const hasPg = await requirePostgres();
const TOTAL = 100_000;
const STREAMS = 50;
const PADDING = 'x'.repeat(900);

interface Sampled {
  status: number;
  contentType: string;
  lines: number;
  bytes: number;
  firstPosition: number | null;
  lastPosition: number | null;
  ordered: boolean;
  peakGrowth: number;
}

// A full collection before each sample measures what is RETAINED (a buffering export
// keeps everything alive), not garbage waiting for the next major GC.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function memory(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/** Reads an NDJSON export line by line, pausing now and then; samples this process's memory. */
function exportOnce(url: string, token: string, options: { pauses?: boolean } = {}): Promise<Sampled> {
  return new Promise((resolve, reject) => {
    const baseline = memory();
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, memory());
    }, 250);
    const request = http.get(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/x-ndjson' } }, (response) => {
      let rest = '';
      let lines = 0;
      let bytes = 0;
      let first: number | null = null;
      let last: number | null = null;
      let ordered = true;
      let chunks = 0;
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        bytes += Buffer.byteLength(chunk);
        const text = rest + chunk;
        const parts = text.split('\n');
        rest = parts.pop() ?? '';
        for (const line of parts) {
          if (line === '') continue;
          const position = (JSON.parse(line) as { position: number }).position;
          if (first === null) first = position;
          if (last !== null && position !== last + 1) ordered = false;
          last = position;
          lines++;
        }
        // A slow reader: the server must wait for 'drain' instead of buffering.
        if (options.pauses && ++chunks % 200 === 0) {
          response.pause();
          setTimeout(() => response.resume(), 50);
        }
      });
      response.on('end', () => {
        clearInterval(sampler);
        resolve({
          status: response.statusCode ?? 0,
          contentType: String(response.headers['content-type']),
          lines,
          bytes,
          firstPosition: first,
          lastPosition: last,
          ordered,
          peakGrowth: peak - baseline,
        });
      });
      response.on('error', reject);
    });
    request.on('error', (error) => {
      clearInterval(sampler);
      reject(error);
    });
  });
}

describe.skipIf(!hasPg)('NDJSON export of the whole log', () => {
  let db: TestDatabase;
  let app: FastifyInstance;
  let base: string;
  let token: string;

  beforeAll(async () => {
    db = await createTestDatabase('export');
    app = await buildApp({ config: { databaseUrl: db.url, rateLimitMax: 0 }, logger: false, seed: false, demoTokens: true });
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    token = app.demoTokens.auditor!;
    const store = app.store as EventStore & EventStoreInternals;
    const perStream = TOTAL / STREAMS;
    const batch = 2000;
    // Two appends in flight at a time: the machine has two cores.
    const jobs: (() => Promise<unknown>)[] = [];
    for (let s = 0; s < STREAMS; s++) {
      jobs.push(async () => {
        for (let from = 0; from < perStream; from += batch) {
          const events: NewEvent[] = Array.from({ length: Math.min(batch, perStream - from) }, (_, i) => ({
            type: 'ExportTest',
            data: { n: from + i, stream: s, padding: PADDING },
            metadata: { actor: 'export-test' },
          }));
          await store.append(`export-${s}`, events, { expectedVersion: from === 0 ? 'no_stream' : from });
        }
      });
    }
    const run = async () => {
      for (let job = jobs.shift(); job; job = jobs.shift()) await job();
    };
    await Promise.all([run(), run()]);
    await store.flush();
    expect(await store.headPosition()).toBe(TOTAL);
    // The service's own followers of the log (the desk projections, the Merkle tree) take in
    // the 100k events now, not while the export below is measured.
    await app.desk.catchUp();
    await app.transparency.sync();
  }, 300_000);

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('streams all 100k events in position order with memory well below the size of the export', async () => {
    const result = await exportOnce(`${base}/events?after=0`, token, { pauses: true });
    expect(result.status).toBe(200);
    expect(result.contentType).toMatch(/^application\/x-ndjson/);
    expect(result.lines).toBe(TOTAL);
    expect(result.firstPosition).toBe(1);
    expect(result.lastPosition).toBe(TOTAL);
    expect(result.ordered).toBe(true);
    expect(result.bytes).toBeGreaterThan(100 * 1024 * 1024);
    // Server and client share this process: everything either buffered would show here.
    // A buffering implementation holds the whole export (> 100 MB, twice as UTF-16 text).
    console.log(`export ${(result.bytes / 1048576).toFixed(1)} MB, peak heap+external growth ${(result.peakGrowth / 1048576).toFixed(1)} MB`);
    expect(result.peakGrowth).toBeLessThan(result.bytes / 4);
  });

  it('?after= starts after that position; ?limit= stops early; the JSON feed is unchanged', async () => {
    const tail = await exportOnce(`${base}/events?after=${TOTAL - 10}`, token);
    expect(tail).toMatchObject({ status: 200, lines: 10, firstPosition: TOTAL - 9, lastPosition: TOTAL, ordered: true });
    const limited = await exportOnce(`${base}/events?after=500&limit=25`, token);
    expect(limited).toMatchObject({ lines: 25, firstPosition: 501, lastPosition: 525 });
    const empty = await exportOnce(`${base}/events?after=${TOTAL}`, token);
    expect(empty).toMatchObject({ status: 200, lines: 0 });

    const json = await app.inject({ url: '/events?after=0&limit=3', headers: { authorization: `Bearer ${token}` } });
    expect(json.statusCode).toBe(200);
    expect(json.headers['content-type']).toMatch(/application\/json/);
    expect(JSON.parse(json.body).events.map((e: { position: number }) => e.position)).toEqual([1, 2, 3]);
    // Both formats carry the same objects.
    const line = await app.inject({
      url: '/events?after=0&limit=1',
      headers: { authorization: `Bearer ${token}`, accept: 'application/x-ndjson' },
    });
    expect(JSON.parse(line.body.trim())).toEqual(JSON.parse(json.body).events[0]);
  });

  it('needs a token like the JSON feed', async () => {
    const anonymous = await app.inject({ url: '/events', headers: { accept: 'application/x-ndjson' } });
    expect(anonymous.statusCode).toBe(401);
    const bad = await app.inject({ url: '/events?after=-1', headers: { authorization: `Bearer ${token}`, accept: 'application/x-ndjson' } });
    expect(bad.statusCode).toBe(400);
  });
});
