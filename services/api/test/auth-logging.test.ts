/**
 * No credential carried in a URL reaches the log or an error document, however the
 * parameter is spelled: a real app logging at trace into a stream the test reads, real
 * HTTP requests sent verbatim (node:http), real websocket upgrades. Each spelling carries
 * its own secret, so a leak names the spelling that leaked.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken, ensureUsers } from '@claimtrail/identity';
import { requirePostgres } from '@claimtrail/testing';
import { redactUrl } from '../src/redact.ts';
import { startApp, type TestApp } from './helpers.ts';
import { rawAttempt } from './raw-http.ts';

const pg = await requirePostgres();

/** A secret that no other text in the log could contain by chance. */
const secret = () => `S3CRET${randomBytes(12).toString('hex')}`;

/** Query spellings that a server, a proxy or a client may read as a token parameter. */
const SPELLINGS: readonly ((s: string) => string)[] = [
  (s) => `?token=${s}`,
  (s) => `?%74oken=${s}`,
  (s) => `?%54OKEN=${s}`,
  (s) => `?tok%65n=${s}`,
  (s) => `?TOKEN=${s}`,
  (s) => `?Token=${s}`,
  (s) => `?access_token=${s}`,
  (s) => `?ACCESS_TOKEN=${s}`,
  (s) => `?access%5Ftoken=${s}`,
  (s) => `?id_token=${s}`,
  (s) => `?a=1;token=${s}`,
  (s) => `;token=${s}`,
  (s) => `?a=1&token=${s}`,
  (s) => `?token=x&token=${s}`,
  (s) => `?token=${s}&token=${s}`,
  (s) => `?token%3D${s}`,
  (s) => `?token${s}`,
  (s) => `?token[]=${s}`,
  (s) => `?+token=${s}`,
  (s) => `?%2574oken=${s}`,
  (s) => `#token=${s}`,
  (s) => `?a=1#token=${s}`,
  (s) => `?a=%ZZ&token=${s}`,
  (s) => `?pad=${'p'.repeat(8000)}&token=${s}`,
  (s) => `?token=${s}${'q'.repeat(8000)}`,
];

describe.skipIf(!pg)('tokens in URLs are never logged', () => {
  let t: TestApp;
  let base: string;
  let port: number;
  const lines: string[] = [];
  const secrets = new Map<string, string>();

  beforeAll(async () => {
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    t = await startApp({ logger: { level: 'trace', stream } });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as AddressInfo).port;
    base = `http://127.0.0.1:${port}`;
    await ensureUsers(t.app.database.db, [{ id: 'log-reader', role: 'auditor' }]);
  });

  afterAll(async () => {
    await t?.close();
  });

  function remember(label: string): string {
    const value = secret();
    secrets.set(value, label);
    return value;
  }

  it('redactUrl decides on the decoded key, at every separator', () => {
    expect(redactUrl('/ws?token=abc')).toBe('/ws?token=[redacted]');
    expect(redactUrl('/ws?%74oken=abc&after=5')).toBe('/ws?[redacted]&after=5');
    expect(redactUrl('/claims;token=abc?limit=5')).toBe('/claims;token=[redacted]?limit=5');
    expect(redactUrl('/claims?token%3Dabc')).toBe('/claims?[redacted]');
    expect(redactUrl('/claims?q=tokens+of+trust')).toBe('/claims?q=tokens+of+trust');
    expect(redactUrl('/claims?limit=5&state=published')).toBe('/claims?limit=5&state=published');
  });

  it('no spelling of a token parameter reaches the log or an error document', async () => {
    const bearer = t.as.auditor;
    const targets = ['/claims', '/events', '/no-such-route', '/claims/%ZZ', '/ws'];
    const responses: string[] = [];
    for (const spell of SPELLINGS) {
      for (const path of targets) {
        for (const headers of [{}, bearer, { ...bearer, upgrade: 'websocket', connection: 'Upgrade' }] as Record<string, string>[]) {
          const value = remember(`${path}${spell('<secret>').slice(0, 60)} ${JSON.stringify(Object.keys(headers))}`);
          const res = await rawAttempt(base, { path: `${path}${spell(value)}`, headers });
          responses.push(typeof res === 'string' ? res : `${res.status} ${res.body}`);
        }
      }
    }
    // Real websocket upgrades with a valid token in each spelling the server reads as
    // `token`, and with a secret alongside; and an upgrade to a route that is not a
    // websocket (the websocket plugin logs its path).
    for (const spelling of ['token', '%74oken', 'tok%65n', 'TOKEN']) {
      const created = await createToken(t.app.database.db, { userId: 'log-reader', label: 'log test' });
      secrets.set(created.token, `valid token as ?${spelling}=`);
      const extra = remember(`ws extra with ?${spelling}=`);
      await new Promise<void>((resolve) => {
        const socket = new WebSocket(`ws://127.0.0.1:${port}/ws?${spelling}=${created.token}&access_token=${extra}`);
        socket.once('open', () => socket.close());
        socket.once('close', () => resolve());
        socket.once('error', () => resolve());
      });
    }
    const other = remember('upgrade to /events');
    await new Promise<void>((resolve) => {
      const socket = new WebSocket(`ws://127.0.0.1:${port}/events?token=${other}`, { headers: bearer });
      socket.once('close', () => resolve());
      socket.once('error', () => resolve());
    });
    await t.app.close();

    const log = lines.join('');
    // The log is real: one line per request, with the redacted URLs in it.
    expect(log).toContain('request completed');
    expect(log).toContain('[redacted]');
    const leaks = [...secrets].filter(([value]) => log.includes(value)).map(([, label]) => label);
    expect(leaks).toEqual([]);
    const echoed = [...secrets].filter(([value]) => responses.some((r) => r.includes(value))).map(([, label]) => label);
    expect(echoed).toEqual([]);
    expect(secrets.size).toBeGreaterThan(350);
  });
});
