/**
 * Projections rebuilt from the events equal the live ones after a randomized concurrent
 * workload (many claims, concurrent HTTP clients on a listening server, real PostgreSQL),
 * and a rebuild that swaps in while the workload runs loses nothing.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { canReadConcurrently, rebuildProjections } from '@claimtrail/claims';
import { RATING_NAMES, type Role } from '@claimtrail/domain';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { buildApp } from '../src/app.ts';

const hasPg = await requirePostgres();

type Tokens = Record<Role, string>;

interface Op {
  claim: number;
  role: Role;
  segment: string;
  body?: Record<string, unknown>;
  ifMatch?: boolean;
}

const PENDING = '<pending>';

const STEPS: { segment: string; roles: Role[]; body: (r: number) => Record<string, unknown> | undefined }[] = [
  { segment: 'triage', roles: ['editor', 'admin'], body: () => undefined },
  { segment: 'assign', roles: ['editor'], body: () => ({ assignee: 'demo-fact-checker' }) },
  { segment: 'evidence', roles: ['fact_checker', 'editor'], body: (r) => ({ summary: `evidence ${r}`, stance: (['supports', 'refutes', 'context'] as const)[r % 3], url: `https://example.org/${r}` }) },
  { segment: 'notes', roles: ['fact_checker', 'editor', 'auditor'], body: (r) => ({ body: `note ${r}` }) },
  { segment: 'verdict', roles: ['fact_checker'], body: (r) => ({ rating: RATING_NAMES[r % RATING_NAMES.length], rationale: `because ${r}` }) },
  { segment: 'submit', roles: ['fact_checker'], body: () => undefined },
  { segment: 'request-changes', roles: ['editor'], body: (r) => ({ reason: `fix ${r}` }) },
  { segment: 'publish', roles: ['editor', 'admin'], body: () => undefined },
  { segment: 'correct', roles: ['editor'], body: (r) => ({ note: `correction ${r}`, rating: RATING_NAMES[(r + 1) % RATING_NAMES.length], rationale: `new ${r}` }) },
  // The editor proposes; the admin (who never drafts here) approves. The body names the
  // correction pending when the op is sent (see workload).
  { segment: 'approve-correction', roles: ['admin'], body: () => ({ correctionId: PENDING }) },
  { segment: 'reject-correction', roles: ['admin', 'editor'], body: (r) => ({ reason: `not convinced ${r}` }) },
  { segment: 'reopen', roles: ['editor'], body: (r) => ({ reason: `reopen ${r}` }) },
  { segment: 'retract', roles: ['editor'], body: (r) => ({ reason: `retract ${r}` }) },
  { segment: 'reject', roles: ['editor'], body: (r) => ({ reason: `reject ${r}` }) },
];

const HAPPY = ['triage', 'assign', 'evidence', 'verdict', 'submit', 'publish'];
const TAIL = ['correct', 'approve-correction', 'reopen', 'retract', 'notes', 'correct', 'approve-correction', 'reject-correction'];

function stepOp(claim: number, segment: string, r: number, ifMatch: boolean): Op {
  const s = STEPS.find((x) => x.segment === segment)!;
  const body = s.body(r);
  return { claim, role: s.roles[r % s.roles.length]!, segment, ...(body ? { body } : {}), ifMatch };
}

/**
 * Per claim: the happy path with random other steps (legal or not, any role) slipped in,
 * then a random tail after publication; all claims interleaved at random. Concurrent
 * clients take ops from one queue, so a claim's steps also race each other.
 */
function workloadArbitrary(claims: number): fc.Arbitrary<Op[]> {
  const extra = fc.record({ step: fc.integer({ min: 0, max: STEPS.length - 1 }), at: fc.nat(HAPPY.length), r: fc.nat(1_000_000) });
  const perClaim = (claim: number) =>
    fc
      .record({
        extras: fc.array(extra, { maxLength: 6 }),
        tail: fc.array(fc.constantFrom(...TAIL), { maxLength: 3 }),
        stopAt: fc.integer({ min: 2, max: HAPPY.length + 2 }),
        r: fc.nat(1_000_000),
        ifMatch: fc.boolean(),
      })
      .map(({ extras, tail, stopAt, r, ifMatch }) => {
        const ops: Op[] = HAPPY.slice(0, stopAt).map((segment, i) => stepOp(claim, segment, r + i, false));
        for (const e of extras) ops.splice(Math.min(e.at, ops.length), 0, stepOp(claim, STEPS[e.step]!.segment, e.r, ifMatch));
        if (stopAt >= HAPPY.length) for (const [i, segment] of tail.entries()) ops.push(stepOp(claim, segment, r + 100 + i, ifMatch));
        return ops;
      });
  return fc
    .tuple(fc.tuple(...Array.from({ length: claims }, (_, i) => perClaim(i))), fc.array(fc.nat(), { minLength: 2000, maxLength: 2000 }))
    .map(([lists, picks]) => {
      const queues = lists.map((l) => [...l]);
      const out: Op[] = [];
      let k = 0;
      for (;;) {
        const open = queues.filter((q) => q.length > 0);
        if (open.length === 0) return out;
        out.push(open[picks[k++ % picks.length]! % open.length]!.shift()!);
      }
    });
}

