/**
 * Whether a request needs a token is decided by the route it reaches, never by what the
 * request carries. Over a real listening server (headers sent verbatim through Node's HTTP
 * parser, where `Connection: Upgrade` takes the server's 'upgrade' path):
 * - every operation of /openapi.json and every other route that is not public, × every
 *   combination of `Upgrade` and `Connection` headers, × no token / an empty bearer / a
 *   garbage token → 401 problem+json, and nothing is appended;
 * - the spellings of a path and the methods that reach the same handler (HEAD, a trailing
 *   slash, percent-encoding, case, doubled slashes, absolute form, OPTIONS) never answer
 *   anything but a problem;
 * - the public routes are exactly the expected ones and stay public; `/ws` still refuses
 *   an upgrade without a valid token.
 */
import { randomBytes } from 'node:crypto';
import { connect, type AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { createClaim, startApp, type TestApp } from './helpers.ts';
import { inParallel, rawAttempt, rawRequest, type RawResponse } from './raw-http.ts';

const pg = await requirePostgres();

const UPGRADES = [undefined, 'websocket', 'WebSocket', 'h2c', 'foo'] as const;
const CONNECTIONS = [undefined, 'Upgrade', 'upgrade', 'keep-alive, Upgrade', 'close'] as const;
const garbage = `ct_${randomBytes(32).toString('base64url')}`;
const CREDENTIALS: readonly { label: string; authorization?: string }[] = [
  { label: 'no token' },
  { label: 'empty bearer', authorization: 'Bearer ' },
  { label: 'garbage token', authorization: `Bearer ${garbage}` },
];

/** The routes that may answer without a token: the desk page and its assets, the public fact-check pages, health, the docs. */
function expectedPublic(url: string): boolean {
  return (
    ['/', '/desk', '/desk/*', '/desk/{wildcard}', '/fact-checks', '/fact-checks/:id', '/fact-checks/{id}', '/healthz', '/readyz', '/openapi.json', '/docs'].includes(url) ||
    url.startsWith('/docs/') ||
    url.startsWith('/assets/')
  );
}

interface Operation {
  method: string;
  /** Path template, `{param}` style. */
  template: string;
  requestSchema?: JsonSchema;
}

interface JsonSchema {
  type?: string;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  pattern?: string;
  format?: string;
  minimum?: number;
  minItems?: number;
  items?: JsonSchema;
}

/**
 * A minimal valid value for a request body schema: validation runs before authentication,
 * so a POST must be valid to reach the token check. Throws rather than send a body that
 * would be refused for its shape (the test would then prove nothing about auth).
 */
function sample(schema: JsonSchema, ids: { claim: string; other: string }, where: string): unknown {
  if (schema.anyOf) return sample(schema.anyOf.find((s) => s.type !== 'null') ?? schema.anyOf[0]!, ids, where);
  if (schema.const !== undefined) return schema.const;
  if (schema.enum) return schema.enum[0];
  switch (schema.type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const key of schema.required ?? []) out[key] = sample(schema.properties?.[key] ?? {}, ids, `${where}.${key}`);
      return out;
    }
    case 'array':
      return Array.from({ length: schema.minItems ?? 0 }, () => sample(schema.items ?? {}, ids, `${where}[]`));
    case 'integer':
    case 'number':
      return schema.minimum ?? 1;
    case 'boolean':
      return false;
    case 'string': {
      const candidates = [ids.other, '2024-03-12', 'https://example.org/a', 'x'];
      const value = candidates.find((c) => !schema.pattern || new RegExp(schema.pattern).test(c));
      if (value === undefined) throw new Error(`no sample string for ${where} (pattern ${schema.pattern}); extend sample()`);
      return value;
    }
    default:
      throw new Error(`no sample value for ${where}; extend sample()`);
  }
}

