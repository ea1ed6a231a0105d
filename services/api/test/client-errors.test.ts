/**
 * Every error is problem+json with a code, including the ones Node's HTTP parser raises
 * before Fastify sees a request (sent here as raw bytes on a `node:net` socket: fetch and
 * inject cannot send them) and Fastify's own (routing, body parsing, media types).
 */
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { startApp, type TestApp } from './helpers.ts';

const pg = await requirePostgres();

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends `bytes` (then waits `holdMs` before ending, if given) and reads until the server closes. */
function rawRequest(port: number, bytes: Buffer | string, holdMs = 0): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const [statusLine = '', ...headerLines] = head.split('\r\n');
      const headers = Object.fromEntries(
        headerLines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
      );
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    });
    socket.write(bytes);
    if (holdMs === 0) return;
    setTimeout(() => socket.end(), holdMs).unref();
  });
}

function expectProblem(response: RawResponse, status: number, code: string): void {
  expect(response.status, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  const problem = JSON.parse(response.body) as Record<string, unknown>;
  expect(problem).toMatchObject({ status, code, type: `https://claimtrail.dev/problems/${code}` });
  expect(typeof problem.detail).toBe('string');
  expect(Number(response.headers['content-length'])).toBe(Buffer.byteLength(response.body));
}

describe.skipIf(!pg)('errors the HTTP parser raises are problem+json too', () => {
  let t: TestApp;
  let port: number;
  let auth: string;
  beforeAll(async () => {
    t = await startApp({ config: { requestTimeoutMs: 1000 } });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as AddressInfo).port;
    auth = t.as.auditor.authorization;
  });
  afterAll(async () => {
    await t?.close();
  });

  const head = (requestLine: string, headers: string[] = []) =>
    `${requestLine}\r\nHost: 127.0.0.1\r\nAuthorization: ${auth}\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`;

  it('a raw (unencoded) non-ASCII query: 400 validation naming the url, connection closed', async () => {
    const response = await rawRequest(port, Buffer.from(head('GET /claims?q=Тёткино HTTP/1.1'), 'utf8'));
    expectProblem(response, 400, 'validation');
    expect(response.headers.connection).toBe('close');
    expect(JSON.parse(response.body).field).toBe('url');
    // The same query percent-encoded is an ordinary search.
    const encoded = await rawRequest(port, head(`GET /claims?q=${encodeURIComponent('Тёткино')} HTTP/1.1`, ['Connection: close']));
    expect(encoded.status).toBe(200);
  });

  const cases: { name: string; bytes: () => Buffer | string; status: number; code: string }[] = [
    { name: 'raw non-ASCII path', bytes: () => Buffer.from(head('GET /claims/Тёткино HTTP/1.1'), 'utf8'), status: 400, code: 'validation' },
    { name: 'raw Latin-1 byte in the URL', bytes: () => Buffer.concat([Buffer.from('GET /claims?q='), Buffer.from([0xe9]), Buffer.from(` HTTP/1.1\r\nHost: x\r\n\r\n`)]), status: 400, code: 'validation' },
    { name: 'control character in the URL', bytes: () => head('GET /claims?q=\u0001 HTTP/1.1'), status: 400, code: 'validation' },
    { name: 'headers over the size limit', bytes: () => head('GET /claims HTTP/1.1', [`X-Big: ${'a'.repeat(20_000)}`]), status: 431, code: 'headers_too_large' },
    { name: 'a request line over the size limit', bytes: () => head(`GET /claims?q=${'a'.repeat(20_000)} HTTP/1.1`), status: 414, code: 'uri_too_long' },
    { name: 'invalid characters in a header name', bytes: () => head('GET /claims HTTP/1.1', ['X-B@d(): 1']), status: 400, code: 'bad_request' },
    { name: 'a control character in a header value', bytes: () => head('GET /claims HTTP/1.1', ['X-Ctl: a\u0001b']), status: 400, code: 'bad_request' },
    { name: 'unsupported HTTP version', bytes: () => head('GET /claims HTTP/9.9'), status: 400, code: 'bad_request' },
    { name: 'not HTTP at all', bytes: () => '\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003\r\n\r\n', status: 400, code: 'bad_request' },
    { name: 'a malformed method', bytes: () => head('G(T /claims HTTP/1.1'), status: 400, code: 'bad_request' },
    {
      name: 'bad chunked encoding',
      bytes: () => head('POST /claims HTTP/1.1', ['Content-Type: application/json', 'Transfer-Encoding: chunked']) + 'zz\r\n{}\r\n0\r\n\r\n',
      status: 400,
      code: 'bad_request',
    },
    { name: 'a non-numeric Content-Length', bytes: () => head('POST /claims HTTP/1.1', ['Content-Type: application/json', 'Content-Length: 1x']) + '{}', status: 400, code: 'bad_request' },
    {
      name: 'Content-Length beside Transfer-Encoding',
      bytes: () => head('POST /claims HTTP/1.1', ['Content-Type: application/json', 'Content-Length: 2', 'Transfer-Encoding: chunked']) + '2\r\n{}\r\n0\r\n\r\n',
      status: 400,
      code: 'bad_request',
    },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.status} ${c.code}`, async () => {
      const response = await rawRequest(port, c.bytes());
      expectProblem(response, c.status, c.code);
      expect(response.headers.connection).toBe('close');
    });
  }

  it('a request that does not arrive in time: 408 request_timeout', async () => {
    // Headers never finished (slow loris): the server gives up after requestTimeout (1 s here).
    const response = await rawRequest(port, `GET /claims HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${auth}\r\nX-Slow: 1`, 20_000);
    expectProblem(response, 408, 'request_timeout');
  });

  it('a body that stops arriving after complete headers: 408 request_timeout, nothing appended', async () => {
    // Headers complete, 100 bytes announced, a few sent, then silence (slow body).
    const before = await t.eventCount();
    const editor = t.as.editor.authorization;
    const response = await rawRequest(
      port,
      `POST /claims HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${editor}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"text":`,
      20_000,
    );
    expectProblem(response, 408, 'request_timeout');
    expect(await t.eventCount()).toBe(before);
  });

  it('the server keeps serving after all of them', async () => {
    const response = await rawRequest(port, head('GET /healthz HTTP/1.1', ['Connection: close']));
    expect(response.status).toBe(200);
  });
});

describe.skipIf(!pg)("Fastify's own errors are problem+json with a code", () => {
  let t: TestApp;
  let base: string;
  beforeAll(async () => {
    t = await startApp();
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await t?.close();
  });

  const json = { 'content-type': 'application/json' };
  const cases: { name: string; path: string; init: () => RequestInit; status: number; code: string }[] = [
    { name: 'unknown route', path: '/nope', init: () => ({}), status: 404, code: 'not_found' },
    { name: 'unknown method on a known path', path: '/claims', init: () => ({ method: 'DELETE', headers: t.as.editor }), status: 404, code: 'not_found' },
    { name: 'bad percent-encoding', path: '/claims/%E0%A4%A', init: () => ({ headers: t.as.auditor }), status: 400, code: 'validation' },
    { name: 'a path parameter over its length limit', path: `/claims/${'a'.repeat(600)}`, init: () => ({ headers: t.as.auditor }), status: 414, code: 'uri_too_long' },
    { name: 'not JSON', path: '/claims', init: () => ({ method: 'POST', headers: { ...t.as.editor, ...json }, body: '{"text":' }), status: 400, code: 'validation' },
    { name: 'invalid UTF-8 body', path: '/claims', init: () => ({ method: 'POST', headers: { ...t.as.editor, ...json }, body: Buffer.from([0x7b, 0xff, 0x7d]) }), status: 400, code: 'validation' },
    { name: 'another media type', path: '/claims', init: () => ({ method: 'POST', headers: { ...t.as.editor, 'content-type': 'text/plain' }, body: 'x' }), status: 415, code: 'unsupported_media_type' },
    { name: 'a malformed content type', path: '/claims', init: () => ({ method: 'POST', headers: { ...t.as.editor, 'content-type': ';;;' }, body: '{}' }), status: 415, code: 'unsupported_media_type' },
    { name: 'a body over the limit', path: '/claims', init: () => ({ method: 'POST', headers: { ...t.as.editor, ...json }, body: `{"text":"${'a'.repeat(2 * 1024 * 1024)}"}` }), status: 413, code: 'payload_too_large' },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.status} ${c.code}`, async () => {
      const response = await fetch(`${base}${c.path}`, c.init());
      const body = await response.text();
      expect(response.status, body).toBe(c.status);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(body)).toMatchObject({ status: c.status, code: c.code });
    });
  }
});
