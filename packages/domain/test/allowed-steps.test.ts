/**
 * allowedSteps and decide cannot disagree: for claims in random states (reached by random
 * command sequences folded through decide and evolve) and every actor, each step listed
 * passes decide's policy checks with well-formed fields, and each step not listed is
 * refused by one of them (role, state, content, four eyes).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CLAIM_STEPS,
  allowedSteps,
  decide,
  evolve,
  initialClaimState,
  policySubjectOfView,
  toClaimView,
  type Actor,
  type ClaimCommand,
  type ClaimState,
  type ClaimStep,
  type DecideContext,
} from '../src/index.ts';

const ID = '11111111-1111-4111-8111-111111111111';
const OTHER = '22222222-2222-4222-8222-222222222222';
const ACTORS: Actor[] = [
  { id: 'fc-1', role: 'fact_checker' },
  { id: 'fc-2', role: 'fact_checker' },
  { id: 'ed-1', role: 'editor' },
  { id: 'ed-2', role: 'editor' },
  { id: 'aud-1', role: 'auditor' },
  { id: 'adm-1', role: 'admin' },
];
const POLICY_CODES = ['forbidden_role', 'illegal_transition', 'missing_evidence', 'missing_verdict', 'four_eyes'];

/** A well-formed command for each step on this claim (fields decide's own part accepts). */
function wellFormed(step: ClaimStep, state: ClaimState): { command: ClaimCommand; context: DecideContext } {
  const context: DecideContext = { claimId: ID };
  switch (step) {
    case 'submit_claim':
      return { command: { type: step, text: 'The Legion holds Tyotkino' }, context };
    case 'triage':
    case 'submit_for_review':
    case 'publish':
      return { command: { type: step }, context };
    case 'reject':
    case 'request_changes':
    case 'reopen':
    case 'retract':
    case 'reject_correction':
      return { command: { type: step, reason: 'a reason' }, context };
    case 'merge':
      return { command: { type: step, into: OTHER }, context: { ...context, mergeTarget: { id: OTHER, status: 'triaged' } } };
    case 'assign': {
      // Someone other than the current assignee (re-assigning to the same person is a field error).
      const assignee = state.assignee === 'fc-1' ? 'fc-2' : 'fc-1';
      return { command: { type: step, assignee }, context: { ...context, assignee: { id: assignee, role: 'fact_checker', active: true } } };
    }
    case 'add_evidence':
      return { command: { type: step, summary: 'Governor: no breakthrough', stance: 'refutes' }, context };
    case 'add_note':
      return { command: { type: step, body: 'call the governor' }, context };
    case 'draft_verdict':
      return { command: { type: step, rating: 'unverifiable', rationale: 'unconfirmed' }, context };
    case 'correct':
      return { command: { type: step, note: 'new footage', rating: 'false' }, context };
    case 'approve_correction':
      return { command: { type: step, correctionId: state.pendingCorrection?.id ?? 'none' }, context };
    case 'escalate':
      return { command: { type: step, state: state.status ?? '-', since: '2024-03-11T10:00:00.000Z', dueAt: '2024-03-12T10:00:00.000Z' }, context };
  }
}

/** Fold a sequence of (step, actor) picks: refused steps are skipped, as the service would. */
function reach(picks: { step: ClaimStep; actor: Actor }[]): ClaimState[] {
  let state: ClaimState = initialClaimState;
  const states = [state];
  picks.forEach(({ step, actor }, i) => {
    const { command, context } = wellFormed(step, state);
    const result = decide(command, state, actor, context);
    if (!result.ok) return;
    for (const event of result.events) {
      state = evolve(state, { ...event, actor: actor.id, recordedAt: new Date(Date.UTC(2024, 2, 12, 0, i)), version: state.version + 1 });
    }
    states.push(state);
  });
  return states;
}

// The happy path with picks in between, so that deep states (published, a pending
// correction proposed by someone, a draft by an admin) are reached often.
const HAPPY: ClaimStep[] = ['submit_claim', 'triage', 'assign', 'add_evidence', 'draft_verdict', 'submit_for_review', 'publish', 'correct'];
const pick = fc.record({ step: fc.constantFrom(...CLAIM_STEPS), actor: fc.constantFrom(...ACTORS) });
const sequence = fc.oneof(
  fc.array(pick, { maxLength: 30 }),
  fc.array(fc.tuple(fc.constantFrom(...ACTORS), fc.array(pick, { maxLength: 3 })), { minLength: HAPPY.length, maxLength: HAPPY.length })
    .map((parts) => parts.flatMap(([actor, noise], i) => [{ step: HAPPY[i]!, actor }, ...noise])),
);

describe('allowedSteps', () => {
  it('lists exactly the steps decide lets through its policy checks, for every actor in every reached state', () => {
    fc.assert(
      fc.property(sequence, (picks) => {
        for (const state of reach(picks)) {
          for (const actor of ACTORS) {
            const allowed = allowedSteps(state, actor);
            for (const step of CLAIM_STEPS) {
              const { command, context } = wellFormed(step, state);
              const result = decide(command, state, actor, context);
              if (allowed.includes(step)) {
                expect(result.ok ? 'ok' : result.refusal.code, `${step} by ${actor.id} in ${state.status}`).toBe('ok');
              } else {
                expect(result.ok, `${step} by ${actor.id} in ${state.status}`).toBe(false);
                if (!result.ok) expect(POLICY_CODES).toContain(result.refusal.code);
              }
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('answers the same from the claim view as from the claim state', () => {
    fc.assert(
      fc.property(sequence, (picks) => {
        for (const state of reach(picks).slice(1)) {
          const view = policySubjectOfView(toClaimView(state));
          for (const actor of ACTORS) expect(allowedSteps(view, actor)).toEqual(allowedSteps(state, actor));
        }
      }),
      { numRuns: 100 },
    );
  });

  it('offers an auditor nothing, and four eyes keeps a draft from its author', () => {
    const states = reach([
      { step: 'submit_claim', actor: ACTORS[0]! },
      { step: 'triage', actor: ACTORS[2]! },
      { step: 'assign', actor: ACTORS[2]! },
      { step: 'add_evidence', actor: ACTORS[0]! },
      { step: 'draft_verdict', actor: ACTORS[5]! },
      { step: 'submit_for_review', actor: ACTORS[0]! },
    ]);
    const inReview = states.at(-1)!;
    expect(inReview.status).toBe('in_review');
    expect(allowedSteps(inReview, ACTORS[4]!)).toEqual([]);
    expect(allowedSteps(inReview, ACTORS[2]!)).toContain('publish');
    expect(allowedSteps(inReview, ACTORS[5]!)).not.toContain('publish');
    expect(allowedSteps(inReview, ACTORS[0]!)).toEqual(['add_note']);
  });
});
