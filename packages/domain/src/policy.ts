import type { ClaimStep, Role } from './commands.ts';
import { EVENT_STATUS, type ClaimEventType } from './events.ts';
import { CLAIM_STATUSES, type ClaimStatus } from './state.ts';

/**
 * Who may not take a step whatever their role (admin included), so that what readers see
 * as the verdict always had two people:
 * - `draft_author`: whoever drafted the current verdict draft;
 * - `verdict_author`: whoever drafted the published verdict (`publishedVerdict.author`);
 * - `correction_proposer`: whoever proposed the pending correction.
 */
export type FourEyesRule = 'draft_author' | 'verdict_author' | 'correction_proposer';

/**
 * Content a step needs, checked after role and state. `pending_correction` (a proposed
 * correction to act on) is refused as `illegal_transition`: there is nothing to approve.
 */
export type StepRequirement = 'evidence' | 'verdict' | 'pending_correction';

/**
 * `null` in `from` = the claim does not exist yet. `to: 'same'` = the status is kept; `to`
 * must be what the step's event means (EVENT_STATUS), checked when this module loads.
 */
export interface StepPolicy {
  roles: readonly Role[];
  from: readonly (ClaimStatus | null)[];
  to: ClaimStatus | 'same';
  /** States in which the step keeps the status instead of moving to `to`. */
  keepsStatusIn?: readonly ClaimStatus[];
  /** Preconditions on the claim's content, checked after role and state. */
  requires: readonly StepRequirement[];
  /** The people who may not take this step on this claim (checked last). */
  fourEyes: readonly FourEyesRule[];
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
 * - correct that changes the rating or the rationale does not change the published verdict:
 *   it becomes the pending correction (a new one replaces it). approve_correction applies
 *   it, by someone other than its proposer and the published verdict's drafter (the
 *   publisher and earlier correctors may); reject_correction drops it (anyone on the desk,
 *   the proposer too: a withdrawal). A note-only correction changes nothing readers rely
 *   on and is recorded at once. reopen and retract drop a pending correction.
 */
export const STEP_POLICY: Readonly<Record<ClaimStep, StepPolicy>> = {
  submit_claim: { roles: WRITERS, from: [null], to: 'submitted', requires: [], fourEyes: [] },
  triage: { roles: DESK, from: ['submitted'], to: 'triaged', requires: [], fourEyes: [] },
  reject: { roles: DESK, from: ['submitted', 'triaged'], to: 'rejected', requires: [], fourEyes: [] },
  merge: { roles: DESK, from: ['submitted', 'triaged', 'in_research'], to: 'merged', requires: [], fourEyes: [] },
  assign: {
    roles: DESK,
    from: ['triaged', 'in_research', 'in_review'],
    to: 'in_research',
    keepsStatusIn: ['in_research', 'in_review'],
    requires: [],
    fourEyes: [],
  },
  add_evidence: { roles: WRITERS, from: ['submitted', 'triaged', 'in_research'], to: 'same', requires: [], fourEyes: [] },
  add_note: { roles: WRITERS, from: ANY_EXISTING, to: 'same', requires: [], fourEyes: [] },
  draft_verdict: { roles: RESEARCHERS, from: ['in_research'], to: 'same', requires: ['evidence'], fourEyes: [] },
  submit_for_review: {
    roles: RESEARCHERS,
    from: ['in_research'],
    to: 'in_review',
    requires: ['verdict', 'evidence'],
    fourEyes: [],
  },
  request_changes: { roles: DESK, from: ['in_review'], to: 'in_research', requires: [], fourEyes: [] },
  publish: { roles: DESK, from: ['in_review'], to: 'published', requires: ['verdict', 'evidence'], fourEyes: ['draft_author'] },
  reopen: { roles: DESK, from: ['published'], to: 'in_research', requires: [], fourEyes: [] },
  correct: { roles: DESK, from: ['published'], to: 'same', requires: [], fourEyes: [] },
  approve_correction: {
    roles: DESK,
    from: ['published'],
    to: 'same',
    requires: ['pending_correction'],
    fourEyes: ['correction_proposer', 'verdict_author'],
  },
  reject_correction: { roles: DESK, from: ['published'], to: 'same', requires: ['pending_correction'], fourEyes: [] },
  retract: { roles: DESK, from: ['published'], to: 'retracted', requires: [], fourEyes: [] },
  // The deadline watcher, a system actor with the admin role (no HTTP route takes this step).
  escalate: { roles: ['admin'], from: ['submitted', 'triaged', 'in_research', 'in_review'], to: 'same', requires: [], fourEyes: [] },
};

