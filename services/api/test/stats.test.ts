import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { call, createClaim, must, startApp, type TestApp } from './helpers.ts';

/**
 * Desk analytics equal a computation over the raw events written here, independently of
 * the service (its own state table, its own percentile), live and after a rebuild.
 */
interface RawEvent {
  position: number;
  claim: string;
  type: string;
  atMs: number;
  data: Record<string, unknown>;
}

/** Where each event type leaves a claim (null: where it was). */
const MOVES_TO: Record<string, string | null> = {
  ClaimSubmitted: 'submitted',
  ClaimTriaged: 'triaged',
  ClaimRejected: 'rejected',
  ClaimMerged: 'merged',
  ChangesRequested: 'in_research',
  ClaimSubmittedForReview: 'in_review',
  VerdictPublished: 'published',
  ClaimReopened: 'in_research',
  ClaimRetracted: 'retracted',
};

function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const at = p * (sorted.length - 1);
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

function mondayOf(ms: number): string {
  const d = new Date(ms);
  const day = (d.getUTCDay() + 6) % 7;
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - day)).toISOString().slice(0, 10);
}

function expectedStats(events: RawEvent[], fromMs: number, toMs: number) {
  const inPeriod = (ms: number) => ms >= fromMs && ms < toMs;
  const status = new Map<string, { state: string; since: number }>();
  const assignee = new Map<string, string | null>();
  const stays = new Map<string, number[]>();
  const submitted = new Map<string, number>();
  const firstPublished = new Map<string, number>();
  const assigned = new Map<string, number>();
  const drafted = new Map<string, number>();
  const counts: Record<string, number> = {};
  const weeks = new Map<string, number>();
  const atEnd = new Map<string, { state: string; assignee: string | null }>();
  for (const e of events) {
    const now = status.get(e.claim);
    const next = e.type === 'ClaimAssigned' ? (e.data.to as string) : MOVES_TO[e.type] ?? null;
    if (next !== null && next !== now?.state) {
      if (now && inPeriod(e.atMs)) stays.set(now.state, [...(stays.get(now.state) ?? []), e.atMs - now.since]);
      status.set(e.claim, { state: next, since: e.atMs });
    }
    if (e.type === 'ClaimAssigned') assignee.set(e.claim, e.data.assignee as string);
    if (e.type === 'ClaimSubmitted') submitted.set(e.claim, e.atMs);
    if (e.type === 'VerdictPublished' && !firstPublished.has(e.claim)) firstPublished.set(e.claim, e.atMs);
    if (inPeriod(e.atMs)) {
      counts[e.type] = (counts[e.type] ?? 0) + 1;
      if (e.type === 'ClaimAssigned') assigned.set(e.data.assignee as string, (assigned.get(e.data.assignee as string) ?? 0) + 1);
      if (e.type === 'VerdictPublished') {
        drafted.set(e.data.draftedBy as string, (drafted.get(e.data.draftedBy as string) ?? 0) + 1);
        weeks.set(mondayOf(e.atMs), (weeks.get(mondayOf(e.atMs)) ?? 0) + 1);
      }
    }
    if (e.atMs < toMs) atEnd.set(e.claim, { state: status.get(e.claim)!.state, assignee: assignee.get(e.claim) ?? null });
  }
  const cycles = [...firstPublished].filter(([, ms]) => inPeriod(ms)).map(([claim, ms]) => ms - submitted.get(claim)!);
  const open = new Map<string, number>();
  for (const { state, assignee: who } of atEnd.values()) {
    if (who && (state === 'in_research' || state === 'in_review')) open.set(who, (open.get(who) ?? 0) + 1);
  }
  const users = [...new Set([...assigned.keys(), ...drafted.keys(), ...open.keys()])].sort();
  const published = counts.VerdictPublished ?? 0;
  const rate = (n: number) => (published === 0 ? null : n / published);
  return {
    timeInState: [...stays.keys()].sort().map((state) => {
      const v = stays.get(state)!;
      return { state, count: v.length, meanMs: v.reduce((a, b) => a + b, 0) / v.length, p50Ms: percentile(v, 0.5), p90Ms: percentile(v, 0.9) };
    }),
    cycleTime: { count: cycles.length, p50Ms: percentile(cycles, 0.5), p90Ms: percentile(cycles, 0.9) },
    throughput: [...weeks].sort().map(([weekStart, n]) => ({ weekStart, published: n })),
    rates: {
      published,
      reopened: counts.ClaimReopened ?? 0,
      corrected: counts.VerdictCorrected ?? 0,
      retracted: counts.ClaimRetracted ?? 0,
      reopenRate: rate(counts.ClaimReopened ?? 0),
      correctionRate: rate(counts.VerdictCorrected ?? 0),
      retractionRate: rate(counts.ClaimRetracted ?? 0),
    },
    load: users.map((user) => ({ user, assigned: assigned.get(user) ?? 0, published: drafted.get(user) ?? 0, openAtEnd: open.get(user) ?? 0 })),
  };
}

/** Numbers compared to a thousandth of a millisecond (timestamps are microseconds); everything else exactly. */
function expectSame(actual: unknown, expected: unknown, path = '$'): void {
  if (typeof expected === 'number' && typeof actual === 'number') {
    expect(actual, path).toBeCloseTo(expected, 3);
    return;
  }
  if (expected !== null && typeof expected === 'object') {
    expect(actual !== null && typeof actual === 'object', path).toBe(true);
    const keys = Object.keys(expected as object);
    expect(Object.keys(actual as object).sort(), path).toEqual(keys.sort());
    for (const k of keys) expectSame((actual as Record<string, unknown>)[k], (expected as Record<string, unknown>)[k], `${path}.${k}`);
    return;
  }
  expect(actual, path).toEqual(expected);
}

