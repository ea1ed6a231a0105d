/**
 * Request limits by who is asking: an authenticated request spends its token's budget, a
 * public one its address's; failed token checks are bounded per address by the failed-auth
 * limiter — a guesser sending a new token per request gets no fresh bucket per guess, and a
 * valid token from that address is still served.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { startApp, type TestApp } from './helpers.ts';

const pg = await requirePostgres();

describe.skipIf(!pg)('rate limit buckets', () => {
  let t: TestApp;
  const max = 6;
  const failures = 4;

  beforeAll(async () => {
    t = await startApp({ config: { rateLimitMax: max, authFailureMax: failures } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('guesses with a fresh token each time share the address: 429 past the failure limit', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < failures + 3; i++) {
      const res = await t.app.inject({
        method: 'GET',
        url: '/claims',
        headers: { authorization: `Bearer ${randomBytes(24).toString('base64url')}` },
        remoteAddress: '198.51.100.7',
      });
      statuses.push(res.statusCode);
    }
    expect(statuses).toEqual([...Array(failures).fill(401), 429, 429, 429]);
  });

  it('a valid token from that address is served, and limited by its own budget', async () => {
    const user = await t.newUser('editor');
    const statuses: number[] = [];
    for (let i = 0; i < max + 2; i++) {
      const res = await t.app.inject({ method: 'GET', url: '/me', headers: user.headers, remoteAddress: '198.51.100.7' });
      statuses.push(res.statusCode);
    }
    expect(statuses).toEqual([...Array(max).fill(200), 429, 429]);
    // Another valid token from the same address has a budget of its own.
    const other = await t.newUser('auditor');
    const res = await t.app.inject({ method: 'GET', url: '/me', headers: other.headers, remoteAddress: '198.51.100.7' });
    expect(res.statusCode).toBe(200);
  });

  it('public routes spend the address budget', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < max + 1; i++) {
      statuses.push((await t.app.inject({ method: 'GET', url: '/openapi.json', remoteAddress: '198.51.100.9' })).statusCode);
    }
    expect(statuses).toEqual([...Array(max).fill(200), 429]);
  });
});
