/**
 * `GET /claims/:id/allowed-steps`: per caller, from the policy table; what it lists goes
 * through, what it leaves out is refused; the shared claim view (and its ETag) is not
 * touched by it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { call, claimIn, startApp, step, type TestApp } from './helpers.ts';

const pg = await requirePostgres();

describe.skipIf(!pg)('allowed steps', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  const allowed = (id: string, headers: Record<string, string>) => call(t.app, { url: `/claims/${id}/allowed-steps`, headers });

  it('answers per role, never cached, with the version it was computed for', async () => {
    const id = await claimIn(t, 'submitted');
    const editor = await allowed(id, t.as.editor);
    expect(editor.statusCode).toBe(200);
    expect(editor.json).toEqual({ claimId: id, version: 1, role: 'editor', allowedSteps: ['triage', 'reject', 'merge', 'add_evidence', 'add_note'] });
    expect(editor.headers['cache-control']).toBe('private, no-store');
    expect(editor.headers.etag).toBe('"1"');
    expect((await allowed(id, t.as.fact_checker)).json.allowedSteps).toEqual(['add_evidence', 'add_note']);
    expect((await allowed(id, t.as.auditor)).json).toMatchObject({ role: 'auditor', allowedSteps: [] });
    // The shared view is the same text for every caller: nothing per caller leaked into it.
    const views = await Promise.all([t.as.editor, t.as.auditor].map((headers) => call(t.app, { url: `/claims/${id}`, headers })));
    expect(views[0]!.body).toBe(views[1]!.body);
    expect(views[0]!.json.allowedSteps).toBeUndefined();
  });

  it('four eyes: the drafter of a verdict is not offered publish, another editor is', async () => {
    const id = await claimIn(t, 'drafted');
    const admin = await t.newUser('admin');
    expect((await step(t, id, 'verdict', admin.headers, { rating: 'mixed', rationale: 'two readings' })).statusCode).toBe(200);
    expect((await step(t, id, 'submit', t.as.fact_checker)).statusCode).toBe(200);
    expect((await allowed(id, admin.headers)).json.allowedSteps).not.toContain('publish');
    // The deadline watcher's step has no route: never offered to a person, admin included.
    expect((await allowed(id, admin.headers)).json.allowedSteps).not.toContain('escalate');
    expect((await step(t, id, 'publish', admin.headers)).json.code).toBe('four_eyes');
    expect((await allowed(id, t.as.editor)).json.allowedSteps).toContain('publish');
    expect((await step(t, id, 'publish', t.as.editor)).statusCode).toBe(200);
    const after = await allowed(id, t.as.editor);
    expect(after.json.version).toBe(8);
    expect(after.json.allowedSteps).toEqual(['add_note', 'reopen', 'correct', 'retract']);
  });

  it('401 without a token, 404 for an unknown or malformed id', async () => {
    const id = await claimIn(t, 'submitted');
    const anonymous = await call(t.app, { url: `/claims/${id}/allowed-steps` });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers['content-type']).toMatch(/^application\/problem\+json/);
    for (const bad of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid', '%3Cscript%3E']) {
      const r = await allowed(bad, t.as.editor);
      expect(r.statusCode, bad).toBe(404);
      expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
  });
});