describe('GET /stats', () => {
  let t: TestApp;
  let events: RawEvent[];

  beforeAll(async () => {
    t = await startApp();
    const fc = t.as.fact_checker;
    const ed = t.as.editor;
    const second = await t.newUser('fact_checker');
    const publishOne = async (by: { authorization: string }, who: string) => {
      const { id } = await createClaim(t, by);
      await must(t, id, 'triage', ed);
      await must(t, id, 'assign', ed, { assignee: who });
      await must(t, id, 'evidence', by, { summary: 'Report A contradicts it', stance: 'refutes' });
      await must(t, id, 'verdict', by, { rating: 'false', rationale: 'Contradicted by two reports' });
      await must(t, id, 'submit', by);
      return id;
    };
    const a = await publishOne(fc, 'demo-fact-checker');
    await must(t, a, 'request-changes', ed, { reason: 'Cite the second report' });
    await must(t, a, 'submit', fc);
    await must(t, a, 'publish', ed);
    await must(t, a, 'reopen', ed, { reason: 'New footage' });
    await must(t, a, 'submit', fc);
    await must(t, a, 'publish', ed);
    await must(t, a, 'correct', ed, { note: 'Source name fixed' });
    const b = await publishOne(second.headers, second.id);
    await must(t, b, 'publish', ed);
    await must(t, b, 'retract', ed, { reason: 'Older footage' });
    const c = await publishOne(fc, 'demo-fact-checker');
    await must(t, c, 'assign', ed, { assignee: second.id });
    await publishOne(second.headers, second.id); // left in review
    await must(t, (await createClaim(t)).id, 'reject', ed, { reason: 'Not checkable' });
    await t.app.desk.catchUp();
    const { rows } = await sql<{ position: string; stream_id: string; type: string; at_ms: number; data: unknown }>`
      select position::text as position, stream_id, type, extract(epoch from recorded_at)::float8 * 1000 as at_ms, data
        from events where position is not null order by events.position`.execute(t.app.store.db);
    events = rows.map((r) => ({
      position: Number(r.position),
      claim: r.stream_id,
      type: r.type,
      atMs: Number(r.at_ms),
      data: (typeof r.data === 'string' ? JSON.parse(r.data) : r.data) as Record<string, unknown>,
    }));
  }, 120_000);
  afterAll(async () => t?.close());

  async function stats(query: string, headers = t.as.editor) {
    return call(t.app, { method: 'GET', url: `/stats${query}`, headers });
  }

  function periods(): [number, number][] {
    const first = events[0]!.atMs;
    const last = events.at(-1)!.atMs;
    // The whole log, and a period ending in the middle of it (at an event: that event is outside).
    const middle = events[Math.floor(events.length / 2)]!.atMs;
    return [
      [first - 86_400_000, last + 86_400_000],
      [first - 86_400_000, middle],
      [middle, last + 1],
    ];
  }

  it('equals a direct computation over the events, live and after a rebuild', async () => {
    for (const phase of ['live', 'rebuilt']) {
      if (phase === 'rebuilt') await t.app.desk.follower.rebuild();
      for (const [fromMs, toMs] of periods()) {
        const from = new Date(Math.floor(fromMs)).toISOString();
        const to = new Date(Math.ceil(toMs)).toISOString();
        const response = await stats(`?from=${from}&to=${to}`);
        expect(response.statusCode, response.body).toBe(200);
        const { from: f, to: tt, ...figures } = response.json;
        expect([f, tt]).toEqual([from, to]);
        expectSame(figures, expectedStats(events, Date.parse(from), Date.parse(to)), phase);
      }
    }
    // The whole period has every kind of figure.
    const [fromMs, toMs] = periods()[0]!;
    const all = (await stats(`?from=${new Date(fromMs).toISOString()}&to=${new Date(toMs).toISOString()}`)).json;
    expect(all.rates).toMatchObject({ published: 3, reopened: 1, corrected: 1, retracted: 1 });
    expect(all.cycleTime.count).toBe(2);
    expect(all.load.length).toBeGreaterThanOrEqual(2);
  });

  it('is for editors, admins and auditors; refuses bad periods with problem+json', async () => {
    expect((await call(t.app, { method: 'GET', url: '/stats' })).statusCode).toBe(401);
    const fc = await stats('', t.as.fact_checker);
    expect(fc.statusCode).toBe(403);
    expect(fc.json.code).toBe('forbidden_role');
    for (const role of ['editor', 'admin', 'auditor'] as const) expect((await stats('', t.as[role])).statusCode).toBe(200);
    for (const q of [
      '?from=yesterday',
      '?from=2024-02-30T00:00:00Z',
      '?to=2024-01-01T00:00:00Z&from=2024-01-02T00:00:00Z',
      '?from=2024-01-01T00:00:00Z&to=2024-01-01T00:00:00Z',
      '?from=1000-01-01T00:00:00Z&to=2024-01-01T00:00:00Z',
      '?from=0001-01-01T00:00:00Z',
      `?from=${'9'.repeat(70)}`,
      '?x=1',
    ]) {
      const bad = await stats(q);
      expect(bad.statusCode, q).toBe(400);
      expect(bad.headers['content-type'], q).toMatch(/application\/problem\+json/);
    }
  });
});
