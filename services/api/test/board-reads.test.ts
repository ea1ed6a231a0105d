/**
 * `GET /board` from memory: one body per filter combination, kept while nothing changed
 * (served again without a database read), ETag / If-None-Match → 304, a bounded page per
 * column with an exact count and a per-column cursor; never older than a write this
 * instance acknowledged or a Consistency-Token it was shown (two instances, one database).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { gunzipSync } from 'node:zlib';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { buildApp } from '../src/app.ts';
import { boardReader } from '../src/http/board-reads.ts';

const pg = await requirePostgres();

interface Column {
  state: string;
  count: number;
  claims: { id: string; updatedAt: string }[];
  nextCursor: string | null;
}

describe.skipIf(!pg)('GET /board from memory', () => {
  let db: TestDatabase;
  let a: FastifyInstance;
  let b: FastifyInstance;
  let writerA: Record<string, string>;
  let readerA: Record<string, string>;
  let readerB: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('board_reads');
    const config = { databaseUrl: db.url, rateLimitMax: 0, consistencyWaitMs: 2000 };
    a = await buildApp({ logger: false, seed: false, demoTokens: true, config });
    b = await buildApp({ logger: false, seed: false, demoTokens: true, config });
    writerA = { authorization: `Bearer ${a.demoTokens.fact_checker}`, 'content-type': 'application/json' };
    readerA = { authorization: `Bearer ${a.demoTokens.editor}` };
    readerB = { authorization: `Bearer ${b.demoTokens.editor}` };
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  const submit = async (text: string) => {
    const created = await a.inject({ method: 'POST', url: '/claims', headers: writerA, payload: { text } });
    expect(created.statusCode, created.body).toBe(201);
    return { id: (created.json() as { id: string }).id, token: String(created.headers['consistency-token']) };
  };
  const column = (body: { states: Column[] }, state: string) => body.states.find((c) => c.state === state)!;

  it('serves one body while nothing changes, with an ETag that answers 304; a write of this instance is in the next read', async () => {
    await submit('A claim on the board before the first read');
    const first = await a.inject({ method: 'GET', url: '/board', headers: readerA });
    expect(first.statusCode).toBe(200);
    const etag = String(first.headers.etag);
    expect(etag).toMatch(/^"b-[A-Za-z0-9_-]+"$/);
    const builds = boardReader(a).bodies.stats.builds;
    // The route's reader is this one (the first read was built by it).
    expect(builds).toBeGreaterThan(0);
    const hits = boardReader(a).bodies.stats.hits;
    for (let i = 0; i < 5; i++) {
      const again = await a.inject({ method: 'GET', url: '/board', headers: readerA });
      expect(again.headers.etag).toBe(etag);
      expect(again.body).toBe(first.body);
    }
    // Nothing changed: no database read for the five.
    expect(boardReader(a).bodies.stats.builds).toBe(builds);
    expect(boardReader(a).bodies.stats.hits).toBe(hits + 5);
    const notModified = await a.inject({ method: 'GET', url: '/board', headers: { ...readerA, 'if-none-match': etag } });
    expect(notModified.statusCode).toBe(304);
    expect(notModified.body).toBe('');

    const { id } = await submit('A claim written between two reads');
    const after = await a.inject({ method: 'GET', url: '/board', headers: { ...readerA, 'if-none-match': etag } });
    expect(after.statusCode).toBe(200);
    expect(after.headers.etag).not.toBe(etag);
    expect(column(after.json(), 'submitted').claims.map((c) => c.id)).toContain(id);
  });

  it('gzips a kept body once for clients that take it; the same ETag, the same JSON', async () => {
    const plain = await a.inject({ method: 'GET', url: '/board', headers: readerA });
    const zipped = await a.inject({ method: 'GET', url: '/board', headers: { ...readerA, 'accept-encoding': 'br;q=1, gzip;q=0.8' } });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.headers.vary).toMatch(/accept-encoding/i);
    expect(zipped.headers.etag).toBe(plain.headers.etag);
    expect(gunzipSync(zipped.rawPayload).toString('utf8')).toBe(plain.body);
    const refused = await a.inject({ method: 'GET', url: '/board', headers: { ...readerA, 'accept-encoding': 'gzip;q=0' } });
    expect(refused.headers['content-encoding']).toBeUndefined();
    expect(refused.body).toBe(plain.body);
  });

  it('another instance with the Consistency-Token sees the write, though it held a body from before it', async () => {
    for (let round = 0; round < 10; round++) {
      const before = await b.inject({ method: 'GET', url: '/board', headers: readerB });
      expect(before.statusCode).toBe(200);
      const { id, token } = await submit(`A claim written on A, read on B, round ${round}`);
      const read = await b.inject({ method: 'GET', url: '/board', headers: { ...readerB, 'consistency-token': token } });
      expect(read.statusCode, read.body).toBe(200);
      expect(column(read.json(), 'submitted').claims.map((c) => c.id)).toContain(id);
    }
  });

  it('lists and searches are kept the same way: ETag and 304 while nothing changed, the write in the next read, the token honoured elsewhere', async () => {
    const url = '/claims?q=lighthouse&view=card';
    const first = await a.inject({ method: 'GET', url, headers: readerA });
    expect(first.statusCode).toBe(200);
    expect(first.json().items).toEqual([]);
    const etag = String(first.headers.etag);
    expect((await a.inject({ method: 'GET', url, headers: { ...readerA, 'if-none-match': etag } })).statusCode).toBe(304);
    const onB = await b.inject({ method: 'GET', url, headers: readerB });
    expect(onB.json().items).toEqual([]);
    const { id, token } = await submit('The lighthouse was switched off in March');
    const again = await a.inject({ method: 'GET', url, headers: { ...readerA, 'if-none-match': etag } });
    expect(again.statusCode).toBe(200);
    expect(again.json().items.map((c: { id: string }) => c.id)).toEqual([id]);
    const readB = await b.inject({ method: 'GET', url, headers: { ...readerB, 'consistency-token': token } });
    expect(readB.json().items.map((c: { id: string }) => c.id)).toEqual([id]);
  });

  it('without a token, another instance drops its kept body once its store follower reads the write', async () => {
    const held = await b.inject({ method: 'GET', url: '/board?limit=200&state=submitted', headers: readerB });
    const { id } = await submit('A claim B hears of through its follower');
    const deadline = Date.now() + 10_000;
    let seen = false;
    while (!seen && Date.now() < deadline) {
      const read = await b.inject({ method: 'GET', url: '/board?limit=200&state=submitted', headers: { ...readerB, 'if-none-match': String(held.headers.etag) } });
      seen = read.statusCode === 200 && column(read.json(), 'submitted').claims.some((c) => c.id === id);
      if (!seen) await new Promise((r) => setTimeout(r, 25));
    }
    expect(seen).toBe(true);
  });

  it('pages each column with its own cursor; the count is always the whole column', async () => {
    const page = await a.inject({ method: 'GET', url: '/board?limit=3', headers: readerA });
    const submitted = column(page.json(), 'submitted');
    const total = submitted.count;
    expect(total).toBeGreaterThan(7);
    expect(submitted.claims).toHaveLength(3);
    expect(submitted.nextCursor).toEqual(expect.any(String));
    // An empty column has no next page.
    expect(column(page.json(), 'retracted')).toMatchObject({ count: 0, claims: [], nextCursor: null });

    const seen = [...submitted.claims];
    let cursor = submitted.nextCursor;
    while (cursor !== null) {
      const next = await a.inject({ method: 'GET', url: `/board?limit=3&state=submitted&cursor=${cursor}`, headers: readerA });
      expect(next.statusCode, next.body).toBe(200);
      const body = next.json() as { states: Column[] };
      expect(body.states.map((c) => c.state)).toEqual(['submitted']);
      expect(body.states[0]!.count).toBe(total);
      expect(body.states[0]!.claims.length).toBeLessThanOrEqual(3);
      seen.push(...body.states[0]!.claims);
      cursor = body.states[0]!.nextCursor;
    }
    expect(new Set(seen.map((c) => c.id)).size).toBe(total);
    const order = seen.map((c) => c.updatedAt);
    expect(order).toEqual([...order].sort().reverse());
    const all = await a.inject({ method: 'GET', url: '/board?limit=200&state=submitted', headers: readerA });
    expect((all.json() as { states: Column[] }).states[0]!.claims.map((c) => c.id)).toEqual(seen.map((c) => c.id));
  });

  it('state= picks columns (repeated or comma-separated) in workflow order', async () => {
    const res = await a.inject({ method: 'GET', url: '/board?state=published,submitted&state=triaged', headers: readerA });
    expect(res.statusCode).toBe(200);
    expect((res.json() as { states: Column[] }).states.map((c) => c.state)).toEqual(['submitted', 'triaged', 'published']);
  });

  it('refuses cursors it did not issue, two for one column, or one for a column state= leaves out (400, never 5xx)', async () => {
    const page = await a.inject({ method: 'GET', url: '/board?limit=1', headers: readerA });
    const cursor = column(page.json(), 'submitted').nextCursor!;
    const bad = [
      '/board?cursor=nonsense',
      `/board?cursor=${Buffer.from('{"s":"submitted","u":"2024-02-30T00:00:00Z","i":"x"}').toString('base64url')}`,
      `/board?cursor=${Buffer.from('{"s":"nowhere","u":"2024-02-01T00:00:00Z","i":"00000000-0000-4000-8000-000000000000"}').toString('base64url')}`,
      `/board?cursor=${cursor}&cursor=${cursor}`,
      `/board?state=triaged&cursor=${cursor}`,
      '/board?state=bogus',
      '/board?limit=201',
    ];
    for (const url of bad) {
      const res = await a.inject({ method: 'GET', url, headers: readerA });
      expect(res.statusCode, url).toBe(400);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    }
    expect((await a.inject({ method: 'GET', url: '/board' })).statusCode).toBe(401);
  });
});
