import type { TSchema } from 'typebox';
import type { ClaimStep } from '@claimtrail/domain';
import {
  ApproveCorrectionBodySchema,
  AssignBodySchema,
  CorrectBodySchema,
  EmptyBodySchema,
  EvidenceBodySchema,
  MergeBodySchema,
  NoteBodySchema,
  ReasonBodySchema,
  VerdictBodySchema,
} from './schemas.ts';

/**
 * Route segment of `POST /claims/:id/<segment>` → command type. `submit_claim` is
 * `POST /claims` and has no segment.
 */
export const STEP_ROUTES = {
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
} as const satisfies Record<string, Exclude<ClaimStep, 'submit_claim'>>;
export type StepRoute = keyof typeof STEP_ROUTES;

export interface StepRouteSpec<S extends StepRoute = StepRoute> {
  /** `POST /claims/:id/<segment>` */
  segment: S;
  /** The domain command type it sends. */
  command: (typeof STEP_ROUTES)[S];
  body: TSchema;
  summary: string;
  /** The OpenAPI operationId (camelCase, stable: generated clients name their methods after it). */
  operationId: string;
}

/** A route's spec, its command read from STEP_ROUTES (so segment and command cannot disagree). */
function route<S extends StepRoute>(segment: S, spec: Omit<StepRouteSpec<S>, 'segment' | 'command'>): StepRouteSpec<S> {
  return { segment, command: STEP_ROUTES[segment], ...spec };
}

/** The workflow steps of PRODUCT.md, in workflow order. */
export const STEP_ROUTE_SPECS: readonly StepRouteSpec[] = [
  route('triage', { operationId: 'triageClaim', body: EmptyBodySchema, summary: 'Triage a submitted claim (editor)' }),
  route('reject', { operationId: 'rejectClaim', body: ReasonBodySchema, summary: 'Reject as not check-worthy (editor)' }),
  route('merge', { operationId: 'mergeClaim', body: MergeBodySchema, summary: 'Merge into the claim it duplicates (editor)' }),
  route('assign', { operationId: 'assignClaim', body: AssignBodySchema, summary: 'Assign a fact-checker; moves a triaged claim to in_research (editor)' }),
  route('evidence', { operationId: 'addEvidence', body: EvidenceBodySchema, summary: 'Attach evidence (supports / refutes / context)' }),
  route('notes', { operationId: 'addNote', body: NoteBodySchema, summary: 'Add an internal note' }),
  route('verdict', { operationId: 'draftVerdict', body: VerdictBodySchema, summary: 'Draft a verdict (fact-checker)' }),
  route('submit', { operationId: 'submitForReview', body: EmptyBodySchema, summary: 'Send the draft for review; needs a verdict and evidence (fact-checker)' }),
  route('request-changes', { operationId: 'requestChanges', body: ReasonBodySchema, summary: 'Send a draft back to research with a reason (editor)' }),
  route('publish', { operationId: 'publishVerdict', body: EmptyBodySchema, summary: 'Publish the verdict; not by its author (editor)' }),
  route('reopen', { operationId: 'reopenClaim', body: ReasonBodySchema, summary: 'Reopen a published claim with a reason (editor)' }),
  route('correct', {
    operationId: 'correctVerdict',
    body: CorrectBodySchema,
    summary: 'Correct a published verdict (editor): a note at once; a new rating or rationale is proposed for a second editor to approve',
  }),
  route('approve-correction', {
    operationId: 'approveCorrection',
    body: ApproveCorrectionBodySchema,
    summary: 'Apply the pending correction; not by its proposer nor by the author of the published verdict (editor)',
  }),
  route('reject-correction', {
    operationId: 'rejectCorrection',
    body: ReasonBodySchema,
    summary: 'Drop the pending correction with a reason; its proposer may withdraw it (editor)',
  }),
  route('retract', { operationId: 'retractVerdict', body: ReasonBodySchema, summary: 'Retract a published verdict (editor)' }),
];
