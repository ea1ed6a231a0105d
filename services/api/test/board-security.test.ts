/**
 * The board page over real HTTP (a listening server, raw Host headers): the demo token
 * reaches only a loopback client that asked for a loopback host without a proxy in
 * between; the page, its assets and the docs carry a strict Content-Security-Policy and
 * frame protection, and the JSON API routes carry none of it (kept off the hot path).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { networkInterfaces } from 'node:os';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { buildApp } from '../src/app.ts';
import { buildBoard, boardDistDir } from '../src/board/build.ts';
import { isLoopbackAddress, isLoopbackHost } from '../src/board/loopback.ts';

const pg = await requirePostgres();

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A request with exactly these headers (fetch would not let a test set Host). */
function get(address: string, port: number, path: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: address, port, path, method: 'GET', headers, setHost: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** This machine's addresses that are not loopback (the "anyone on the network" visitor). */
function lanAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((a) => a.family === 'IPv4' && !a.internal && !isLoopbackAddress(a.address))
    .map((a) => a.address);
}

function cspDirectives(header: string | string[] | undefined): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of String(header ?? '').split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) out.set(name.toLowerCase(), values);
  }
  return out;
}

describe('loopback names', () => {
  it('accepts only localhost, 127/8 and [::1], each with an optional port', () => {
    for (const host of ['localhost', 'LocalHost:3000', '127.0.0.1', '127.0.0.1:3000', '127.255.0.9:1', '[::1]', '[::1]:3000']) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
    for (const host of [
      'evil.example', '127.0.0.1.evil.example', 'localhost.evil', 'localhost.', 'evil.localhost', '0.0.0.0', '0.0.0.0:3000',
      '127.0.0.256', '127.1', '[::ffff:127.0.0.1]', '[::1]x', 'localhost:3000@evil.example', 'localhost:port', '', ' localhost',
      '192.168.1.10:3000', '[::]:3000',
    ]) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
    expect(isLoopbackHost(undefined)).toBe(false);
    for (const address of ['127.0.0.1', '127.3.2.1', '::1', '::ffff:127.0.0.1']) expect(isLoopbackAddress(address), address).toBe(true);
    for (const address of ['192.0.2.2', '::ffff:192.0.2.2', '0.0.0.0', '::', 'fe80::1', '', undefined]) {
      expect(isLoopbackAddress(address), String(address)).toBe(false);
    }
  });
});

