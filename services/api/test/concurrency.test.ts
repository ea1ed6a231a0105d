import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { createClaim, startApp, type TestApp } from './helpers.ts';

const pg = await requirePostgres();

describe.skipIf(!pg)('concurrency over real HTTP', () => {
  let t: TestApp;
  let base: string;
  beforeAll(async () => {
    t = await startApp({ config: { poolSize: 10 } });
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await t?.close();
  });

  async function post(path: string, headers: Record<string, string>, body: unknown) {
    const response = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, etag: response.headers.get('etag'), json: (await response.json()) as any };
  }

  it('20 clients racing on one claim without If-Match: every step lands, versions dense', async () => {
    const { id } = await createClaim(t);
    const clients = 20;
    const perClient = 3;
    const results = await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        const out = [];
        for (let i = 0; i < perClient; i++) {
          out.push(await post(`/claims/${id}/notes`, t.as.fact_checker, { body: `client ${c} note ${i}` }));
        }
        return out;
      }),
    );
    const flat = results.flat();
    expect(flat.map((r) => r.status)).toEqual(flat.map(() => 200));
    const versions = flat.map((r) => r.json.version).sort((a, b) => a - b);
    expect(versions).toEqual(Array.from({ length: clients * perClient }, (_, i) => i + 2));
    for (const r of flat) expect(r.etag).toBe(`"${r.json.version}"`);

    const events = await fetch(`${base}/claims/${id}/events`, { headers: t.as.auditor }).then((r) => r.json() as Promise<any>);
    expect(events.events.map((e: { version: number }) => e.version)).toEqual(
      Array.from({ length: clients * perClient + 1 }, (_, i) => i + 1),
    );
    const bodies = events.events.filter((e: { type: string }) => e.type === 'NoteAdded').map((e: any) => e.data.body).sort();
    const expected = Array.from({ length: clients }, (_, c) => Array.from({ length: perClient }, (_, i) => `client ${c} note ${i}`)).flat().sort();
    expect(bodies).toEqual(expected);
    const view = await fetch(`${base}/claims/${id}`, { headers: t.as.auditor }).then((r) => r.json() as Promise<any>);
    expect(view.notesCount).toBe(clients * perClient);
  });

  it('20 clients racing with the same If-Match: exactly one wins, the rest get 412 with the current version', async () => {
    const { id } = await createClaim(t);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, c) =>
        post(`/claims/${id}/notes`, { ...t.as.fact_checker, 'if-match': '"1"' }, { body: `racer ${c}` }),
      ),
    );
    const wins = results.filter((r) => r.status === 200);
    const losses = results.filter((r) => r.status === 412);
    expect(wins).toHaveLength(1);
    expect(losses).toHaveLength(19);
    for (const l of losses) expect(l.json).toMatchObject({ code: 'precondition_failed', currentVersion: 2 });
  });

  it('20 clients racing with one Idempotency-Key: one append, twenty identical answers', async () => {
    const { id } = await createClaim(t);
    const before = await t.eventCount();
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        post(`/claims/${id}/notes`, { ...t.as.fact_checker, 'idempotency-key': `race-${id}` }, { body: 'exactly once' }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(results.map(() => 200));
    expect(new Set(results.map((r) => JSON.stringify(r.json))).size).toBe(1);
    expect(await t.eventCount()).toBe(before + 1);
  });

  it('many clients creating and stepping different claims at once: no errors, projections consistent', async () => {
    const ids = await Promise.all(
      Array.from({ length: 20 }, async (_, c) => {
        const created = await post('/claims', t.as.fact_checker, { text: `parallel claim ${c}` });
        expect(created.status).toBe(201);
        const triaged = await post(`/claims/${created.json.id}/triage`, t.as.editor, {});
        expect(triaged.status).toBe(200);
        return created.json.id as string;
      }),
    );
    const board = await fetch(`${base}/board?limit=200`, { headers: t.as.editor }).then((r) => r.json() as Promise<any>);
    const triaged = board.states.find((s: { state: string }) => s.state === 'triaged');
    expect(triaged.claims.map((c: { id: string }) => c.id)).toEqual(expect.arrayContaining(ids));
  });
});
