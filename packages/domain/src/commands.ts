import type { ClaimEvent } from './events.ts';
import { everyMemberOf } from './lists.ts';
import type { ClaimStatus, Rating, Stance } from './state.ts';

/**
 * What a person asks of a claim (one command per workflow step of PRODUCT.md), who asks
 * it, and what decide answers.
 */

export const ROLES = ['fact_checker', 'editor', 'auditor', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface Actor {
  id: string;
  role: Role;
  name?: string;
}

// ---------------------------------------------------------------------------------------
// Commands: one variant per workflow step of PRODUCT.md.

export interface AppearanceInput {
  url?: string | null;
  outlet?: string | null;
  title?: string | null;
  /** ISO-8601 date or date-time. */
  publishedAt?: string | null;
  excerpt?: string | null;
}

/** A new claim: the first step, on a claim that does not exist yet. */
export interface SubmitClaimCommand {
  type: 'submit_claim';
  text: string;
  claimant?: string | null;
  /** BCP-47 language tag, e.g. "en", "de", "ru". */
  language?: string | null;
  tags?: string[];
  appearances?: AppearanceInput[];
}
export interface TriageCommand {
  type: 'triage';
}
export interface RejectCommand {
  type: 'reject';
  reason: string;
}
export interface MergeCommand {
  type: 'merge';
  /** Id (uuid) of the claim this one duplicates. */
  into: string;
}
export interface AssignCommand {
  type: 'assign';
  /** User id of the fact-checker. */
  assignee: string;
}
export interface AddEvidenceCommand {
  type: 'add_evidence';
  summary: string;
  stance: Stance;
  url?: string | null;
  /** Id of one of the claim's appearances the evidence is about. */
  appearance?: string | null;
}
export interface AddNoteCommand {
  type: 'add_note';
  body: string;
}
export interface DraftVerdictCommand {
  type: 'draft_verdict';
  rating: Rating;
  rationale: string;
}
export interface SubmitForReviewCommand {
  type: 'submit_for_review';
}
export interface RequestChangesCommand {
  type: 'request_changes';
  reason: string;
}
export interface PublishCommand {
  type: 'publish';
}
export interface ReopenCommand {
  type: 'reopen';
  reason: string;
}
/**
 * A note-only correction (or one repeating the published rating and rationale) is recorded
 * at once; one that changes the rating or the rationale becomes the pending correction,
 * which a second person approves (`approve_correction`) or rejects.
 */
export interface CorrectCommand {
  type: 'correct';
  note: string;
  rating?: Rating | null;
  rationale?: string | null;
}
export interface ApproveCorrectionCommand {
  type: 'approve_correction';
  /** Id of the pending correction the approver read: a replaced proposal is not approved by mistake. */
  correctionId: string;
}
export interface RejectCorrectionCommand {
  type: 'reject_correction';
  reason: string;
}
export interface RetractCommand {
  type: 'retract';
  reason: string;
}
/**
 * The deadline watcher's (a system actor's) record that a claim stayed in its state past
 * the desk's threshold: `state` the state it is overdue in, `since` when it entered it,
 * `dueAt` when the threshold passed (docs/desk-operations.md).
 */
export interface EscalateCommand {
  type: 'escalate';
  state: string;
  since: string;
  dueAt: string;
}

export type ClaimCommand =
  | SubmitClaimCommand
  | TriageCommand
  | RejectCommand
  | MergeCommand
  | AssignCommand
  | AddEvidenceCommand
  | AddNoteCommand
  | DraftVerdictCommand
  | SubmitForReviewCommand
  | RequestChangesCommand
  | PublishCommand
  | ReopenCommand
  | CorrectCommand
  | ApproveCorrectionCommand
  | RejectCorrectionCommand
  | RetractCommand
  | EscalateCommand;

/** A workflow step is named by its command type. */
export type ClaimStep = ClaimCommand['type'];

export const CLAIM_STEPS = everyMemberOf<ClaimStep>()([
  'submit_claim',
  'triage',
  'reject',
  'merge',
  'assign',
  'add_evidence',
  'add_note',
  'draft_verdict',
  'submit_for_review',
  'request_changes',
  'publish',
  'reopen',
  'correct',
  'approve_correction',
  'reject_correction',
  'retract',
  'escalate',
]);

// ---------------------------------------------------------------------------------------
// Decide

export const REFUSAL_CODES = [
  'illegal_transition',
  'forbidden_role',
  'four_eyes',
  'missing_evidence',
  'missing_verdict',
  'assignee_cannot_research',
  'validation',
] as const;
export type RefusalCode = (typeof REFUSAL_CODES)[number];

export interface Refusal {
  code: RefusalCode;
  message: string;
  /** The offending command field for `validation` refusals. */
  field?: string;
}

export interface MergeTarget {
  id: string;
  status: ClaimStatus;
}

/** A user as the caller's user directory knows them (who may be assigned a claim). */
export interface DirectoryUser {
  id: string;
  role: Role;
  /** False for a disabled user: they cannot sign in, so they cannot work on a claim. */
  active: boolean;
}

export interface DecideContext {
  /** Claim uuid of the stream (recorded in ClaimSubmitted; used to refuse merging into itself). */
  claimId?: string;
  /**
   * The claim named by `merge.into`, as loaded by the caller: `null` when it does not
   * exist. Leaving it `undefined` for a merge is refused (decide cannot check it).
   */
  mergeTarget?: MergeTarget | null;
  /**
   * The user named by `assign.assignee`, as looked up by the caller: `null` when there is
   * no such user. Leaving it `undefined` for an assign is refused (decide cannot check it).
   */
  assignee?: DirectoryUser | null;
  /**
   * Id generator for evidence, notes, appearances, corrections. Optional: without it ids
   * are derived from the stream version, which keeps retries and replays byte-identical.
   */
  newId?: () => string;
}

export type DecideResult = { ok: true; events: ClaimEvent[] } | { ok: false; refusal: Refusal };

