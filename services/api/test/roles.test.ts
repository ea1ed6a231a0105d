import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { STEP_ROUTES } from '@claimtrail/contract';
import { ROLES, STEP_POLICY, type ClaimStep, type Role } from '@claimtrail/domain';
import { call, claimIn, createClaim, startApp, step, type Reachable, type TestApp } from './helpers.ts';

const pg = await requirePostgres();

async function pendingCorrectionId(t: TestApp, id: string): Promise<Record<string, unknown>> {
  const view = await call(t.app, { method: 'GET', url: `/claims/${id}`, headers: t.as.auditor });
  return { correctionId: view.json.pendingCorrection.id };
}

/** For each route: a claim state where the step is allowed, and a valid body. */
const SETUP: Record<string, { from: Reachable; body?: (t: TestApp, id: string) => Promise<Record<string, unknown>> }> = {
  triage: { from: 'submitted' },
  reject: { from: 'submitted', body: async () => ({ reason: 'not check-worthy' }) },
  merge: { from: 'submitted', body: async (t) => ({ into: (await createClaim(t)).id }) },
  assign: { from: 'triaged', body: async () => ({ assignee: 'demo-fact-checker' }) },
  evidence: { from: 'in_research', body: async () => ({ summary: 'A report', stance: 'supports' }) },
  notes: { from: 'in_research', body: async () => ({ body: 'a note' }) },
  verdict: { from: 'researched', body: async () => ({ rating: 'mixed', rationale: 'both ways' }) },
  submit: { from: 'drafted' },
  'request-changes': { from: 'in_review', body: async () => ({ reason: 'more sources' }) },
  publish: { from: 'in_review' },
  reopen: { from: 'published', body: async () => ({ reason: 'new facts' }) },
  correct: { from: 'published', body: async () => ({ note: 'typo', rating: 'false' }) },
  'approve-correction': { from: 'correction_pending', body: pendingCorrectionId },
  'reject-correction': { from: 'correction_pending', body: async () => ({ reason: 'not convinced' }) },
  retract: { from: 'published', body: async () => ({ reason: 'withdrawn' }) },
};

describe.skipIf(!pg)('role matrix: every write route × every role', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('covers every step route', () => {
    expect(Object.keys(SETUP).sort()).toEqual(Object.keys(STEP_ROUTES).sort());
  });

  for (const role of ROLES) {
    it(`POST /claims as ${role}`, async () => {
      const allowed = STEP_POLICY.submit_claim.roles.includes(role);
      const before = await t.eventCount();
      const response = await call(t.app, { method: 'POST', url: '/claims', headers: t.as[role], payload: { text: 'matrix claim' } });
      expect(response.statusCode).toBe(allowed ? 201 : 403);
      if (!allowed) {
        expect(response.json.code).toBe('forbidden_role');
        expect(await t.eventCount()).toBe(before);
      }
    });
  }

  for (const [segment, setup] of Object.entries(SETUP)) {
    const command = STEP_ROUTES[segment as keyof typeof STEP_ROUTES] as ClaimStep;
    for (const role of ROLES as readonly Role[]) {
      const allowed = STEP_POLICY[command].roles.includes(role);
      it(`POST /claims/:id/${segment} as ${role} → ${allowed ? 200 : 403}`, async () => {
        const id = await claimIn(t, setup.from);
        const body = setup.body ? await setup.body(t, id) : undefined;
        const before = await t.eventCount();
        const response = await step(t, id, segment, t.as[role], body);
        expect(response.statusCode, response.body).toBe(allowed ? 200 : 403);
        if (allowed) {
          expect(response.headers.etag).toBe(`"${response.json.version}"`);
          expect(await t.eventCount()).toBe(before + 1);
        } else {
          expect(response.json.code).toBe('forbidden_role');
          expect(await t.eventCount()).toBe(before);
        }
      });
    }
  }
});
