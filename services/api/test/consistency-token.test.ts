/**
 * Read-your-writes across instances: every successful write answers with a
 * `Consistency-Token`, and a read on another instance that presents it sees the write (or
 * is refused 503 `not_caught_up` after a bounded wait, never answered with an older state).
 * Two instances on one PostgreSQL database; the reading one keeps the claim in its view
 * cache, so without the token it could answer the version it held.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { PROBLEM_CONTENT_TYPE } from '@claimtrail/contract';
import { buildApp } from '../src/app.ts';

const pg = await requirePostgres();
const WAIT_MS = 300;

describe.skipIf(!pg)('Consistency-Token, two instances', () => {
  let db: TestDatabase;
  let a: FastifyInstance;
  let b: FastifyInstance;
  let writer: Record<string, string>;
  let reader: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('consistency');
    const config = { databaseUrl: db.url, rateLimitMax: 0, consistencyWaitMs: WAIT_MS };
    a = await buildApp({ logger: false, seed: false, demoTokens: true, config });
    b = await buildApp({ logger: false, seed: false, demoTokens: true, config });
    writer = { authorization: `Bearer ${a.demoTokens.fact_checker}`, 'content-type': 'application/json' };
    reader = { authorization: `Bearer ${b.demoTokens.fact_checker}` };
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  const submit = async (text: string) => {
    const created = await a.inject({ method: 'POST', url: '/claims', headers: writer, payload: { text } });
    expect(created.statusCode, created.body).toBe(201);
    return { id: (created.json() as { id: string }).id, token: String(created.headers['consistency-token']) };
  };

  it('every write answers with the position that covers it; a read on the other instance with it sees the write, every time', async () => {
    const { id, token: first } = await submit('A claim read right after each write, elsewhere');
    expect(first).toMatch(/^[1-9]\d*$/);
    let previous = Number(first);
    for (let version = 2; version <= 41; version++) {
      // B holds the current version in memory, so an answer from its cache would be the older one.
      const before = await b.inject({ method: 'GET', url: `/claims/${id}`, headers: reader });
      expect(before.statusCode).toBe(200);
      const note = await a.inject({ method: 'POST', url: `/claims/${id}/notes`, headers: writer, payload: { body: `note ${version}` } });
      expect(note.statusCode, note.body).toBe(200);
      expect(note.headers.etag).toBe(`"${version}"`);
      const token = String(note.headers['consistency-token']);
      expect(token).toMatch(/^[1-9]\d*$/);
      expect(Number(token)).toBeGreaterThan(previous);
      previous = Number(token);
      const read = await b.inject({ method: 'GET', url: `/claims/${id}`, headers: { ...reader, 'consistency-token': token } });
      expect(read.statusCode, read.body).toBe(200);
      expect(read.headers.etag).toBe(`"${version}"`);
      expect((read.json() as { version: number }).version).toBe(version);
    }
    // The position really is where the write's events are.
    const { rows } = await a.store.db
      .selectFrom('events')
      .select((eb) => eb.fn.max('position').as('position'))
      .where('stream_id', '=', `claim-${id}`)
      .execute()
      .then((result) => ({ rows: result }));
    expect(Number(rows[0]!.position)).toBeLessThanOrEqual(previous);
  });

  it('an idempotent replay answers with a token that covers the original write', async () => {
    const { id } = await submit('A claim noted twice with one key');
    const headers = { ...writer, 'idempotency-key': `replay-${id}` };
    const first = await a.inject({ method: 'POST', url: `/claims/${id}/notes`, headers, payload: { body: 'once' } });
    expect(first.statusCode).toBe(200);
    const again = await b.inject({
      method: 'POST',
      url: `/claims/${id}/notes`,
      headers: { ...headers, authorization: writer.authorization },
      payload: { body: 'once' },
    });
    expect(again.statusCode, again.body).toBe(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(Number(again.headers['consistency-token'])).toBeGreaterThanOrEqual(Number(first.headers['consistency-token']));
  });

  it('lists, search, board, feed, history and audit reads take the token too', async () => {
    const { id, token } = await submit('A claim about Tyotkino seen in every list');
    const headers = { ...reader, 'consistency-token': token };
    for (const url of ['/claims', '/claims?q=Tyotkino', '/board', '/events', `/claims/${id}/events`, `/claims/${id}/state?version=1`, '/users']) {
      const response = await b.inject({ method: 'GET', url, headers });
      expect(response.statusCode, `${url}: ${response.body}`).toBe(200);
    }
    const audit = await b.inject({
      method: 'GET',
      url: `/audit/verify?claimId=${id}`,
      headers: { authorization: `Bearer ${b.demoTokens.editor}`, 'consistency-token': token },
    });
    expect(audit.statusCode, audit.body).toBe(200);
    const listed = await b.inject({ method: 'GET', url: '/claims?q=Tyotkino', headers });
    expect((listed.json() as { items: { id: string }[] }).items.map((item) => item.id)).toContain(id);
  });

  it('a malformed token is a 400 naming the header; never a 5xx', async () => {
    const { id } = await submit('A claim read with bad tokens');
    for (const bad of ['abc', '-1', '1e3', '1.5', '0x10', '12345678901234567', '9007199254740993', '', ' ', '"12"', '1,2']) {
      const response = await b.inject({ method: 'GET', url: `/claims/${id}`, headers: { ...reader, 'consistency-token': bad } });
      expect(response.statusCode, `token ${JSON.stringify(bad)}: ${response.body}`).toBe(400);
      expect(response.headers['content-type']).toContain(PROBLEM_CONTENT_TYPE);
      expect(response.json()).toMatchObject({ code: 'validation', field: 'Consistency-Token' });
    }
    // Whitespace around a position is not part of it.
    const padded = await b.inject({ method: 'GET', url: `/claims/${id}`, headers: { ...reader, 'consistency-token': ' 1 ' } });
    expect(padded.statusCode).toBe(200);
  });

  it('a token beyond the head waits the bounded time, then 503 not_caught_up with Retry-After: 1', async () => {
    const { id } = await submit('A claim read with a made-up token');
    const forged = '9007199254740991';
    for (const url of [`/claims/${id}`, '/claims', '/board']) {
      const response = await b.inject({ method: 'GET', url, headers: { ...reader, 'consistency-token': forged } });
      expect(response.statusCode, response.body).toBe(503);
      expect(response.headers['retry-after']).toBe('1');
      expect(response.headers['content-type']).toContain(PROBLEM_CONTENT_TYPE);
      expect(response.json()).toMatchObject({ code: 'not_caught_up', status: 503 });
    }
    // Nothing is left waiting.
    expect(b.storeFollower.waiting).toBe(0);
  });

  it('is in the OpenAPI document: a header of every write answer, a parameter of every read that needs a token', () => {
    const document = a.swagger() as unknown as {
      paths: Record<string, Record<string, { parameters?: { $ref?: string }[]; responses: Record<string, { headers?: Record<string, unknown> }> }>>;
    };
    const tokenParameter = (path: string) => document.paths[path]!.get!.parameters?.some((p) => p.$ref === '#/components/parameters/ConsistencyToken');
    expect(document.paths['/claims']!.post!.responses['201']!.headers).toHaveProperty('Consistency-Token');
    expect(document.paths['/claims/{id}/notes']!.post!.responses['200']!.headers).toHaveProperty('Consistency-Token');
    for (const path of ['/claims/{id}', '/claims', '/board', '/events', '/claims/{id}/events']) {
      expect(tokenParameter(path), path).toBe(true);
      expect(document.paths[path]!.get!.responses).toHaveProperty('503');
    }
    expect(tokenParameter('/healthz')).toBeFalsy();
  });

  it('public routes and writes ignore the header', async () => {
    const health = await b.inject({ method: 'GET', url: '/healthz', headers: { 'consistency-token': 'not a token' } });
    expect(health.statusCode).toBe(200);
    const { id } = await submit('A claim written with a token header');
    const note = await b.inject({
      method: 'POST',
      url: `/claims/${id}/notes`,
      headers: { ...writer, authorization: `Bearer ${b.demoTokens.fact_checker}`, 'consistency-token': '9007199254740991' },
      payload: { body: 'written at once' },
    });
    expect(note.statusCode, note.body).toBe(200);
  });
});

describe('Consistency-Token on the embedded database', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildApp({ logger: false, seed: false, demoTokens: true, config: { dataDir: 'memory://', rateLimitMax: 0, consistencyWaitMs: WAIT_MS } });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('a write answers with a token that a read on the same instance has already reached', async () => {
    const headers = { authorization: `Bearer ${app.demoTokens.fact_checker}`, 'content-type': 'application/json' };
    const created = await app.inject({ method: 'POST', url: '/claims', headers, payload: { text: 'An embedded claim' } });
    expect(created.statusCode).toBe(201);
    const token = String(created.headers['consistency-token']);
    expect(token).toMatch(/^[1-9]\d*$/);
    expect(app.storeFollower.position).toBeGreaterThanOrEqual(Number(token));
    const read = await app.inject({ method: 'GET', url: `/claims/${(created.json() as { id: string }).id}`, headers: { authorization: headers.authorization, 'consistency-token': token } });
    expect(read.statusCode).toBe(200);
  });
});