describe.skipIf(!hasPg)('rebuild after a randomized concurrent workload', () => {
  let db: TestDatabase;
  let app: FastifyInstance;
  let base: string;
  let tokens: Tokens;

  beforeAll(async () => {
    db = await createTestDatabase('rebuild');
    app = await buildApp({ config: { databaseUrl: db.url, rateLimitMax: 0 }, logger: false, seed: false, demoTokens: true });
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    tokens = app.demoTokens as Tokens;
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  async function send(method: string, path: string, role: Role, body?: unknown, headers: Record<string, string> = {}) {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${tokens[role]}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, etag: response.headers.get('etag'), json: text ? JSON.parse(text) : undefined };
  }

  async function workload(ids: string[], ops: Op[], clients: number): Promise<Map<number, number>> {
    const statuses = new Map<number, number>();
    const queue = [...ops];
    const etags = new Map<string, string>();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        for (let op = queue.shift(); op; op = queue.shift()) {
          const id = ids[op.claim]!;
          const headers: Record<string, string> = {};
          const known = etags.get(id);
          if (op.ifMatch && known) headers['if-match'] = known;
          let body = op.body;
          if (body?.correctionId === PENDING) {
            const view = await send('GET', `/claims/${id}`, 'auditor');
            body = { correctionId: view.json?.pendingCorrection?.id ?? 'none' };
          }
          const r = await send('POST', `/claims/${id}/${op.segment}`, op.role, body, headers);
          if (r.etag) etags.set(id, r.etag);
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          // A refusal is a 4xx and never a 5xx.
          expect(r.status, JSON.stringify(r.json)).toBeLessThan(500);
        }
      }),
    );
    return statuses;
  }

  it('rebuild --compare finds zero differences; a swap during the workload loses nothing', async () => {
    const CLAIMS = 120;
    const ids: string[] = [];
    await Promise.all(
      Array.from({ length: CLAIMS }, async (_, i) => {
        const r = await send('POST', '/claims', 'fact_checker', {
          text: `Randomized claim ${i} about the Kursk and Belgorod border`,
          claimant: i % 2 ? 'Russian Ministry of Defence' : 'Ilya Ponomarev',
          tags: ['load', `t${i % 5}`],
          appearances: [{ url: `https://example.org/c${i}`, outlet: 'Example', title: `Claim ${i}`, publishedAt: '2024-03-12' }],
        });
        expect(r.status).toBe(201);
        ids[i] = r.json.id;
      }),
    );

    const [ops] = fc.sample(workloadArbitrary(CLAIMS), { numRuns: 1, seed: 20240312 }) as [Op[]];
    const third = Math.floor(ops.length / 3);
    const indexesBefore = (await app.database.db.selectFrom('pg_indexes' as never).select('indexname' as never).where('tablename' as never, '=', 'claims' as never).execute()) as { indexname: string }[];

    // A third of the workload, then a swap WHILE the next third runs: first on the rebuild's
    // one connection, then as the CLI runs it (the events streamed by COPY on another
    // connection, the indexes built on two more beside the comparison).
    const statuses1 = await workload(ids, ops.slice(0, third), 10);
    const seqBefore = new Map(
      ((await app.database.db.selectFrom('claims').select(['id', 'seq']).execute()) as { id: string; seq: string }[]).map((r) => [r.id, String(r.seq)]),
    );
    const [statuses2, swapped] = await Promise.all([workload(ids, ops.slice(third, 2 * third), 10), rebuildProjections(app.store, { mode: 'swap' })]);
    expect(canReadConcurrently(app.database)).toBe(true);
    const [statuses3, swappedConcurrently] = await Promise.all([
      workload(ids, ops.slice(2 * third), 10),
      rebuildProjections(app.store, { mode: 'swap', concurrentReads: true }),
    ]);
    for (const result of [swapped, swappedConcurrently]) {
      expect(result.swapped).toBe(true);
      expect(result.differences).toBe(0);
    }

    const all = new Map(statuses1);
    for (const statuses of [statuses2, statuses3]) for (const [s, n] of statuses) all.set(s, (all.get(s) ?? 0) + n);
    // The workload did real work and got real refusals.
    console.log(
      'statuses', JSON.stringify([...all]), 'ops', ops.length,
      'swaps', JSON.stringify([swapped, swappedConcurrently].map((r) => ({ events: r.events, ms: r.durationMs }))),
    );
    expect(all.get(200) ?? 0).toBeGreaterThan(100);
    expect((all.get(409) ?? 0) + (all.get(403) ?? 0)).toBeGreaterThan(10);
    // Corrections the rebuild compares: whatever the workload got, plus, for certain, one
    // approved and one still pending on a published claim.
    const publishedIds = (await send('GET', '/claims?state=published&limit=100', 'auditor')).json.items.map((c: { id: string }) => c.id);
    expect(publishedIds.length).toBeGreaterThan(0);
    const target = publishedIds[0] as string;
    // Two ratings other than the published one: a correction that keeps the rating (and the
    // rationale) is a note, applied at once, with nothing pending to approve.
    const current = (await send('GET', `/claims/${target}`, 'auditor')).json.publishedVerdict.rating as string;
    const [approvedRating, pendingRating] = RATING_NAMES.filter((name) => name !== current);
    for (const rating of [approvedRating, pendingRating]) {
      const proposed = await send('POST', `/claims/${target}/correct`, 'editor', { note: `rate it ${rating}`, rating });
      expect(proposed.status, JSON.stringify(proposed.json)).toBe(200);
      if (rating === approvedRating) {
        const approved = await send('POST', `/claims/${target}/approve-correction`, 'admin', { correctionId: proposed.json.pendingCorrection.id });
        expect(approved.status, JSON.stringify(approved.json)).toBe(200);
      }
    }
    const byType = new Map(
      (await app.database.db.selectFrom('events').select('type').select((eb) => eb.fn.countAll<string>().as('n')).groupBy('type').execute()).map(
        (row) => [row.type as string, Number(row.n)],
      ),
    );
    console.log('corrections', JSON.stringify(['CorrectionProposed', 'VerdictCorrected', 'CorrectionRejected'].map((t) => [t, byType.get(t) ?? 0])));
    expect((await send('GET', `/claims/${target}`, 'auditor')).json).toMatchObject({
      publishedVerdict: { rating: approvedRating },
      pendingCorrection: { rating: pendingRating },
    });

    for (const concurrentReads of [false, true]) {
      const compared = await rebuildProjections(app.store, { mode: 'compare', concurrentReads });
      expect(compared.diffs).toEqual([]);
      expect(compared).toMatchObject({ differences: 0, swapped: false, claims: CLAIMS });
    }

    // The swap kept the migration's index names and every row's paging key.
    const indexesAfter = (await app.database.db.selectFrom('pg_indexes' as never).select('indexname' as never).where('tablename' as never, '=', 'claims' as never).execute()) as { indexname: string }[];
    expect(indexesAfter.map((i) => i.indexname).sort()).toEqual(indexesBefore.map((i) => i.indexname).sort());
    const seqAfter = (await app.database.db.selectFrom('claims').select(['id', 'seq']).execute()) as { id: string; seq: string }[];
    for (const row of seqAfter) expect(String(row.seq)).toBe(seqBefore.get(row.id));
    // New claims still get fresh paging keys after the swap (the sequence survived).
    const fresh = await send('POST', '/claims', 'fact_checker', { text: 'A claim after the swap' });
    expect(fresh.status).toBe(201);

    const verify = await send('GET', '/audit/verify', 'auditor');
    expect(verify.json).toMatchObject({ ok: true, projections: { differences: 0 } });

    // Some claims reached publication, so the rebuilt ClaimReviews are meaningful too.
    const published = await send('GET', '/claims?state=published&limit=100', 'auditor');
    const reviews = await send('GET', '/claim-reviews?limit=100', 'auditor');
    expect(published.json.items.length).toBeGreaterThan(3);
    expect(reviews.json.items.length).toBe(published.json.items.length);
  });
});
