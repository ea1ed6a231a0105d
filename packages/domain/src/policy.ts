import { CLAIM_STATUSES, type ClaimStatus, type ClaimStep, type Role } from './types.ts';

/** `null` in `from` = the claim does not exist yet. `to: 'same'` = the status is kept. */
export interface StepPolicy {
  roles: readonly Role[];
  from: readonly (ClaimStatus | null)[];
  to: ClaimStatus | 'same';
  /** Preconditions on the claim's content, checked after role and state. */
  requires: readonly ('evidence' | 'verdict')[];
  /** The current draft's author may not perform this step (admin included). */
  fourEyes: boolean;
}

const WRITERS = ['fact_checker', 'editor', 'admin'] as const;
const DESK = ['editor', 'admin'] as const;
const RESEARCHERS = ['fact_checker', 'admin'] as const;
const ANY_EXISTING = CLAIM_STATUSES;

/**
 * THE policy: who may do which step from which state, and what it needs. Everything not
 * listed here is refused (auditors appear nowhere: they write nothing).
 *
 * Choices beyond PRODUCT.md, on purpose:
 * - reject: only before research starts (submitted, triaged): "not check-worthy" is a
 *   triage decision.
 * - merge: submitted, triaged, in_research (a duplicate may surface during research);
 *   not once a verdict is under review or published.
 * - assign: moves triaged → in_research; re-assigning in in_research and in_review is
 *   allowed and keeps the state (people go on leave; the review is not reset).
 * - add_evidence: submitted, triaged, in_research; frozen while in review and once
 *   published (request changes / reopen first), so a reviewer approves what they read.
 * - add_note: any existing claim, any state (internal desk notes change nothing).
 * - draft_verdict: in_research only, needs ≥ 1 evidence item; the editor does not draft.
 * - correct: published stays published; retract: published only.
 */
export const STEP_POLICY: Readonly<Record<ClaimStep, StepPolicy>> = {
  submit_claim: { roles: WRITERS, from: [null], to: 'submitted', requires: [], fourEyes: false },
  triage: { roles: DESK, from: ['submitted'], to: 'triaged', requires: [], fourEyes: false },
  reject: { roles: DESK, from: ['submitted', 'triaged'], to: 'rejected', requires: [], fourEyes: false },
  merge: { roles: DESK, from: ['submitted', 'triaged', 'in_research'], to: 'merged', requires: [], fourEyes: false },
  assign: { roles: DESK, from: ['triaged', 'in_research', 'in_review'], to: 'in_research', requires: [], fourEyes: false },
  add_evidence: { roles: WRITERS, from: ['submitted', 'triaged', 'in_research'], to: 'same', requires: [], fourEyes: false },
  add_note: { roles: WRITERS, from: ANY_EXISTING, to: 'same', requires: [], fourEyes: false },
  draft_verdict: { roles: RESEARCHERS, from: ['in_research'], to: 'same', requires: ['evidence'], fourEyes: false },
  submit_for_review: {
    roles: RESEARCHERS,
    from: ['in_research'],
    to: 'in_review',
    requires: ['verdict', 'evidence'],
    fourEyes: false,
  },
  request_changes: { roles: DESK, from: ['in_review'], to: 'in_research', requires: [], fourEyes: false },
  publish: { roles: DESK, from: ['in_review'], to: 'published', requires: ['verdict', 'evidence'], fourEyes: true },
  reopen: { roles: DESK, from: ['published'], to: 'in_research', requires: [], fourEyes: false },
  correct: { roles: DESK, from: ['published'], to: 'same', requires: [], fourEyes: false },
  retract: { roles: DESK, from: ['published'], to: 'retracted', requires: [], fourEyes: false },
};

/** May this role perform this step at all (in some state)? */
export function can(role: Role, step: ClaimStep): boolean {
  const policy = STEP_POLICY[step];
  return policy !== undefined && policy.roles.includes(role);
}

/** Is the step allowed from this status (null = claim does not exist)? */
export function allowedFrom(step: ClaimStep, status: ClaimStatus | null): boolean {
  return STEP_POLICY[step].from.includes(status);
}

/** Steps this role may take on a claim in this status, ignoring content preconditions. */
export function availableSteps(role: Role, status: ClaimStatus | null): ClaimStep[] {
  return (Object.keys(STEP_POLICY) as ClaimStep[]).filter((step) => can(role, step) && allowedFrom(step, status));
}
