import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken, ensureUsers, listTokens, revokeTokenById } from '@claimtrail/identity';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { sql } from 'kysely';
import { buildApp } from '../src/app.ts';
import { AuthFailureLimiter } from '../src/plugins/auth-limit.ts';
import { clientKey } from '../src/plugins/auth.ts';
import { call, startApp, type TestApp } from './helpers.ts';
import { rawRequest } from './raw-http.ts';

const pg = await requirePostgres();
const guess = () => `ct_${randomBytes(32).toString('base64url')}`;

describe('auth failure limiter (unit)', () => {
  it('limits per client within a window and forgets after it', () => {
    const limiter = new AuthFailureLimiter({ max: 2, windowMs: 1000 });
    expect(limiter.blockedFor('a', 0)).toBe(0);
    limiter.recordFailure('a', 0);
    limiter.recordFailure('a', 10);
    expect(limiter.blockedFor('a', 20)).toBe(1);
    expect(limiter.blockedFor('b', 20)).toBe(0);
    expect(limiter.blockedFor('a', 1000)).toBe(0);
  });

  it('stays bounded whatever the number of clients', () => {
    const limiter = new AuthFailureLimiter({ max: 1, windowMs: 60_000, maxClients: 100 });
    for (let i = 0; i < 10_000; i++) limiter.recordFailure(`c${i}`, i);
    expect(limiter.size).toBeLessThanOrEqual(100);
    expect(limiter.blockedFor('c9999', 10_000)).toBeGreaterThan(0);
  });

  it('groups IPv6 clients by /64', () => {
    expect(clientKey('127.0.0.1')).toBe('127.0.0.1');
    expect(clientKey('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(clientKey('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:2:aaaa::9')).toBe(clientKey('2001:0db8:0001:0002::1'));
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
  });
});

describe('tokens: expiry, revocation, failure limit (embedded)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp({ postgres: false, config: { authFailureMax: 3, authFailureWindowMs: 60_000 } });
    await ensureUsers(t.app.database.db, [{ id: 'tok-user', role: 'editor', name: 'Tok' }]);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('an expired token is a 401 unauthorized saying so, even when it was cached', async () => {
    // Room for a slow first request on a loaded machine; then wait until the expiry has passed.
    const expiresAt = new Date(Date.now() + 4000);
    const created = await createToken(t.app.database.db, { userId: 'tok-user', expiresAt });
    const ok = await call(t.app, { method: 'GET', url: '/me', headers: { authorization: `Bearer ${created.token}` } });
    expect(ok.statusCode).toBe(200);
    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt.getTime() - Date.now()) + 200));
    const expired = await call(t.app, { method: 'GET', url: '/me', headers: { authorization: `Bearer ${created.token}` } });
    expect(expired.statusCode).toBe(401);
    expect(expired.json.code).toBe('unauthorized');
    expect(expired.json.detail).toMatch(/expired/);
  });

  it('a revoked token stops working at once on the instance that revoked it', async () => {
    const created = await createToken(t.app.database.db, { userId: 'tok-user', label: 'test' });
    const headers = { authorization: `Bearer ${created.token}` };
    expect((await call(t.app, { method: 'GET', url: '/me', headers })).statusCode).toBe(200);
    expect(await t.app.revokeTokenById(created.id)).toBe(true);
    const after = await call(t.app, { method: 'GET', url: '/me', headers });
    expect(after.statusCode).toBe(401);
    expect(after.json.detail).toMatch(/revoked/);
    expect(await t.app.revokeTokenById('00000000-0000-4000-8000-000000000000')).toBe(false);
    const listed = await listTokens(t.app.database.db, 'tok-user');
    expect(listed.find((x) => x.id === created.id)?.revokedAt).toBeInstanceOf(Date);
    expect(JSON.stringify(listed)).not.toContain(created.token);
  });

  it('limits failed token checks per client: 429 + Retry-After; cached tokens still pass', async () => {
    const limited = await startApp({ postgres: false, config: { authFailureMax: 3, authFailureWindowMs: 60_000 } });
    try {
      const good = { authorization: limited.as.editor.authorization };
      expect((await call(limited.app, { method: 'GET', url: '/me', headers: good })).statusCode).toBe(200);
      const statuses: number[] = [];
      let retryAfter: string | undefined;
      for (let i = 0; i < 6; i++) {
        const res = await call(limited.app, { method: 'GET', url: '/claims', headers: { authorization: `Bearer ${guess()}` } });
        statuses.push(res.statusCode);
        if (res.statusCode === 429) {
          retryAfter = String(res.headers['retry-after']);
          expect(res.json.code).toBe('rate_limited');
        }
      }
      expect(statuses).toEqual([401, 401, 401, 429, 429, 429]);
      expect(Number(retryAfter)).toBeGreaterThan(0);
      // A token this instance already trusts is not a guess.
      expect((await call(limited.app, { method: 'GET', url: '/me', headers: good })).statusCode).toBe(200);
      // Another client is not affected.
      const other = await call(limited.app, {
        method: 'GET',
        url: '/claims',
        remoteAddress: '10.1.2.3',
        headers: { authorization: `Bearer ${guess()}` },
      });
      expect(other.statusCode).toBe(401);
      // The websocket upgrade path is limited too.
      const ws = await call(limited.app, {
        method: 'GET',
        url: `/ws?token=${guess()}`,
        headers: { connection: 'upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
      });
      expect(ws.statusCode).toBe(429);
    } finally {
      await limited.close();
    }
  });

  it('a valid token is never refused because its address is limited, cached or not', async () => {
    const limited = await startApp({ postgres: false, config: { authFailureMax: 3, authFailureWindowMs: 60_000, authCacheTtlMs: 0 } });
    try {
      for (let i = 0; i < 3; i++) {
        expect((await call(limited.app, { method: 'GET', url: '/claims', headers: { authorization: `Bearer ${guess()}` } })).statusCode).toBe(401);
      }
      expect((await call(limited.app, { method: 'GET', url: '/claims', headers: { authorization: `Bearer ${guess()}` } })).statusCode).toBe(429);
      // Tokens this instance has never seen (and, with a zero cache TTL, nothing cached at all).
      for (const role of ['fact_checker', 'editor', 'auditor', 'admin'] as const) {
        const fresh = await limited.newUser(role);
        const me = await call(limited.app, { method: 'GET', url: '/me', headers: fresh.headers });
        expect(me.statusCode, role).toBe(200);
        expect(me.json.id).toBe(fresh.id);
        // The websocket upgrade's own check lets it through too (inject cannot upgrade: 426 means authenticated).
        const ws = await call(limited.app, {
          method: 'GET',
          url: `/ws?token=${fresh.headers.authorization.slice('Bearer '.length)}`,
          headers: { connection: 'upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
        });
        expect(ws.statusCode, role).toBe(426);
      }
      // Failures from the address still get 429.
      expect((await call(limited.app, { method: 'GET', url: '/claims', headers: { authorization: `Bearer ${guess()}` } })).statusCode).toBe(429);
    } finally {
      await limited.close();
    }
  });
});

