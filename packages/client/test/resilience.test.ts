/**
 * The typed client behind a load balancer, against a real service (buildApp on a real
 * port, real PostgreSQL) through a real HTTP proxy started here (node:http), which
 * answers 502/503/504 or cuts the connection for the next requests it is told to, then
 * forwards. Checked: what is retried and what is not, that a retried write is appended
 * exactly once, and which consistency token each read presents (the proxy records every
 * request's headers).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { buildApp } from '../../../services/api/src/app.ts';
import { ClaimtrailClient, ProblemError, laterConsistencyToken, type ClientOptions, type RetryInfo } from '../src/index.ts';

const pg = await requirePostgres();

type Fault =
  /** Answer with this status (and Retry-After) without forwarding. */
  | { status: 502 | 503 | 504; retryAfter?: string }
  /** Destroy the client's socket before forwarding: the service never sees the request. */
  | { cut: 'before' }
  /** Forward, wait for the service's whole answer, then destroy the client's socket: the
   *  write happened, the client does not know. */
  | { cut: 'after' };

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** The consistency token the client received with the answer, if any. */
  answeredToken?: string;
  outcome: 'forwarded' | 'fault';
}

/**
 * A proxy in front of the service. `fail(match, faults)` queues faults for the next
 * requests `match` accepts. When the service sends no Consistency-Token on a write, the
 * proxy adds one — the count of writes forwarded so far, which is never past the log's
 * head — so that what the client sends back can be checked either way.
 */
class FaultyProxy {
  readonly seen: Seen[] = [];
  private readonly queue: { match: (req: IncomingMessage) => boolean; fault: Fault }[] = [];
  private readonly server = http.createServer((req, res) => this.handle(req, res));
  private writes = 0;
  url = '';

  constructor(private readonly upstream: string) {}

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  fail(match: (req: IncomingMessage) => boolean, ...faults: Fault[]): void {
    for (const fault of faults) this.queue.push({ match, fault });
  }

  requests(method: string, url: string | RegExp): Seen[] {
    return this.seen.filter((s) => s.method === method && (typeof url === 'string' ? s.url === url : url.test(s.url)));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const seen: Seen = { method: req.method!, url: req.url!, headers: req.headers, outcome: 'forwarded' };
    this.seen.push(seen);
    const index = this.queue.findIndex((q) => q.match(req));
    const fault = index >= 0 ? this.queue.splice(index, 1)[0]!.fault : undefined;
    if (fault) seen.outcome = 'fault';
    if (fault && 'status' in fault) {
      req.resume();
      req.on('end', () => {
        res.writeHead(fault.status, {
          'content-type': 'text/html',
          ...(fault.retryAfter !== undefined ? { 'retry-after': fault.retryAfter } : {}),
        });
        res.end(`<h1>${fault.status}</h1>`);
      });
      return;
    }
    if (fault?.cut === 'before') {
      req.socket.destroy();
      return;
    }
    const upstream = new URL(this.upstream);
    const forward = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () => {
          if (fault?.cut === 'after') {
            req.socket.destroy();
            return;
          }
          const headers = { ...answer.headers };
          if (req.method === 'POST' && answer.statusCode! < 300) {
            this.writes++;
            headers['consistency-token'] ??= String(this.writes);
          }
          seen.answeredToken = headers['consistency-token'] as string | undefined;
          res.writeHead(answer.statusCode!, headers);
          res.end(Buffer.concat(chunks));
        });
      },
    );
    forward.on('error', () => req.socket.destroy());
    req.pipe(forward);
  }
}

