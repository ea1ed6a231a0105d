/**
 * Limits shared by every instance on one PostgreSQL database: two app instances on one
 * test database, over real HTTP, behind a "proxy" (TRUST_PROXY=loopback, the client named
 * in X-Forwarded-For). A burst split across both instances counts once against the
 * token's (or the address's) limit; a guesser's failures through one instance limit it
 * on the other, and only it. On the embedded database the counts stay in memory.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { ensureUsers, hashToken, issueToken } from '@claimtrail/identity';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { buildApp } from '../src/app.ts';
import { SharedLimitWindows } from '../src/plugins/auth-limit.ts';
import { call, startApp } from './helpers.ts';

const pg = await requirePostgres();

/** Requests per minute per token or address, and failed token checks per address, for both instances. */
const LIMIT = 10;
const FAILURES = 3;
/**
 * What two instances may admit past the limit: (N − 1) × share, the share being 1 % of
 * the limit but at least one request (rate-limit.ts, SharedRateCounter).
 */
const OVER_LIMIT_BOUND = 1;

type Headers = Record<string, string>;

describe.skipIf(!pg)('limits shared by two instances on one PostgreSQL database', () => {
  let db: TestDatabase;
  let a: FastifyInstance;
  let b: FastifyInstance;
  let urlA: string;
  let urlB: string;
  let users = 0;

  beforeAll(async () => {
    db = await createTestDatabase('api_shared_limits');
    const config = {
      databaseUrl: db.url,
      rateLimitMax: LIMIT,
      authFailureMax: FAILURES,
      authFailureWindowMs: 60_000,
      trustProxy: ['loopback'],
    };
    a = await buildApp({ logger: false, seed: false, demoTokens: false, config });
    b = await buildApp({ logger: false, seed: false, demoTokens: false, config, migrate: false });
    for (const app of [a, b]) await app.listen({ port: 0, host: '127.0.0.1' });
    urlA = `http://127.0.0.1:${(a.server.address() as AddressInfo).port}`;
    urlB = `http://127.0.0.1:${(b.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await db?.drop();
  });

  async function get(base: string, path: string, headers: Headers) {
    const response = await fetch(`${base}${path}`, { headers });
    const body = await response.text();
    return { status: response.status, headers: response.headers, body };
  }

  async function newToken(): Promise<string> {
    const id = `shared-limits-${++users}`;
    await ensureUsers(a.database.db, [{ id, role: 'auditor', name: id }]);
    return issueToken(a.database.db, id);
  }

  /**
   * Sends requests to each instance in turn until it refuses; the requests it still
   * admitted. An instance learns the other's count from its own next flush, so this ends
   * without waiting for a timer (bounded: per-instance counting would admit LIMIT more).
   */
  async function admittedUntilRefused(path: string, headers: Headers): Promise<number> {
    let admitted = 0;
    for (const base of [urlA, urlB]) {
      for (let attempt = 0; ; attempt++) {
        expect(attempt, `${base} never refused`).toBeLessThan(4 * LIMIT);
        const { status } = await get(base, path, headers);
        if (status === 429) break;
        expect(status).toBe(200);
        admitted++;
      }
    }
    return admitted;
  }

  async function sharedHits(key: string): Promise<number> {
    const result = await sql<{ hits: string }>`select hits::text as hits from shared_limit_windows where key = ${key}`.execute(a.database.db);
    return Number(result.rows[0]?.hits ?? 0);
  }

  it("a burst split across both instances counts once against the token's limit", async () => {
    const token = await newToken();
    const headers = { authorization: `Bearer ${token}` };
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT; i++) statuses.push((await get(i % 2 === 0 ? urlA : urlB, '/me', headers)).status);
    expect(statuses).toEqual(Array(LIMIT).fill(200));

    const over = await admittedUntilRefused('/me', headers);
    expect(over).toBeLessThanOrEqual(OVER_LIMIT_BOUND);
    // Both keep refusing, with the same answer as the in-memory limit.
    for (const base of [urlA, urlB]) {
      const refused = await get(base, '/me', headers);
      expect(refused.status).toBe(429);
      expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(refused.body)).toMatchObject({ code: 'rate_limited', status: 429 });
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);
      expect(refused.headers.get('x-ratelimit-limit')).toBe(String(LIMIT));
      expect(refused.headers.get('x-ratelimit-remaining')).toBe('0');
    }
    // The table holds every admitted request once; refusals are not counted.
    await expect.poll(() => sharedHits(`rate:t:${hashToken(token)}`)).toBe(LIMIT + over);
    // Another token has a budget of its own.
    expect((await get(urlB, '/me', { authorization: `Bearer ${await newToken()}` })).status).toBe(200);
  });

  it('public requests spend the forwarded client address budget, shared by both instances', async () => {
    const client = { 'x-forwarded-for': '203.0.113.20' };
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT; i++) statuses.push((await get(i % 2 === 0 ? urlB : urlA, '/openapi.json', client)).status);
    expect(statuses).toEqual(Array(LIMIT).fill(200));
    expect(await admittedUntilRefused('/openapi.json', client)).toBeLessThanOrEqual(OVER_LIMIT_BOUND);
    // Another client behind the same proxy has its own budget.
    expect((await get(urlA, '/openapi.json', { 'x-forwarded-for': '203.0.113.21' })).status).toBe(200);
    expect((await get(urlB, '/openapi.json', { 'x-forwarded-for': '203.0.113.21' })).status).toBe(200);
    // Health checks are never limited.
    for (let i = 0; i < LIMIT + 2; i++) expect((await get(urlA, '/healthz', client)).status).toBe(200);
  });

  it("a guesser's failures through one instance limit it on the other, and no other client", async () => {
    const guesser = { 'x-forwarded-for': '198.51.100.30' };
    const bad = () => `ct_${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
    const statuses: number[] = [];
    for (let i = 0; i <= FAILURES; i++) statuses.push((await get(urlA, '/claims', { ...guesser, authorization: `Bearer ${bad()}` })).status);
    expect(statuses).toEqual([...Array(FAILURES).fill(401), 429]);

    const onB = await get(urlB, '/claims', { ...guesser, authorization: `Bearer ${bad()}` });
    expect(onB.status).toBe(429);
    expect(JSON.parse(onB.body)).toMatchObject({ code: 'rate_limited' });
    expect(Number(onB.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

    // Another client through the same proxy: its failures are its own, its token works.
    const other = { 'x-forwarded-for': '198.51.100.31' };
    expect((await get(urlB, '/claims', { ...other, authorization: `Bearer ${bad()}` })).status).toBe(401);
    expect((await get(urlB, '/me', { ...other, authorization: `Bearer ${await newToken()}` })).status).toBe(200);
    expect((await get(urlA, '/me', { ...other, authorization: `Bearer ${await newToken()}` })).status).toBe(200);
    // Nor is a valid token refused to the guesser's address (limits slow guessing; they never lock out).
    expect((await get(urlB, '/me', { ...guesser, authorization: `Bearer ${await newToken()}` })).status).toBe(200);
    expect(await sharedHits('auth:198.51.100.30')).toBe(FAILURES + 1);
  });

  it('windows restart after their end, and expired ones are deleted', async () => {
    const windows = new SharedLimitWindows(a.database.db, { cleanupIntervalMs: 0 });
    const [first] = await windows.add([{ key: 'test:long', hits: 2, windowMs: 60_000 }]);
    expect(first).toMatchObject({ key: 'test:long', hits: 2 });
    expect(first!.ttlMs).toBeGreaterThan(50_000);
    expect(first!.ttlMs).toBeLessThanOrEqual(60_000);
    const both = await windows.add([
      { key: 'test:short', hits: 5, windowMs: 1 },
      { key: 'test:long', hits: 3, windowMs: 60_000 },
    ]);
    expect(both.find((w) => w.key === 'test:long')!.hits).toBe(5);
    // A hit after the end of the short window starts the next one.
    await expect.poll(async () => (await windows.add([{ key: 'test:short', hits: 1, windowMs: 1 }]))[0]!.hits).toBe(1);
    // Expired windows are deleted (here after every statement); the live one stays.
    await expect
      .poll(async () => {
        await windows.add([{ key: 'test:long', hits: 1, windowMs: 60_000 }]);
        await windows.settle();
        return sharedHits('test:short');
      })
      .toBe(0);
    expect(await sharedHits('test:long')).toBeGreaterThanOrEqual(6);
  });
});

describe('limits on the embedded database (one process)', () => {
  it('count in memory with the same answers', async () => {
    const t = await startApp({ postgres: false, config: { rateLimitMax: 3 } });
    try {
      const statuses: number[] = [];
      let last;
      for (let i = 0; i < 5; i++) {
        last = await call(t.app, { method: 'GET', url: '/me', headers: t.as.auditor });
        statuses.push(last.statusCode);
      }
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
      expect(last!.json).toMatchObject({ code: 'rate_limited', status: 429 });
      expect(last!.headers['x-ratelimit-limit']).toBe('3');
      expect(Number(last!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      const rows = await sql<{ n: number }>`select count(*)::int as n from shared_limit_windows`.execute(t.app.database.db);
      expect(rows.rows[0]!.n).toBe(0);
    } finally {
      await t.close();
    }
  });
});
