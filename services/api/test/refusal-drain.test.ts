/**
 * A refusal sent before a request's body is read (no token, an unsupported content type,
 * an unknown route) is answered only once the body has arrived: answering while the client
 * is still uploading closes the connection with unread bytes, the kernel resets it, and the
 * client loses the answer (EPIPE/ECONNRESET). Half of the body, a pause (nothing may be
 * answered yet), then the rest: the client reads the whole problem.
 */
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { startApp, type TestApp } from './helpers.ts';

const pg = await requirePostgres();

describe.skipIf(!pg)('refusals wait for the body', () => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    t = await startApp();
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await t?.close();
  });

  async function halfThenRest(head: string, body: string): Promise<{ early: number; answer: string }> {
    const socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    const half = Math.floor(body.length / 2);
    socket.write(`${head}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`);
    socket.write(body.slice(0, half));
    await new Promise((resolve) => setTimeout(resolve, 400));
    const early = Buffer.concat(received).length;
    socket.write(body.slice(half));
    await closed;
    return { early, answer: Buffer.concat(received).toString('utf8') };
  }

  const body = JSON.stringify({ text: 'x'.repeat(300_000) });
  const cases = [
    { name: 'no token', status: 401, code: 'unauthorized', head: () => 'POST /claims HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' },
    {
      name: 'an unsupported content type',
      status: 415,
      code: 'unsupported_media_type',
      head: () => `POST /claims HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${t.as.editor.authorization}\r\nContent-Type: text/plain\r\n`,
    },
    {
      name: 'an unknown route',
      status: 404,
      code: 'not_found',
      head: () => `POST /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${t.as.editor.authorization}\r\nContent-Type: application/json\r\n`,
    },
    {
      name: 'a path Fastify cannot decode (refused before routing)',
      status: 400,
      code: 'validation',
      head: () => 'POST /claims/%C0%AE%C0%AE/notes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n',
    },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.status} after the body is in`, async () => {
      const before = await t.eventCount();
      const { early, answer } = await halfThenRest(c.head(), body);
      expect(early, 'nothing is answered while the body is still arriving').toBe(0);
      expect(answer).toMatch(new RegExp(`^HTTP/1\\.1 ${c.status} `));
      expect(answer).toContain(`"code":"${c.code}"`);
      expect(await t.eventCount()).toBe(before);
    });
  }
});