describe.skipIf(!pg)('token revocation across instances (PostgreSQL NOTIFY)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('api_tokens');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('a token revoked elsewhere is refused by an instance that had it cached, well before the cache TTL', async () => {
    const config = { databaseUrl: db.url, rateLimitMax: 0, authCacheTtlMs: 300_000 };
    const a = await buildApp({ logger: false, seed: false, demoTokens: false, config });
    const b = await buildApp({ logger: false, seed: false, demoTokens: false, config, migrate: false });
    try {
      await ensureUsers(a.database.db, [{ id: 'tok-pg', role: 'auditor' }]);
      const created = await createToken(a.database.db, { userId: 'tok-pg' });
      const headers = { authorization: `Bearer ${created.token}` };
      expect((await call(b, { method: 'GET', url: '/me', headers })).statusCode).toBe(200);
      expect(await revokeTokenById(a.database.db, created.id)).toHaveLength(1);
      const deadline = Date.now() + 20_000;
      let status = 200;
      while (status === 200 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        status = (await call(b, { method: 'GET', url: '/me', headers })).statusCode;
      }
      expect(status).toBe(401);
    } finally {
      await b.close();
      await a.close();
    }
  });
});

describe.skipIf(!pg)('the client address behind a proxy (TRUST_PROXY)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('api_trust_proxy');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('TRUST_PROXY: clients behind a trusted proxy get their own failure buckets; without it they share the proxy\'s', async () => {
    /** Statuses of bad-token requests from each forwarded client, in order, over real HTTP from 127.0.0.1. */
    async function run(trustProxy: Partial<import('../src/config.ts').Config>['trustProxy']): Promise<number[]> {
      const app = await buildApp({
        logger: false,
        seed: false,
        demoTokens: false,
        config: { databaseUrl: db.url, rateLimitMax: 0, authFailureMax: 2, authFailureWindowMs: 60_000, ...(trustProxy === undefined ? {} : { trustProxy }) },
      });
      try {
        // Failures are counted in the database, for every instance on it: each run starts with none.
        await sql`delete from shared_limit_windows`.execute(app.database.db);
        await app.listen({ port: 0, host: '127.0.0.1' });
        const { port } = app.server.address() as import('node:net').AddressInfo;
        const statuses: number[] = [];
        for (const client of ['203.0.113.7', '203.0.113.7', '203.0.113.7', '198.51.100.9']) {
          const res = await rawRequest(`http://127.0.0.1:${port}`, {
            path: '/claims',
            headers: { authorization: `Bearer ${guess()}`, 'x-forwarded-for': client },
          });
          statuses.push(res.status);
        }
        return statuses;
      } finally {
        await app.close();
      }
    }
    expect(await run(['127.0.0.1'])).toEqual([401, 401, 429, 401]);
    expect(await run(['loopback'])).toEqual([401, 401, 429, 401]);
    expect(await run(1)).toEqual([401, 401, 429, 401]);
    expect(await run(undefined)).toEqual([401, 401, 429, 429]);
    // A proxy that is not trusted cannot choose the client address.
    expect(await run(['10.0.0.0/8'])).toEqual([401, 401, 429, 429]);
  });
});

