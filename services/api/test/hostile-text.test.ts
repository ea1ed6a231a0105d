/**
 * Text that looks like an escape sequence is text: the six characters `\u0000` (a regex, a
 * code sample) are stored and read back exactly in every text field, through every path
 * (JSON body → event log → projection → search/filter → websocket). Only a real NUL
 * character, which PostgreSQL cannot store, is refused with a 400 naming the field.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { requirePostgres } from '@claimtrail/testing';
import { mapError } from '../src/errors.ts';
import { call, claimIn, createClaim, must, startApp, step, type TestApp } from './helpers.ts';
import { Watcher } from './live-support.ts';

const pg = await requirePostgres();

/** Escape-looking texts, each distinct; none contains a control character. */
const ESCAPES = ['regex \\u0000 end', 'a\\\\u0000b', '\\x00 and \\0', 'json "\\ud800" lone', 'percent %00 %u0000', 'line\\nbreak \\t'];
const esc = (i: number) => ESCAPES[i % ESCAPES.length]!;

describe.skipIf(!pg)('text with escape sequences is stored and read back exactly (PostgreSQL)', () => {
  let t: TestApp;
  let url: string;
  beforeAll(async () => {
    t = await startApp();
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('in every text field of a claim, its steps and its events', async () => {
    const ed = t.as.editor;
    const fc = t.as.fact_checker;
    const created = await createClaim(t, fc, {
      text: `Claim ${esc(0)}`,
      claimant: esc(1),
      tags: [esc(0), esc(2)],
      appearances: [{ url: 'https://example.org/re\\u0000x', outlet: esc(1), title: esc(2), excerpt: esc(3), publishedAt: '2024-03-12' }],
    });
    const id = created.id;
    await must(t, id, 'triage', ed);
    await must(t, id, 'assign', ed, { assignee: 'demo-fact-checker' });
    await must(t, id, 'evidence', fc, { summary: esc(4), stance: 'refutes', url: 'https://example.org/e?q=\\u0000' });
    await must(t, id, 'notes', fc, { body: esc(5) });
    await must(t, id, 'verdict', fc, { rating: 'false', rationale: esc(0) });
    await must(t, id, 'submit', fc);
    await must(t, id, 'request-changes', ed, { reason: esc(1) });
    await must(t, id, 'verdict', fc, { rating: 'false', rationale: esc(2) });
    await must(t, id, 'submit', fc);
    await must(t, id, 'publish', ed);
    await must(t, id, 'correct', ed, { note: esc(3) });
    await must(t, id, 'reopen', ed, { reason: esc(4) });
    const rejected = await claimIn(t, 'submitted');
    await must(t, rejected, 'reject', ed, { reason: esc(5) });
    const retracted = await claimIn(t, 'published');
    await must(t, retracted, 'retract', ed, { reason: esc(0) });

    const view = (await call(t.app, { method: 'GET', url: `/claims/${id}`, headers: t.as.auditor })).json;
    expect(view.text).toBe(`Claim ${esc(0)}`);
    expect(view.claimant).toBe(esc(1));
    expect(view.tags).toEqual([esc(0), esc(2)]);
    expect(view.appearances[0]).toMatchObject({ url: 'https://example.org/re\\u0000x', outlet: esc(1), title: esc(2), excerpt: esc(3) });
    expect(view.evidence[0]).toMatchObject({ summary: esc(4), url: 'https://example.org/e?q=\\u0000' });
    expect(view.notes[0].body).toBe(esc(5));
    expect(view.publishedVerdict.rationale).toBe(esc(2));
    expect(view.publishedVerdict.corrections[0].note).toBe(esc(3));
    expect(view.reopened.reason).toBe(esc(4));
    expect((await call(t.app, { method: 'GET', url: `/claims/${rejected}`, headers: t.as.auditor })).json.rejection.reason).toBe(esc(5));
    expect((await call(t.app, { method: 'GET', url: `/claims/${retracted}`, headers: t.as.auditor })).json.retraction.reason).toBe(esc(0));

    // The log holds them as sent (JSON text with an escaped backslash, not a NUL escape).
    const events = (await call(t.app, { method: 'GET', url: `/claims/${id}/events`, headers: t.as.auditor })).json.events;
    expect(events[0].data).toMatchObject({ text: `Claim ${esc(0)}`, claimant: esc(1) });
    expect(events.map((e: { data: { reason?: string } }) => e.data.reason)).toContain(esc(1));

    // Found by the tag filter and by search on the same text.
    for (const [key, value] of [['tag', esc(2)], ['q', 'regex'], ['q', esc(0)]] as const) {
      const list = await call(t.app, { method: 'GET', url: `/claims?${key}=${encodeURIComponent(value)}`, headers: t.as.auditor });
      expect(list.statusCode, list.body).toBe(200);
      expect(list.json.items.map((c: { id: string }) => c.id), `${key}=${value}`).toContain(id);
    }

    // A live subscriber receives the text exactly too.
    const watcher = await Watcher.connect(`${url.replace('http', 'ws')}/ws`, t.app.demoTokens.auditor!);
    try {
      watcher.send({ type: 'subscribe', channel: 'claim', claimId: id });
      await watcher.until(() => watcher.messages.some((m) => m.type === 'snapshot'), 30_000, 'snapshot');
      await must(t, id, 'notes', fc, { body: esc(0) });
      await watcher.until(() => watcher.events('claim', id).length > 0, 30_000, 'live note');
      expect(JSON.stringify(watcher.events('claim', id)[0])).toContain(JSON.stringify(esc(0)).slice(1, -1));
    } finally {
      watcher.close();
    }
  });

  it('a real NUL character is refused in every text field with a 400 naming it, and nothing is appended', async () => {
    const id = await claimIn(t, 'in_research');
    const nul = 'a\u0000b';
    const cases: { url: string; body: Record<string, unknown>; field: string }[] = [
      { url: '/claims', body: { text: nul }, field: 'text' },
      { url: '/claims', body: { text: 'ok', claimant: nul }, field: 'claimant' },
      { url: '/claims', body: { text: 'ok', tags: ['fine', nul] }, field: 'tags[1]' },
      { url: '/claims', body: { text: 'ok', appearances: [{ excerpt: nul }] }, field: 'appearances[0].excerpt' },
      { url: `/claims/${id}/evidence`, body: { summary: nul, stance: 'supports' }, field: 'summary' },
      { url: `/claims/${id}/notes`, body: { body: nul }, field: 'body' },
      { url: `/claims/${id}/verdict`, body: { rating: 'false', rationale: nul }, field: 'rationale' },
      { url: `/claims/${id}/request-changes`, body: { reason: nul }, field: 'reason' },
    ];
    for (const c of cases) {
      const before = await t.eventCount();
      const response = await call(t.app, { method: 'POST', url: c.url, headers: { ...t.as.editor, 'content-type': 'application/json' }, payload: JSON.stringify(c.body) });
      expect(response.statusCode, `${c.url} ${c.field}`).toBe(400);
      expect(response.headers['content-type']).toContain('application/problem+json');
      expect(response.json).toMatchObject({ code: 'validation', field: c.field });
      expect(await t.eventCount()).toBe(before);
    }
    for (const query of ['q=a%00b', 'tag=a%00b']) {
      const response = await call(t.app, { method: 'GET', url: `/claims?${query}`, headers: t.as.auditor });
      expect(response.statusCode, query).toBe(400);
      expect(response.json.code).toBe('validation');
    }
  });

  it('websocket messages with escapes, NULs and lone surrogates get an error message, not a crash', async () => {
    const watcher = await Watcher.connect(`${url.replace('http', 'ws')}/ws`, t.app.demoTokens.auditor!);
    try {
      const messages = [
        '{"type":"subscribe","channel":"\\u0000"}',
        '{"type":"subscribe","channel":"claim","claimId":"\\\\u0000"}',
        '{"type":"sub\\ud800scribe"}',
        '{"type":"subscribe","channel":"board\\u0000"}',
        '{"type":"unsubscribe","channel":"feed","x":"\\u202e"}',
      ];
      for (const message of messages) watcher.send(message);
      await watcher.until(() => watcher.messages.filter((m) => m.type === 'error').length === messages.length, 30_000, 'errors');
      watcher.send({ type: 'subscribe', channel: 'feed' });
      await watcher.until(() => watcher.messages.some((m) => m.type === 'snapshot'), 30_000, 'the socket still works');
    } finally {
      watcher.close();
    }
  });
});

describe.skipIf(!pg)('database refusals of a value are 4xx problems; faults of the server stay 5xx', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  /** The error PostgreSQL raises for `query` (a real one, not a stand-in). */
  async function refusal(query: ReturnType<typeof sql>): Promise<unknown> {
    try {
      await query.execute(t.app.database.db);
    } catch (error) {
      return error;
    }
    throw new Error('the query did not fail');
  }

  it('class 22 data exceptions and the tsvector size limit map to 400 validation', async () => {
    const distinctWords = Array.from({ length: 120_000 }, (_, i) => `w${i.toString(36)}x${(i * 7919).toString(36)}`).join(' ');
    const errors = {
      '22P05': await refusal(sql`select '"\\u0000"'::jsonb`),
      '22P02': await refusal(sql`select 'not-a-uuid'::uuid`),
      '22007': await refusal(sql`select 'yesterday-ish'::timestamptz`),
      '22008': await refusal(sql`select '2024-02-30'::date`),
      '22003': await refusal(sql`select 99999999999::int`),
      '54000': await refusal(sql`select to_tsvector('simple', ${distinctWords})`),
    };
    for (const [state, error] of Object.entries(errors)) {
      expect((error as { code?: string }).code, state).toBe(state);
      const mapped = mapError(error);
      expect(mapped, state).toMatchObject({ status: 400, code: 'validation' });
      expect(mapped.detail).not.toMatch(/internal/);
    }
  });

  it('connection loss stays 503 and an unknown database error stays 500', async () => {
    expect(mapError(await refusal(sql`select * from no_such_table`))).toMatchObject({ status: 500, code: 'internal' });
    // A sequence at its maximum (2200H) is the server's problem, not the request's.
    await sql`create sequence seq_at_max_for_test minvalue 1 maxvalue 2`.execute(t.app.database.db);
    await sql`select nextval('seq_at_max_for_test'), nextval('seq_at_max_for_test')`.execute(t.app.database.db);
    const exhausted = await refusal(sql`select nextval('seq_at_max_for_test')`);
    expect((exhausted as { code?: string }).code).toBe('2200H');
    expect(mapError(exhausted)).toMatchObject({ status: 500, code: 'internal' });
    expect(mapError(await refusal(sql`select pg_terminate_backend(pg_backend_pid())`))).toMatchObject({ status: 503 });
  });
});