describe.skipIf(!pg)('@claimtrail/client behind a faulty proxy', () => {
  let db: TestDatabase;
  let app: FastifyInstance;
  let direct: string;
  let proxy: FaultyProxy;

  beforeAll(async () => {
    db = await createTestDatabase('client_resilience');
    app = await buildApp({ config: { databaseUrl: db.url, rateLimitMax: 0 }, logger: false, seed: false, demoTokens: true });
    await app.listen({ port: 0, host: '127.0.0.1' });
    direct = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    proxy = new FaultyProxy(direct);
    await proxy.listen();
  });
  afterAll(async () => {
    await proxy?.close();
    await app?.close();
    await db?.drop();
  });

  /** Short backoff: the tests count attempts, never time them. */
  const through = (options: Partial<ClientOptions> = {}, retries: RetryInfo[] = []) =>
    new ClaimtrailClient({
      baseUrl: proxy.url,
      token: app.demoTokens.editor!,
      ...options,
      retry: options.retry === false ? false : { baseDelayMs: 1, maxDelayMs: 5, onRetry: (info) => retries.push(info), ...options.retry },
    });
  const service = () => new ClaimtrailClient({ baseUrl: direct, token: app.demoTokens.auditor! });
  const notesOf = async (id: string) => (await service().events(id)).events.filter((e) => e.type === 'NoteAdded').length;
  const posts = (path: string) => (req: IncomingMessage) => req.method === 'POST' && req.url === path;

  it('retries a write after 503, 502 and connections cut before and after the service answered; the note is appended exactly once', async () => {
    const retries: RetryInfo[] = [];
    const client = through({}, retries);
    const claim = await client.createClaim({ text: 'The bridge at Tyotkino is down' });
    const path = `/claims/${claim.id}/notes`;
    // The last fault lets the service write the note, then cuts the answer off: only the
    // Idempotency-Key keeps the retry from writing it again.
    proxy.fail(posts(path), { status: 503, retryAfter: '0' }, { status: 502 }, { cut: 'before' }, { cut: 'after' });
    const view = await client.addNote(claim.id, { body: 'Checked with the border service' });

    expect(view.notesCount).toBe(1);
    expect(await notesOf(claim.id)).toBe(1);
    const attempts = proxy.requests('POST', path);
    expect(attempts.map((a) => a.outcome)).toEqual(['fault', 'fault', 'fault', 'fault', 'forwarded']);
    // A key the client made up for this write, the same on every attempt.
    const keys = new Set(attempts.map((a) => a.headers['idempotency-key']));
    expect(keys.size).toBe(1);
    expect([...keys][0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(retries.map((r) => r.reason).slice(0, 2)).toEqual([503, 502]);
    expect(retries.map((r) => r.retry)).toEqual([1, 2, 3, 4]);

    // Every write gets its own key.
    await client.addNote(claim.id, { body: 'A second note' });
    const second = proxy.requests('POST', path).at(-1)!;
    expect(second.headers['idempotency-key']).toBeDefined();
    expect(keys.has(second.headers['idempotency-key'] as string)).toBe(false);
    expect(await notesOf(claim.id)).toBe(2);
  });

  it('never retries a write without a key (autoIdempotencyKeys: false); a given key is retried', async () => {
    const client = through({ autoIdempotencyKeys: false });
    const claim = await client.createClaim({ text: 'Six tanks were destroyed near Kozinka' });
    const path = `/claims/${claim.id}/notes`;

    proxy.fail(posts(path), { status: 503, retryAfter: '0' });
    const refused = await client.addNote(claim.id, { body: 'not retried' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ProblemError);
    expect(refused).toMatchObject({ status: 503 });

    proxy.fail(posts(path), { cut: 'after' });
    const cut = await client.addNote(claim.id, { body: 'written, but the answer was lost' }).catch((e: unknown) => e);
    expect(cut).toBeInstanceOf(TypeError);

    const attempts = proxy.requests('POST', path);
    expect(attempts).toHaveLength(2);
    expect(attempts.every((a) => a.headers['idempotency-key'] === undefined)).toBe(true);
    // The cut write did happen; nobody repeated it.
    expect(await notesOf(claim.id)).toBe(1);

    proxy.fail(posts(path), { cut: 'after' }, { status: 504 });
    await client.addNote(claim.id, { body: 'keyed' }, { idempotencyKey: `note-${claim.id}` });
    expect(proxy.requests('POST', path)).toHaveLength(5);
    expect(await notesOf(claim.id)).toBe(2);
  });

  it('retries reads; gives up after `retries`; does not wait out a long Retry-After', async () => {
    const client = through({ retry: { retries: 2 } });
    const claim = await client.createClaim({ text: 'Kyiv denies any involvement' });
    const path = `/claims/${claim.id}`;
    const gets = (req: IncomingMessage) => req.method === 'GET' && req.url === path;

    proxy.fail(gets, { status: 504 }, { cut: 'before' });
    expect((await client.getClaim(claim.id)).id).toBe(claim.id);
    expect(proxy.requests('GET', path).map((a) => a.outcome)).toEqual(['fault', 'fault', 'forwarded']);

    proxy.fail(gets, { status: 503 }, { status: 503 }, { status: 503 });
    await expect(client.getClaim(claim.id)).rejects.toMatchObject({ status: 503 });
    expect(proxy.requests('GET', path)).toHaveLength(6);

    proxy.fail(gets, { status: 503, retryAfter: '3600' });
    await expect(client.getClaim(claim.id)).rejects.toMatchObject({ status: 503 });
    expect(proxy.requests('GET', path)).toHaveLength(7);

    // Nothing listens: every attempt is refused, and after the retries the error is thrown.
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refusedRetries: RetryInfo[] = [];
    const nowhere = new ClaimtrailClient({ baseUrl: closedUrl, retry: { baseDelayMs: 1, maxDelayMs: 5, onRetry: (r) => refusedRetries.push(r) } });
    await expect(nowhere.board()).rejects.toBeInstanceOf(TypeError);
    expect(refusedRetries.map((r) => r.reason)).toEqual(['ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED']);

    const off = through({ retry: false });
    proxy.fail(gets, { status: 502 });
    await expect(off.getClaim(claim.id)).rejects.toMatchObject({ status: 502 });
    expect(proxy.requests('GET', path)).toHaveLength(8);
  });

  it('presents the latest write\'s consistency token on every read, and hands it to another client', async () => {
    const writer = through();
    const claim = await writer.createClaim({ text: 'The Legion holds Tyotkino' });
    await writer.triage(claim.id);
    const triage = proxy.requests('POST', `/claims/${claim.id}/triage`).at(-1)!;
    expect(triage.answeredToken).toMatch(/^\d+$/);
    // Writes do not present the token; reads do, with the latest one.
    expect(triage.headers['consistency-token']).toBeUndefined();
    expect(writer.consistencyToken).toBe(triage.answeredToken);

    // A read that is retried presents it on every attempt.
    proxy.fail((req) => req.method === 'GET' && req.url === `/claims/${claim.id}`, { status: 503, retryAfter: '0' });
    await writer.getClaim(claim.id);
    const reads = proxy.requests('GET', `/claims/${claim.id}`).slice(-2);
    expect(reads.map((r) => r.headers['consistency-token'])).toEqual([triage.answeredToken, triage.answeredToken]);
    await writer.board();
    expect(proxy.requests('GET', /^\/board/).at(-1)!.headers['consistency-token']).toBe(triage.answeredToken);

    // A client that has not written presents nothing, until it is handed the token.
    const reader = through();
    await reader.listClaims();
    expect(proxy.requests('GET', /^\/claims$/).at(-1)!.headers['consistency-token']).toBeUndefined();
    reader.consistencyToken = writer.consistencyToken;
    await reader.listClaims();
    expect(proxy.requests('GET', /^\/claims$/).at(-1)!.headers['consistency-token']).toBe(triage.answeredToken);
    const handed = through({ consistencyToken: writer.consistencyToken! });
    await handed.getClaim(claim.id);
    expect(proxy.requests('GET', `/claims/${claim.id}`).at(-1)!.headers['consistency-token']).toBe(triage.answeredToken);

    // consistency: 'none' presents only the token given with the call.
    const loose = through({ consistency: 'none' });
    await loose.addNote(claim.id, { body: 'from a client that does not need its writes back' });
    expect(loose.consistencyToken).toBeDefined();
    await loose.getClaim(claim.id);
    expect(proxy.requests('GET', `/claims/${claim.id}`).at(-1)!.headers['consistency-token']).toBeUndefined();
    await loose.getClaim(claim.id, { consistencyToken: triage.answeredToken! });
    expect(proxy.requests('GET', `/claims/${claim.id}`).at(-1)!.headers['consistency-token']).toBe(triage.answeredToken);
  });

  it('keeps the later token: the larger when both are decimal, otherwise the newer', () => {
    expect(laterConsistencyToken(undefined, '7')).toBe('7');
    expect(laterConsistencyToken('5', '12')).toBe('12');
    expect(laterConsistencyToken('12', '5')).toBe('12');
    expect(laterConsistencyToken('12', '0012')).toBe('12');
    expect(laterConsistencyToken('99999999999999999999', '100000000000000000000')).toBe('100000000000000000000');
    expect(laterConsistencyToken('100000000000000000000', '99999999999999999999')).toBe('100000000000000000000');
    expect(laterConsistencyToken('12', 'v2:abc')).toBe('v2:abc');
    expect(laterConsistencyToken('v2:abc', '5')).toBe('5');
  });
});
