import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app.ts';
import { parseDeadlines } from '../src/desk/deadlines-config.ts';
import { call, createClaim, must, startApp, type TestApp } from './helpers.ts';

/**
 * Deadlines with a controllable clock: three instances on one database, each with the
 * clock set by the test (never the real thresholds, never sleeping). The clock is put at a
 * claim's due instant (read back from the list's `deadline.dueAt`), so which claims are
 * overdue is decided by the events' own timestamps.
 */
const HOUR = 3_600_000;
const DEADLINES = { submitted: 1 * HOUR, triaged: 1 * HOUR, in_research: 24 * HOUR, in_review: 1 * HOUR };

describe('deadlines', () => {
  let t: TestApp;
  const instances: FastifyInstance[] = [];
  let now = new Date();

  async function instance(): Promise<FastifyInstance> {
    const app = await buildApp({
      config: { databaseUrl: t.app.config.databaseUrl!, rateLimitMax: 0, deskDeadlines: DEADLINES, deskDeadlineCheckMs: 0 },
      logger: false,
      seed: false,
      demoTokens: false,
    });
    app.desk.setClock(() => now);
    await app.ready();
    return app;
  }

  async function escalations(claimId: string): Promise<number> {
    const { rows } = await sql<{ n: string }>`select count(*)::text as n from events where stream_id = ${`claim-${claimId}`} and type = 'ClaimEscalated'`.execute(
      t.app.store.db,
    );
    return Number(rows[0]!.n);
  }

  /** The claim's deadline as the list gives it; the board's card must give the same. */
  async function deadlineOf(id: string) {
    type Deadline = { dueAt: string | null; overdue: boolean; escalated: boolean };
    const list = await call(t.app, { method: 'GET', url: '/claims?limit=100', headers: t.as.editor });
    const fromList = (list.json.items as { id: string; deadline: Deadline }[]).find((c) => c.id === id)!.deadline;
    const board = await call(t.app, { method: 'GET', url: '/board?limit=200', headers: t.as.editor });
    const card = (board.json.states as { claims: { id: string; deadline?: Deadline }[] }[]).flatMap((s) => s.claims).find((c) => c.id === id);
    expect(card?.deadline, 'the board card carries the deadline the list item does').toEqual(fromList);
    return fromList;
  }

  async function checkEverywhere(): Promise<string[]> {
    const results = await Promise.all(instances.map((app) => app.desk.checkDeadlines()));
    return results.flat();
  }

  beforeAll(async () => {
    t = await startApp({ config: { deskDeadlines: DEADLINES, deskDeadlineCheckMs: 0 } });
    t.app.desk.setClock(() => now);
    instances.push(t.app, await instance(), await instance());
  }, 120_000);

  afterAll(async () => {
    for (const app of instances.slice(1)) await app.close();
    await t?.close();
  });

  it('escalates each overdue claim once with three instances checking at the same time, and notifies the editors', async () => {
    const late = (await createClaim(t)).id;
    const fresh = (await createClaim(t)).id;
    await t.app.desk.catchUp();
    const due = await deadlineOf(late);
    expect(due.overdue).toBe(false);
    // The clock at the late claim's due instant; the fresh one, submitted after it, is not due yet.
    now = new Date(Date.parse(due.dueAt!) + 1);
    expect(await deadlineOf(late)).toMatchObject({ overdue: true, escalated: false });
    expect((await deadlineOf(fresh)).overdue).toBe(false);
    const overdue = await call(t.app, { method: 'GET', url: '/claims?overdue=true', headers: t.as.auditor });
    expect(overdue.json.items.map((c: { id: string }) => c.id)).toEqual([late]);
    const notOverdue = await call(t.app, { method: 'GET', url: '/claims?overdue=false', headers: t.as.auditor });
    expect(notOverdue.json.items.map((c: { id: string }) => c.id)).toContain(fresh);
    expect(notOverdue.json.items.map((c: { id: string }) => c.id)).not.toContain(late);

    expect(await checkEverywhere()).toEqual([late]);
    expect(await escalations(late)).toBe(1);
    expect(await escalations(fresh)).toBe(0);
    // Checking again, anywhere, changes nothing.
    expect(await checkEverywhere()).toEqual([]);
    expect(await escalations(late)).toBe(1);
    await t.app.desk.catchUp();
    expect(await deadlineOf(late)).toMatchObject({ overdue: true, escalated: true });
    const editorInbox = await call(t.app, { method: 'GET', url: '/me/notifications', headers: t.as.editor });
    expect(editorInbox.json.items.filter((n: { kind: string; claimId: string }) => n.kind === 'claim_escalated' && n.claimId === late)).toHaveLength(1);
    const view = await call(t.app, { method: 'GET', url: `/claims/${late}/events`, headers: t.as.auditor });
    const escalation = (view.json.events as { type: string; actor: string; data: { state: string } }[]).find((e) => e.type === 'ClaimEscalated')!;
    expect(escalation).toMatchObject({ actor: 'system-deadlines', data: { state: 'submitted' } });
  });

  it('does not escalate a claim reassigned after it became overdue, and a reassignment clears an escalation', async () => {
    const ed = t.as.editor;
    const other = await t.newUser('fact_checker');
    const reassigned = (await createClaim(t)).id;
    const escalatedThenReassigned = (await createClaim(t)).id;
    for (const id of [reassigned, escalatedThenReassigned]) {
      await must(t, id, 'triage', ed);
      await must(t, id, 'assign', ed, { assignee: 'demo-fact-checker' });
    }
    await t.app.desk.catchUp();
    now = new Date(Date.parse((await deadlineOf(escalatedThenReassigned)).dueAt!) + 1);
    expect((await deadlineOf(reassigned)).overdue).toBe(true);
    await must(t, reassigned, 'assign', ed, { assignee: other.id });
    await t.app.desk.catchUp();
    expect(await deadlineOf(reassigned)).toMatchObject({ overdue: false, escalated: false });
    // (The first test's fresh claim is overdue by now too: 24 h after it was submitted.)
    const escalated = await checkEverywhere();
    expect(escalated).toContain(escalatedThenReassigned);
    expect(escalated).not.toContain(reassigned);
    expect(new Set(escalated).size).toBe(escalated.length);
    expect(await escalations(reassigned)).toBe(0);
    await t.app.desk.catchUp();
    expect(await deadlineOf(escalatedThenReassigned)).toMatchObject({ overdue: true, escalated: true });
    await must(t, escalatedThenReassigned, 'assign', ed, { assignee: other.id });
    await t.app.desk.catchUp();
    expect(await deadlineOf(escalatedThenReassigned)).toMatchObject({ overdue: false, escalated: false });
    expect(await checkEverywhere()).toEqual([]);
    expect(await escalations(escalatedThenReassigned)).toBe(1);
  });

  it('escalates nothing twice after a restart, nor after the desk projections are rebuilt', async () => {
    const before = await sql<{ n: string }>`select count(*)::text as n from events where type = 'ClaimEscalated'`.execute(t.app.store.db);
    const restarted = instances.pop()!;
    await restarted.close();
    instances.push(await instance());
    expect(await checkEverywhere()).toEqual([]);
    await t.app.desk.follower.rebuild();
    expect(await checkEverywhere()).toEqual([]);
    const after = await sql<{ n: string }>`select count(*)::text as n from events where type = 'ClaimEscalated'`.execute(t.app.store.db);
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n);
  });

  it('refuses a bad overdue filter and has no HTTP route for the escalate step', async () => {
    const bad = await call(t.app, { method: 'GET', url: '/claims?overdue=maybe', headers: t.as.editor });
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toMatch(/application\/problem\+json/);
    const { id } = await createClaim(t);
    const step = await call(t.app, { method: 'POST', url: `/claims/${id}/escalate`, headers: t.as.admin, payload: {} });
    expect(step.statusCode).toBe(404);
  });
});

describe('DESK_DEADLINES', () => {
  it('parses durations, keeps defaults, turns states off and names bad entries', () => {
    const parsed = parseDeadlines('submitted=30m, in_review=2d,triaged=off');
    expect(parsed).toEqual({ thresholds: { submitted: 30 * 60_000, in_research: 7 * 24 * HOUR, in_review: 2 * 24 * HOUR } });
    for (const bad of ['published=1h', 'submitted=1', 'submitted=0h', 'submitted', 'x=1h', 'submitted=1w']) {
      expect('problem' in parseDeadlines(bad), bad).toBe(true);
    }
  });
});
