import type { TSchema } from 'typebox';
import { STEP_ROUTES, type StepRoute } from '@claimtrail/domain';
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

export interface StepRouteSpec {
  /** `POST /claims/:id/<segment>` */
  segment: StepRoute;
  /** The domain command type it sends. */
  command: (typeof STEP_ROUTES)[StepRoute];
  body: TSchema;
  summary: string;
  /** The OpenAPI operationId (camelCase, stable: generated clients name their methods after it). */
  operationId: string;
}

/** The workflow steps of PRODUCT.md, in workflow order. */
export const STEP_ROUTE_SPECS: readonly StepRouteSpec[] = [
  { segment: 'triage', command: STEP_ROUTES.triage, operationId: 'triageClaim', body: EmptyBodySchema, summary: 'Triage a submitted claim (editor)' },
  { segment: 'reject', command: STEP_ROUTES.reject, operationId: 'rejectClaim', body: ReasonBodySchema, summary: 'Reject as not check-worthy (editor)' },
  { segment: 'merge', command: STEP_ROUTES.merge, operationId: 'mergeClaim', body: MergeBodySchema, summary: 'Merge into the claim it duplicates (editor)' },
  { segment: 'assign', command: STEP_ROUTES.assign, operationId: 'assignClaim', body: AssignBodySchema, summary: 'Assign a fact-checker; moves a triaged claim to in_research (editor)' },
  { segment: 'evidence', command: STEP_ROUTES.evidence, operationId: 'addEvidence', body: EvidenceBodySchema, summary: 'Attach evidence (supports / refutes / context)' },
  { segment: 'notes', command: STEP_ROUTES.notes, operationId: 'addNote', body: NoteBodySchema, summary: 'Add an internal note' },
  { segment: 'verdict', command: STEP_ROUTES.verdict, operationId: 'draftVerdict', body: VerdictBodySchema, summary: 'Draft a verdict (fact-checker)' },
  { segment: 'submit', command: STEP_ROUTES.submit, operationId: 'submitForReview', body: EmptyBodySchema, summary: 'Send the draft for review; needs a verdict and evidence (fact-checker)' },
  { segment: 'request-changes', command: STEP_ROUTES['request-changes'], operationId: 'requestChanges', body: ReasonBodySchema, summary: 'Send a draft back to research with a reason (editor)' },
  { segment: 'publish', command: STEP_ROUTES.publish, operationId: 'publishVerdict', body: EmptyBodySchema, summary: 'Publish the verdict; not by its author (editor)' },
  { segment: 'reopen', command: STEP_ROUTES.reopen, operationId: 'reopenClaim', body: ReasonBodySchema, summary: 'Reopen a published claim with a reason (editor)' },
  {
    segment: 'correct',
    command: STEP_ROUTES.correct,
    operationId: 'correctVerdict',
    body: CorrectBodySchema,
    summary: 'Correct a published verdict (editor): a note at once; a new rating or rationale is proposed for a second editor to approve',
  },
  {
    segment: 'approve-correction',
    command: STEP_ROUTES['approve-correction'],
    operationId: 'approveCorrection',
    body: ApproveCorrectionBodySchema,
    summary: 'Apply the pending correction; not by its proposer nor by the author of the published verdict (editor)',
  },
  {
    segment: 'reject-correction',
    command: STEP_ROUTES['reject-correction'],
    operationId: 'rejectCorrection',
    body: ReasonBodySchema,
    summary: 'Drop the pending correction with a reason; its proposer may withdraw it (editor)',
  },
  { segment: 'retract', command: STEP_ROUTES.retract, operationId: 'retractVerdict', body: ReasonBodySchema, summary: 'Retract a published verdict (editor)' },
];
