/**
 * The general request rate limit: a valid token has its own bucket, anything else counts
 * against the client address — a guesser sending a new token per request gets no fresh
 * bucket per guess, and a valid token is not limited by someone else's guessing.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { startApp, type TestApp } from './helpers.ts';

const pg = await requirePostgres();

describe.skipIf(!pg)('rate limit buckets', () => {
  let t: TestApp;
  const max = 20;

  beforeAll(async () => {
    // The failed-auth limiter is set above the request limit so the general limit is what answers.
    t = await startApp({ config: { rateLimitMax: max, authFailureMax: 10_000 } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('guesses with a fresh token each time share the address bucket (429 past the limit)', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < max + 5; i++) {
      const res = await t.app.inject({
        method: 'GET',
        url: '/claims',
        headers: { authorization: `Bearer ${randomBytes(24).toString('base64url')}` },
        remoteAddress: '198.51.100.7',
      });
      statuses.push(res.statusCode);
    }
    expect(statuses.slice(0, max).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(max)).toEqual(Array(5).fill(429));
  });

  it('a valid token from the same address keeps its own bucket', async () => {
    // Cache the token (the first request of a token not seen yet counts against the address).
    const user = await t.newUser('editor');
    const warm = await t.app.inject({ method: 'GET', url: '/me', headers: user.headers, remoteAddress: '198.51.100.8' });
    expect(warm.statusCode).toBe(200);
    const res = await t.app.inject({ method: 'GET', url: '/me', headers: user.headers, remoteAddress: '198.51.100.7' });
    expect(res.statusCode).toBe(200);
  });
});