describe('timeouts, pool and auth settings', async () => {
  const { loadConfig, ConfigError } = await import('../src/config.ts');
  it('has defaults, accepts the older pool variable, reports bad values by name', () => {
    expect(loadConfig({})).toMatchObject({
      poolSize: 10,
      statementTimeoutMs: 30_000,
      connectionTimeoutMs: 5_000,
      requestTimeoutMs: 30_000,
      authFailureMax: 30,
      authFailureWindowMs: 60_000,
      authCacheTtlMs: 5_000,
      trustProxy: false,
    });
    expect(loadConfig({ DATABASE_POOL_SIZE: '4' }).poolSize).toBe(4);
    expect(loadConfig({ DB_POOL_SIZE: '6', DB_STATEMENT_TIMEOUT_MS: '5000', REQUEST_TIMEOUT_MS: '0' })).toMatchObject({
      poolSize: 6,
      statementTimeoutMs: 5000,
      requestTimeoutMs: 0,
    });
    try {
      loadConfig({ DB_POOL_SIZE: '6', DATABASE_POOL_SIZE: '7', DB_STATEMENT_TIMEOUT_MS: '5', DB_CONNECTION_TIMEOUT_MS: 'x', REQUEST_TIMEOUT_MS: '500', AUTH_FAILURE_MAX: '-1' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      for (const name of ['DB_POOL_SIZE', 'DB_STATEMENT_TIMEOUT_MS', 'DB_CONNECTION_TIMEOUT_MS', 'REQUEST_TIMEOUT_MS', 'AUTH_FAILURE_MAX']) {
        expect((error as Error).message).toContain(name);
      }
    }
  });

  it('TRUST_PROXY: true, false, a hop count, or addresses/CIDRs/named ranges; anything else is named in the error', () => {
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: 'FALSE' }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: '127.0.0.1, 10.0.0.0/8,::1, fd00::/8, loopback,uniquelocal' }).trustProxy).toEqual([
      '127.0.0.1',
      '10.0.0.0/8',
      '::1',
      'fd00::/8',
      'loopback',
      'uniquelocal',
    ]);
    for (const bad of ['0', '101', 'yes', '10.0.0.0/33', '10.0.0.0/0', '::1/129', '300.1.1.1', 'nginx', '10.0.0.1,', '10.0.0.0/8, example.org']) {
      try {
        loadConfig({ TRUST_PROXY: bad });
        expect.unreachable(bad);
      } catch (error) {
        expect(error, bad).toBeInstanceOf(ConfigError);
        expect((error as Error).message, bad).toContain('TRUST_PROXY');
      }
    }
    try {
      loadConfig({ TRUST_PROXY: '10.0.0.1, 10.0.0.0/99, proxy.local' });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toContain('"10.0.0.0/99", "proxy.local"');
      expect((error as Error).message).not.toContain('"10.0.0.1"');
    }
  });
});
