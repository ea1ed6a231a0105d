import { describe, expect, it } from 'vitest';
import { STEP_ROUTES, STEP_ROUTE_SPECS } from '../src/index.ts';

describe('step routes', () => {
  it('maps every PRODUCT.md route segment to one command', () => {
    expect(STEP_ROUTES).toEqual({
      triage: 'triage',
      reject: 'reject',
      merge: 'merge',
      assign: 'assign',
      evidence: 'add_evidence',
      notes: 'add_note',
      verdict: 'draft_verdict',
      submit: 'submit_for_review',
      'request-changes': 'request_changes',
      publish: 'publish',
      reopen: 'reopen',
      correct: 'correct',
      'approve-correction': 'approve_correction',
      'reject-correction': 'reject_correction',
      retract: 'retract',
    });
  });

  it('specifies every route once, sending its command', () => {
    expect(STEP_ROUTE_SPECS.map((spec) => spec.segment)).toEqual(Object.keys(STEP_ROUTES));
    for (const spec of STEP_ROUTE_SPECS) expect(spec.command).toBe(STEP_ROUTES[spec.segment]);
  });
});