describe.skipIf(!pg)('auth is decided per route, never by a request header', () => {
  let t: TestApp;
  let base: string;
  let port: number;
  let ids: { claim: string; other: string };
  let operations: Operation[];

  beforeAll(async () => {
    // The failure limit is sized so that this sweep's ~1,500 bad tokens never reach it.
    t = await startApp({ config: { authFailureMax: 1_000_000 } });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as AddressInfo).port;
    base = `http://127.0.0.1:${port}`;
    ids = { claim: (await createClaim(t)).id, other: (await createClaim(t)).id };

    const spec = JSON.parse((await rawRequest(base, { path: '/openapi.json' })).body) as {
      paths: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema?: JsonSchema }> } }>>;
    };
    const byKey = new Map<string, Operation>();
    for (const [template, methods] of Object.entries(spec.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const requestSchema = operation.requestBody?.content?.['application/json']?.schema;
        byKey.set(`${method.toUpperCase()} ${template}`, { method: method.toUpperCase(), template, ...(requestSchema ? { requestSchema } : {}) });
      }
    }
    // Routes the document does not show (HEAD twins, /ws, anything hidden) are swept too.
    for (const route of t.app.routeAccess) {
      const template = route.url.replace(/:(\w+)/g, '{$1}').replace(/\*$/, '{wildcard}');
      const key = `${route.method} ${template}`;
      if (!byKey.has(key)) byKey.set(key, { method: route.method, template });
    }
    operations = [...byKey.values()].filter((op) => !expectedPublic(op.template));
  });

  afterAll(async () => {
    await t?.close();
  });

  function fill(template: string): string {
    return template.replace(/\{id\}/g, ids.claim).replace(/\{\w+\}/g, 'x');
  }

  function isProblem(res: RawResponse, method: string, status: number): boolean {
    const type = String(res.headers['content-type'] ?? '');
    if (res.status !== status || !type.startsWith('application/problem+json')) return false;
    if (method === 'HEAD') return res.body === '';
    const body = JSON.parse(res.body) as { code?: string; status?: number };
    return body.status === status && typeof body.code === 'string';
  }

  it('the routes that need no token are exactly the public ones, and /ws checks its own', () => {
    const publicRoutes = t.app.routeAccess.filter((r) => r.access === 'public');
    expect(publicRoutes.filter((r) => !expectedPublic(r.url))).toEqual([]);
    expect(t.app.routeAccess.filter((r) => r.access === 'self').map((r) => `${r.method} ${r.url}`).sort()).toEqual(['GET /ws', 'HEAD /ws']);
    // The sweep below covers the whole API, not a handful of routes.
    expect(operations.length).toBeGreaterThanOrEqual(40);
    for (const path of ['/events', '/board', '/claims', '/claims/{id}', '/claims/{id}/events', '/claim-reviews', '/metrics', '/ws']) {
      expect(operations.some((op) => op.template === path && op.method === 'GET'), path).toBe(true);
    }
  });

  it('every operation × every Upgrade/Connection combination × no/empty/garbage token → 401, appending nothing', async () => {
    const before = await t.eventCount();
    const tasks: (() => Promise<string | null>)[] = [];
    for (const op of operations) {
      const body = op.method === 'POST' ? JSON.stringify(op.requestSchema ? sample(op.requestSchema, ids, `${op.method} ${op.template}`) : {}) : undefined;
      for (const upgrade of UPGRADES) {
        for (const connection of CONNECTIONS) {
          for (const credential of CREDENTIALS) {
            const headers: Record<string, string> = {};
            if (upgrade !== undefined) headers.upgrade = upgrade;
            if (connection !== undefined) headers.connection = connection;
            if (credential.authorization !== undefined) headers.authorization = credential.authorization;
            if (body !== undefined) headers['content-type'] = 'application/json';
            tasks.push(async () => {
              const res = await rawAttempt(base, { method: op.method, path: fill(op.template), headers, ...(body !== undefined ? { body } : {}) });
              if (typeof res === 'string') return `${op.method} ${op.template} upgrade=${upgrade} connection=${connection} ${credential.label} → ${res}`;
              // Always 401: the token check runs before the body is read or validated (Node
              // hands an upgrade request's body to no one, so its parsing would fail).
              const ok = isProblem(res, op.method, 401) && (op.method === 'HEAD' || JSON.parse(res.body).code === 'unauthorized');
              return ok ? null : `${op.method} ${op.template} upgrade=${upgrade} connection=${connection} ${credential.label} → ${res.status} ${res.body.slice(0, 120)}`;
            });
          }
        }
      }
    }
    const failures = (await inParallel(tasks)).filter((f) => f !== null);
    expect(failures).toEqual([]);
    expect(tasks.length).toBeGreaterThanOrEqual(3000);
    expect(await t.eventCount()).toBe(before);
  });

  it('every write with a malformed, mistyped or oversized body and no valid token → 401 (nothing about its input rules leaks)', async () => {
    const before = await t.eventCount();
    const bodies: { type: string; body: string }[] = [
      { type: 'application/json', body: '{"text":' },
      { type: 'application/json', body: '{"unexpected":true,"text":""}' },
      { type: 'text/plain', body: 'hello' },
      { type: 'application/json', body: JSON.stringify({ text: 'x'.repeat(2 * 1024 * 1024) }) },
    ];
    const tasks: (() => Promise<string | null>)[] = [];
    for (const op of operations.filter((o) => o.method === 'POST')) {
      for (const { type, body } of bodies) {
        for (const credential of CREDENTIALS) {
          const headers: Record<string, string> = { 'content-type': type };
          if (credential.authorization !== undefined) headers.authorization = credential.authorization;
          tasks.push(async () => {
            const res = await rawAttempt(base, { method: op.method, path: fill(op.template), headers, body });
            if (typeof res === 'string') return `${op.template} ${type} ${credential.label} → ${res}`;
            return isProblem(res, op.method, 401) ? null : `${op.template} ${type} ${body.length} B ${credential.label} → ${res.status} ${res.body.slice(0, 120)}`;
          });
        }
      }
    }
    expect((await inParallel(tasks)).filter((f) => f !== null)).toEqual([]);
    expect(await t.eventCount()).toBe(before);
  });

  it('no spelling of a path or method reaches a handler without a token', async () => {
    const before = await t.eventCount();
    const tasks: (() => Promise<string | null>)[] = [];
    const reads = operations.filter((op) => op.method === 'GET');
    for (const op of reads) {
      const path = fill(op.template);
      const upper = path.replace(/^\/(\w)/, (_m, c: string) => `/${c.toUpperCase()}`);
      const encoded = path.replace(/^\/(\w)/, (_m, c: string) => `/%${c.charCodeAt(0).toString(16)}`);
      const variants: { method: string; path: string; allowed: number[] }[] = [
        { method: 'HEAD', path, allowed: [401] },
        { method: 'GET', path: `${path}/`, allowed: [401] },
        { method: 'GET', path: encoded, allowed: [401] },
        { method: 'GET', path: `${path}?`, allowed: [401] },
        // Unknown query keys: still a 401 (the token check comes before validation).
        { method: 'GET', path: `${path}?token=${garbage}&access_token=${garbage}`, allowed: [401] },
        { method: 'GET', path: upper, allowed: [401, 404] },
        { method: 'GET', path: `/${path}`, allowed: [401, 404] },
        { method: 'GET', path: `${path};x=1`, allowed: [401, 404] },
        { method: 'GET', path: `${path}#x`, allowed: [400, 401, 404] },
        { method: 'GET', path: `${path}/.`, allowed: [401, 404] },
        { method: 'GET', path: `http://127.0.0.1:${port}${path}`, allowed: [401, 404] },
        { method: 'OPTIONS', path, allowed: [401, 404, 405] },
        { method: 'PUT', path, allowed: [401, 404, 405] },
      ];
      for (const variant of variants) {
        for (const headers of [{}, { upgrade: 'websocket' }, { upgrade: 'websocket', connection: 'Upgrade' }] as Record<string, string>[]) {
          tasks.push(async () => {
            const res = await rawAttempt(base, { ...variant, headers });
            if (typeof res === 'string') return `${variant.method} ${variant.path} ${JSON.stringify(headers)} → ${res}`;
            if (variant.allowed.some((status) => isProblem(res, variant.method, status))) return null;
            return `${variant.method} ${variant.path} ${JSON.stringify(headers)} → ${res.status} ${res.body.slice(0, 120)}`;
          });
        }
      }
    }
    const failures = (await inParallel(tasks)).filter((f) => f !== null);
    expect(failures).toEqual([]);
    expect(await t.eventCount()).toBe(before);
  });

  it('the public routes stay public, with any Upgrade header', async () => {
    for (const path of ['/', '/healthz', '/readyz', '/openapi.json', '/docs']) {
      for (const upgrade of UPGRADES) {
        const res = await rawRequest(base, { path, headers: upgrade === undefined ? {} : { upgrade } });
        expect(res.status, `${path} upgrade=${upgrade}`).toBeGreaterThanOrEqual(200);
        expect(res.status, `${path} upgrade=${upgrade}`).toBeLessThan(400);
      }
    }
  });

  it('an upgrade request the router cannot parse gets its problem and its socket closed', async () => {
    // Unclosed, every such request (no token needed) would hold a server socket forever.
    for (const path of ['/claims/%ZZ', '/%ZZ', '/claims/%E0%A4%A']) {
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`);
        });
        let received = '';
        socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
        socket.on('close', () => resolve(received));
        socket.on('error', reject);
      });
      expect(answer, path).toMatch(/^HTTP\/1\.1 400 /);
      expect(answer.toLowerCase(), path).toContain('content-type: application/problem+json');
    }
  });

  it('/ws still refuses an upgrade without a valid token, and accepts a valid one', async () => {
    const attempt = (url: string, headers: Record<string, string> = {}) =>
      new Promise<number>((resolve, reject) => {
        const socket = new WebSocket(url, { headers });
        socket.once('open', () => {
          socket.close();
          resolve(101);
        });
        socket.once('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          socket.terminate();
        });
        socket.once('error', reject);
      });
    const ws = `ws://127.0.0.1:${port}/ws`;
    expect(await attempt(ws)).toBe(401);
    expect(await attempt(`${ws}?token=`)).toBe(401);
    expect(await attempt(`${ws}?token=${garbage}`)).toBe(401);
    expect(await attempt(ws, { authorization: `Bearer ${garbage}` })).toBe(401);
    expect(await attempt(`${ws}?token=${encodeURIComponent(t.as.editor.authorization.slice('Bearer '.length))}`)).toBe(101);
  });
});