/**
 * Which event each step produces (one event per accepted step; steps.ts cannot build
 * another, by type). `correct` produces `VerdictCorrected` when it changes neither rating
 * nor rationale, else `CorrectionProposed` (STEP_ALTERNATIVE_EVENTS).
 */
export const STEP_EVENTS = {
  submit_claim: 'ClaimSubmitted',
  triage: 'ClaimTriaged',
  reject: 'ClaimRejected',
  merge: 'ClaimMerged',
  assign: 'ClaimAssigned',
  add_evidence: 'EvidenceAdded',
  add_note: 'NoteAdded',
  draft_verdict: 'VerdictDrafted',
  submit_for_review: 'ClaimSubmittedForReview',
  request_changes: 'ChangesRequested',
  publish: 'VerdictPublished',
  reopen: 'ClaimReopened',
  correct: 'VerdictCorrected',
  approve_correction: 'VerdictCorrected',
  reject_correction: 'CorrectionRejected',
  retract: 'ClaimRetracted',
  escalate: 'ClaimEscalated',
} as const satisfies Record<ClaimStep, ClaimEventType>;

/** The event a step produces instead of its STEP_EVENTS one in some cases. */
export const STEP_ALTERNATIVE_EVENTS = {
  correct: 'CorrectionProposed',
} as const satisfies Partial<Record<ClaimStep, ClaimEventType>>;

/**
 * The policy's target states must be what the recorded events mean (`EVENT_STATUS`, which
 * evolve applies). Evolve does not read the policy: a stored event replays the same
 * whatever the policy later says. A `to` that disagrees with one of its step's events
 * fails here, when the module loads, so table and events cannot drift apart.
 */
for (const events of [STEP_EVENTS, STEP_ALTERNATIVE_EVENTS]) {
  for (const [step, event] of Object.entries(events) as [ClaimStep, ClaimEventType][]) {
    const meaning = EVENT_STATUS[event];
    const { to } = STEP_POLICY[step];
    if (meaning !== 'recorded' && meaning !== to) {
      throw new Error(`STEP_POLICY.${step}.to is ${to}, but its event ${event} moves a claim to ${meaning}`);
    }
  }
}

/**
 * The status a step leaves a claim in from `from` (the status recorded in events that
 * carry it: `ClaimAssigned.data.to`).
 */
export function targetStatus(step: ClaimStep, from: ClaimStatus): ClaimStatus {
  const { to, keepsStatusIn } = STEP_POLICY[step];
  return to === 'same' || keepsStatusIn?.includes(from) ? from : to;
}

/** May this role perform this step at all (in some state)? */
export function can(role: Role, step: ClaimStep): boolean {
  const policy = STEP_POLICY[step];
  return policy !== undefined && policy.roles.includes(role);
}

/**
 * Who may be assigned a claim: whoever may do its research, i.e. draft its verdict (an
 * assignee who cannot would leave the claim in research with nobody able to finish it).
 */
export function canResearch(role: Role): boolean {
  return can(role, 'draft_verdict');
}

/** Is the step allowed from this status (null = claim does not exist)? */
export function allowedFrom(step: ClaimStep, status: ClaimStatus | null): boolean {
  return STEP_POLICY[step].from.includes(status);
}

/** Steps this role may take on a claim in this status, ignoring content preconditions. */
export function availableSteps(role: Role, status: ClaimStatus | null): ClaimStep[] {
  return (Object.keys(STEP_POLICY) as ClaimStep[]).filter((step) => can(role, step) && allowedFrom(step, status));
}