describe.skipIf(!pg)('board page over HTTP', () => {
  let db: TestDatabase;
  let app: FastifyInstance;
  let port: number;
  let demoTokens: string[];

  beforeAll(async () => {
    if (!existsSync(`${boardDistDir}app.js`)) await buildBoard();
    db = await createTestDatabase('board_security');
    app = await buildApp({ config: { databaseUrl: db.url, rateLimitMax: 0 }, logger: false, seed: false, demoTokens: true });
    // All interfaces, as with HOST=0.0.0.0: the same server is reached over loopback and over the LAN.
    await app.listen({ port: 0, host: '0.0.0.0' });
    port = (app.server.address() as AddressInfo).port;
    demoTokens = Object.values(app.demoTokens) as string[];
    expect(demoTokens).toHaveLength(4);
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  /** GET / , every asset it names and the config route: none of them may carry a demo token. */
  async function expectNoDemoToken(address: string, headers: Record<string, string>): Promise<void> {
    const what = `${address} ${JSON.stringify(headers)}`;
    const page = await get(address, port, '/', headers);
    expect(page.status, what).toBe(200);
    const assets = [...page.body.matchAll(/(?:src|href)="(\/assets\/board\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length, what).toBeGreaterThan(0);
    const answers = [page, ...(await Promise.all(assets.map((path) => get(address, port, path, headers))))];
    const config = await get(address, port, '/assets/board/config.json', headers);
    if (config.status !== 404) answers.push(config);
    for (const answer of answers) {
      const text = answer.body + JSON.stringify(answer.headers);
      for (const token of demoTokens) expect(text.includes(token), what).toBe(false);
    }
    expect(config.status, what).toBe(200);
    expect(JSON.parse(config.body), what).toEqual({});
  }

  it('gives the demo token to a loopback client asking for a loopback host, and only in the config route', async () => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'LOCALHOST', `127.8.9.10:${port}`, `[::1]:${port}`]) {
      const config = await get('127.0.0.1', port, '/assets/board/config.json', { host });
      expect(config.status, host).toBe(200);
      expect(config.headers['cache-control'], host).toBe('no-store');
      expect(JSON.parse(config.body), host).toEqual({ demoToken: app.demoTokens.editor, demoRole: 'editor' });
      // The page itself is the same for everyone: no credential in the markup.
      const page = await get('127.0.0.1', port, '/', { host });
      for (const token of demoTokens) expect(page.body.includes(token), host).toBe(false);
    }
  });

  it('gives no demo token for any other Host (DNS rebinding) or through a proxy', async () => {
    const lan = lanAddresses();
    const hosts = [
      'evil.example', `evil.example:${port}`, `127.0.0.1.evil.example:${port}`, 'localhost.evil', `localhost.:${port}`,
      'sub.localhost', '0.0.0.0', `0.0.0.0:${port}`, '[::]', `[::ffff:127.0.0.1]:${port}`, '127.1', `localhost:${port}@evil.example`,
      ...lan.flatMap((ip) => [ip, `${ip}:${port}`]),
    ];
    for (const host of hosts) await expectNoDemoToken('127.0.0.1', { host });
    const loopbackHost = `127.0.0.1:${port}`;
    const proxies: Record<string, string>[] = [
      { 'x-forwarded-for': '127.0.0.1' },
      { 'x-forwarded-for': '203.0.113.9' },
      { forwarded: 'for=127.0.0.1' },
      { 'x-real-ip': '127.0.0.1' },
      { 'x-forwarded-host': 'localhost' },
      { via: '1.1 proxy' },
    ];
    for (const proxy of proxies) {
      await expectNoDemoToken('127.0.0.1', { host: loopbackHost, ...proxy });
    }
  });

  it('gives no demo token to a client on the network, whatever Host it sends', async (context) => {
    const lan = lanAddresses();
    // A machine with loopback only has no network visitor; CI machines have one.
    if (lan.length === 0 && process.env.CI) throw new Error('no non-loopback IPv4 address to test from');
    if (lan.length === 0) context.skip();
    for (const ip of lan) {
      for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `${ip}:${port}`]) {
        await expectNoDemoToken(ip, { host });
      }
    }
  });

  it('the page, its assets and the docs carry a strict CSP and frame protection; the JSON API does not pay for it', async () => {
    const page = await get('127.0.0.1', port, '/', { host: `127.0.0.1:${port}` });
    const assets = [...page.body.matchAll(/(?:src|href)="(\/assets\/board\/[^"?]+)/g)].map((m) => m[1]!);
    const docs = await get('127.0.0.1', port, '/docs', { host: `127.0.0.1:${port}` });
    const docsPaths = docs.status === 302 ? [String(docs.headers.location)] : [];
    const docsAssets = ['/docs/static/swagger-ui-bundle.js', '/docs/static/swagger-initializer.js', '/docs/static/swagger-ui.css'];
    const paths = ['/', '/docs', ...docsPaths, ...docsAssets, ...assets, '/assets/board/config.json'];
    for (const path of paths) {
      const answer = await get('127.0.0.1', port, path, { host: `127.0.0.1:${port}` });
      expect(answer.status, path).toBeLessThan(400);
      const csp = cspDirectives(answer.headers['content-security-policy']);
      expect(csp.get('default-src'), path).toEqual(["'self'"]);
      expect(csp.get('script-src'), path).toEqual(["'self'"]);
      expect(csp.get('script-src-attr'), path).toEqual(["'none'"]);
      expect(csp.get('object-src'), path).toEqual(["'none'"]);
      expect(csp.get('base-uri'), path).toEqual(["'none'"]);
      expect(csp.get('frame-ancestors'), path).toEqual(["'none'"]);
      expect(csp.get('form-action'), path).toEqual(["'self'"]);
      expect(csp.get('connect-src'), path).toEqual(["'self'"]);
      for (const values of csp.values()) expect(values.join(' '), path).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
      expect(answer.headers['x-frame-options'], path).toBe('DENY');
      expect(answer.headers['x-content-type-options'], path).toBe('nosniff');
      expect(answer.headers['referrer-policy'], path).toBe('no-referrer');
    }
    for (const path of ['/healthz', '/openapi.json']) {
      const answer = await get('127.0.0.1', port, path, { host: `127.0.0.1:${port}` });
      expect(answer.status, path).toBe(200);
      expect(answer.headers['content-security-policy'], path).toBeUndefined();
    }
  });
});
