import { availableParallelism } from 'node:os';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { buildApp } from '../src/app.ts';
import { ConfigError, loadConfig } from '../src/config.ts';
import { call, createClaim, startApp, type TestApp } from './helpers.ts';

const pg = await requirePostgres();

describe('configuration', () => {
  it('has documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ port: 3000, host: '127.0.0.1', dataDir: '.data/pglite', demoTokens: true, seed: true, bodyLimit: 1048576 });
    expect(config.databaseUrl).toBeUndefined();
    expect(loadConfig({ DATABASE_URL: 'postgres://x@localhost/db' })).toMatchObject({ demoTokens: false, seed: false });
    expect(loadConfig({ DATABASE_URL: 'postgres://x@localhost/db', DEMO_TOKENS: '1' }).demoTokens).toBe(true);
    expect(config.writeConcurrency).toBe(Math.max(1, Math.min(4, availableParallelism() - 1)));
    expect(config.writeBatchMax).toBe(64);
    expect(loadConfig({ WRITE_CONCURRENCY: '2', WRITE_BATCH_MAX: '1' })).toMatchObject({ writeConcurrency: 2, writeBatchMax: 1 });
  });

  it('reports every bad variable by name', () => {
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud', DEMO_TOKENS: 'maybe', WRITE_CONCURRENCY: '0', WRITE_BATCH_MAX: 'lots' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as Error).message;
      for (const name of ['PORT', 'DATABASE_URL', 'LOG_LEVEL', 'DEMO_TOKENS', 'WRITE_CONCURRENCY', 'WRITE_BATCH_MAX']) expect(message).toContain(name);
    }
  });
});

describe('embedded PGlite (memory://) smoke', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp({ postgres: false, seed: true });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('migrates, seeds, serves, searches and writes', async () => {
    expect((await call(t.app, { method: 'GET', url: '/readyz' })).json).toMatchObject({ status: 'ready', database: 'pglite' });
    const found = await call(t.app, { method: 'GET', url: '/claims?q=Tyotkino', headers: t.as.auditor });
    expect(found.json.items.length).toBeGreaterThan(0);
    const { id } = await createClaim(t);
    const triaged = await call(t.app, { method: 'POST', url: `/claims/${id}/triage`, headers: t.as.editor });
    expect(triaged.statusCode).toBe(200);
    const board = await call(t.app, { method: 'GET', url: '/board', headers: t.as.editor });
    expect(board.json.states.find((s: { state: string }) => s.state === 'published').count).toBeGreaterThan(0);
    // The seeds' users exist (the seed events name them), without tokens.
    const users = await t.app.database.db.selectFrom('users').select(['id']).where('id', 'like', 'seed-%').execute();
    expect(users.length).toBeGreaterThanOrEqual(6);
  });
});

describe.skipIf(!pg)('operations on PostgreSQL', () => {
  it('rate limits per token with 429 problem+json and Retry-After', async () => {
    const t = await startApp({ config: { rateLimitMax: 3 } });
    try {
      const statuses: number[] = [];
      let last;
      for (let i = 0; i < 5; i++) {
        last = await call(t.app, { method: 'GET', url: '/claims', headers: t.as.auditor });
        statuses.push(last.statusCode);
      }
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
      expect(last!.json).toMatchObject({ code: 'rate_limited', status: 429 });
      expect(last!.headers['retry-after']).toBeDefined();
      // Another token has its own budget; health checks are never limited.
      expect((await call(t.app, { method: 'GET', url: '/claims', headers: t.as.editor })).statusCode).toBe(200);
      for (let i = 0; i < 5; i++) expect((await call(t.app, { method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await t.close();
    }
  });

  it('answers 503 with Retry-After when the database is gone, and readyz says so', async () => {
    const t = await startApp();
    let closed = false;
    try {
      const { id } = await createClaim(t);
      await t.app.database.close();
      closed = true;
      const read = await call(t.app, { method: 'GET', url: `/claims/${id}`, headers: t.as.auditor });
      // The token is cached, so we get past auth to the query.
      expect(read.statusCode).toBe(503);
      expect(read.json.code).toBe('service_unavailable');
      expect(read.headers['retry-after']).toBeDefined();
      const write = await call(t.app, { method: 'POST', url: `/claims/${id}/notes`, headers: t.as.fact_checker, payload: { body: 'x' } });
      expect(write.statusCode).toBe(503);
      const ready = await call(t.app, { method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect((await call(t.app, { method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await t.close().catch(() => undefined);
      void closed;
    }
  });

  it('never logs tokens (Authorization header, ?token=)', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const t = await startApp({ logger: { level: 'trace', stream } as never });
    try {
      const token = t.as.editor.authorization.slice('Bearer '.length);
      await call(t.app, { method: 'GET', url: '/claims', headers: t.as.editor });
      await call(t.app, { method: 'GET', url: `/claims?token=${token}&q=x`, headers: t.as.editor });
      await call(t.app, { method: 'GET', url: `/nowhere?token=${token}` });
      await call(t.app, { method: 'POST', url: '/claims', headers: { authorization: `Bearer ${token}x` }, payload: { text: 'x' } });
      const all = lines.join('');
      expect(all.length).toBeGreaterThan(0);
      expect(all).toContain('[redacted]');
      expect(all).not.toContain(token);
    } finally {
      await t.close();
    }
  });

  it('returns a request id on every response, taking a sane incoming one', async () => {
    const t = await startApp();
    try {
      const mine = await call(t.app, { method: 'GET', url: '/healthz', headers: { 'x-request-id': 'abc-123' } });
      expect(mine.headers['x-request-id']).toBe('abc-123');
      const weird = await call(t.app, { method: 'GET', url: '/healthz', headers: { 'x-request-id': 'a b\tc' } });
      expect(weird.headers['x-request-id']).toMatch(/^[0-9a-f]{12}-[0-9a-z]+$/);
    } finally {
      await t.close();
    }
  });

  it('a second seed run appends nothing', async () => {
    const t = await startApp({ seed: true });
    try {
      const before = await t.eventCount();
      const { runSeed } = await import('@claimtrail/seeds');
      const result = await runSeed((input) => t.app.claims.execute(input));
      expect(result.replayed).toBe(result.commands);
      expect(await t.eventCount()).toBe(before);
    } finally {
      await t.close();
    }
  });
});

describe('buildApp', () => {
  it('fails clearly on an unreachable database', async () => {
    await expect(
      buildApp({ logger: false, config: { databaseUrl: 'postgres://postgres@127.0.0.1:1/none' } }),
    ).rejects.toThrow();
  });
});
