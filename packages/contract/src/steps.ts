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
}

/** The workflow steps of PRODUCT.md, in workflow order. */
export const STEP_ROUTE_SPECS: readonly StepRouteSpec[] = [
  { segment: 'triage', command: STEP_ROUTES.triage, body: EmptyBodySchema, summary: 'Triage a submitted claim (editor)' },
  { segment: 'reject', command: STEP_ROUTES.reject, body: ReasonBodySchema, summary: 'Reject as not check-worthy (editor)' },
  { segment: 'merge', command: STEP_ROUTES.merge, body: MergeBodySchema, summary: 'Merge into the claim it duplicates (editor)' },
  { segment: 'assign', command: STEP_ROUTES.assign, body: AssignBodySchema, summary: 'Assign a fact-checker; moves a triaged claim to in_research (editor)' },
  { segment: 'evidence', command: STEP_ROUTES.evidence, body: EvidenceBodySchema, summary: 'Attach evidence (supports / refutes / context)' },
  { segment: 'notes', command: STEP_ROUTES.notes, body: NoteBodySchema, summary: 'Add an internal note' },
  { segment: 'verdict', command: STEP_ROUTES.verdict, body: VerdictBodySchema, summary: 'Draft a verdict (fact-checker)' },
  { segment: 'submit', command: STEP_ROUTES.submit, body: EmptyBodySchema, summary: 'Send the draft for review; needs a verdict and evidence (fact-checker)' },
  { segment: 'request-changes', command: STEP_ROUTES['request-changes'], body: ReasonBodySchema, summary: 'Send a draft back to research with a reason (editor)' },
  { segment: 'publish', command: STEP_ROUTES.publish, body: EmptyBodySchema, summary: 'Publish the verdict; not by its author (editor)' },
  { segment: 'reopen', command: STEP_ROUTES.reopen, body: ReasonBodySchema, summary: 'Reopen a published claim with a reason (editor)' },
  {
    segment: 'correct',
    command: STEP_ROUTES.correct,
    body: CorrectBodySchema,
    summary: 'Correct a published verdict (editor): a note at once; a new rating or rationale is proposed for a second editor to approve',
  },
  {
    segment: 'approve-correction',
    command: STEP_ROUTES['approve-correction'],
    body: ApproveCorrectionBodySchema,
    summary: 'Apply the pending correction; not by its proposer nor by the author of the published verdict (editor)',
  },
  {
    segment: 'reject-correction',
    command: STEP_ROUTES['reject-correction'],
    body: ReasonBodySchema,
    summary: 'Drop the pending correction with a reason; its proposer may withdraw it (editor)',
  },
  { segment: 'retract', command: STEP_ROUTES.retract, body: ReasonBodySchema, summary: 'Retract a published verdict (editor)' },
];
