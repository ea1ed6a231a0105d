/**
 * Public types of the claim workflow. Pure data: no I/O, no dependencies.
 *
 * Event `data` types are declared as type aliases (not interfaces) without optional
 * members, so that they are assignable to a JSON object type: they are stored as jsonb,
 * and an absent value is always `null`, never `undefined`.
 */

export const ROLES = ['fact_checker', 'editor', 'auditor', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface Actor {
  id: string;
  role: Role;
  name?: string;
}

export const CLAIM_STATUSES = [
  'submitted',
  'triaged',
  'in_research',
  'in_review',
  'published',
  'rejected',
  'merged',
  'retracted',
] as const;
export type ClaimStatus = (typeof CLAIM_STATUSES)[number];

export const STANCES = ['supports', 'refutes', 'context'] as const;
export type Stance = (typeof STANCES)[number];

export const RATING_NAMES = [
  'true',
  'mostly_true',
  'mixed',
  'mostly_false',
  'false',
  'misleading',
  'unverifiable',
] as const;
export type Rating = (typeof RATING_NAMES)[number];

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

/** POST /claims */
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
  | RetractCommand;

/** A workflow step is named by its command type. */
export type ClaimStep = ClaimCommand['type'];

export const CLAIM_STEPS = [
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
] as const satisfies readonly ClaimStep[];

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

// ---------------------------------------------------------------------------------------
// Events: past tense, data is plain JSON.

export type AppearanceData = {
  id: string;
  url: string | null;
  outlet: string | null;
  title: string | null;
  publishedAt: string | null;
  excerpt: string | null;
};

export type ClaimSubmittedData = {
  /** Claim uuid (without the `claim-` stream prefix); null when the caller gave none. */
  claimId: string | null;
  text: string;
  claimant: string | null;
  language: string | null;
  tags: string[];
  appearances: AppearanceData[];
};
export type ClaimTriagedData = { from: ClaimStatus };
export type ClaimRejectedData = { reason: string; from: ClaimStatus };
export type ClaimMergedData = { into: string; from: ClaimStatus };
export type ClaimAssignedData = {
  assignee: string;
  previousAssignee: string | null;
  from: ClaimStatus;
  to: ClaimStatus;
};
export type EvidenceAddedData = {
  evidenceId: string;
  summary: string;
  stance: Stance;
  url: string | null;
  appearance: string | null;
};
export type NoteAddedData = { noteId: string; body: string };
export type VerdictDraftedData = { rating: Rating; rationale: string };
export type ClaimSubmittedForReviewData = { rating: Rating; rationale: string; draftedBy: string };
export type ChangesRequestedData = { reason: string };
export type VerdictPublishedData = { rating: Rating; rationale: string; draftedBy: string };
export type ClaimReopenedData = { reason: string };
/**
 * `proposedBy`: the proposer of an approved correction (the event's actor approved it);
 * null when the correction was recorded at once. Events recorded before corrections
 * needed a second person lack the field: read as null.
 */
export type VerdictCorrectedData = {
  correctionId: string;
  note: string;
  rating: Rating;
  rationale: string;
  previousRating: Rating;
  previousRationale: string;
  proposedBy: string | null;
};
/** A correction that changes rating or rationale, pending a second person. `replaces`: the pending one it replaced. */
export type CorrectionProposedData = {
  correctionId: string;
  note: string;
  rating: Rating;
  rationale: string;
  replaces: string | null;
};
export type CorrectionRejectedData = { correctionId: string; reason: string };
export type ClaimRetractedData = { reason: string };

export type ClaimSubmitted = { type: 'ClaimSubmitted'; data: ClaimSubmittedData };
export type ClaimTriaged = { type: 'ClaimTriaged'; data: ClaimTriagedData };
export type ClaimRejected = { type: 'ClaimRejected'; data: ClaimRejectedData };
export type ClaimMerged = { type: 'ClaimMerged'; data: ClaimMergedData };
export type ClaimAssigned = { type: 'ClaimAssigned'; data: ClaimAssignedData };
export type EvidenceAdded = { type: 'EvidenceAdded'; data: EvidenceAddedData };
export type NoteAdded = { type: 'NoteAdded'; data: NoteAddedData };
export type VerdictDrafted = { type: 'VerdictDrafted'; data: VerdictDraftedData };
export type ClaimSubmittedForReview = { type: 'ClaimSubmittedForReview'; data: ClaimSubmittedForReviewData };
export type ChangesRequested = { type: 'ChangesRequested'; data: ChangesRequestedData };
export type VerdictPublished = { type: 'VerdictPublished'; data: VerdictPublishedData };
export type ClaimReopened = { type: 'ClaimReopened'; data: ClaimReopenedData };
export type VerdictCorrected = { type: 'VerdictCorrected'; data: VerdictCorrectedData };
export type CorrectionProposed = { type: 'CorrectionProposed'; data: CorrectionProposedData };
export type CorrectionRejected = { type: 'CorrectionRejected'; data: CorrectionRejectedData };
export type ClaimRetracted = { type: 'ClaimRetracted'; data: ClaimRetractedData };

export type ClaimEvent =
  | ClaimSubmitted
  | ClaimTriaged
  | ClaimRejected
  | ClaimMerged
  | ClaimAssigned
  | EvidenceAdded
  | NoteAdded
  | VerdictDrafted
  | ClaimSubmittedForReview
  | ChangesRequested
  | VerdictPublished
  | ClaimReopened
  | VerdictCorrected
  | CorrectionProposed
  | CorrectionRejected
  | ClaimRetracted;

export type ClaimEventType = ClaimEvent['type'];

export const CLAIM_EVENT_TYPES = [
  'ClaimSubmitted',
  'ClaimTriaged',
  'ClaimRejected',
  'ClaimMerged',
  'ClaimAssigned',
  'EvidenceAdded',
  'NoteAdded',
  'VerdictDrafted',
  'ClaimSubmittedForReview',
  'ChangesRequested',
  'VerdictPublished',
  'ClaimReopened',
  'VerdictCorrected',
  'CorrectionProposed',
  'CorrectionRejected',
  'ClaimRetracted',
] as const satisfies readonly ClaimEventType[];

/**
 * Which event each step produces (one event per accepted step). `correct` produces
 * `VerdictCorrected` when it changes neither rating nor rationale, else `CorrectionProposed`.
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
} as const satisfies Record<ClaimStep, ClaimEventType>;

/**
 * What evolve needs besides the event itself: who (actor id), when, and the stream
 * version the event has (1-based). `streamId` (`claim-<uuid>`) is optional and only used
 * to know the claim id when the ClaimSubmitted event did not carry one.
 */
export interface EventEnvelopeMeta {
  actor: string;
  recordedAt: string | Date;
  /**
   * `recordedAt` already as `Date#toISOString()` text, when the caller has it (the projection
   * rebuild formats each second once): used as is instead of formatting `recordedAt`.
   */
  recordedAtIso?: string;
  version: number;
  streamId?: string;
}
export type ClaimEventEnvelope = ClaimEvent & EventEnvelopeMeta;

// ---------------------------------------------------------------------------------------
// Decide

export type RefusalCode =
  | 'illegal_transition'
  | 'forbidden_role'
  | 'four_eyes'
  | 'missing_evidence'
  | 'missing_verdict'
  | 'assignee_cannot_research'
  | 'validation';

export const REFUSAL_CODES = [
  'illegal_transition',
  'forbidden_role',
  'four_eyes',
  'missing_evidence',
  'missing_verdict',
  'assignee_cannot_research',
  'validation',
] as const satisfies readonly RefusalCode[];

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

// ---------------------------------------------------------------------------------------
// State and view

export interface Appearance {
  id: string;
  url: string | null;
  outlet: string | null;
  title: string | null;
  publishedAt: string | null;
  excerpt: string | null;
}

export interface EvidenceItem {
  id: string;
  summary: string;
  stance: Stance;
  url: string | null;
  appearance: string | null;
  addedBy: string;
  addedAt: string;
}

export interface Note {
  id: string;
  body: string;
  author: string;
  createdAt: string;
}

export interface VerdictDraft {
  rating: Rating;
  rationale: string;
  /** Actor id of whoever drafted it (four eyes). */
  author: string;
  draftedAt: string;
}

export interface Correction {
  id: string;
  note: string;
  rating: Rating;
  rationale: string;
  previousRating: Rating;
  previousRationale: string;
  /** Who applied it: the approver of a proposed correction, else whoever recorded it. */
  correctedBy: string;
  correctedAt: string;
  /** The proposer of an approved correction; null for one recorded at once. */
  proposedBy: string | null;
}

/** A correction that changes what readers see, waiting for a second person. */
export interface PendingCorrection {
  id: string;
  note: string;
  rating: Rating;
  rationale: string;
  proposedBy: string;
  proposedAt: string;
}

export interface PublishedVerdict {
  rating: Rating;
  /** From RATINGS: what ClaimReview's reviewRating needs. */
  ratingLabel: string;
  ratingValue: number;
  bestRating: number;
  worstRating: number;
  alternateName: string;
  rationale: string;
  /** Drafted by (actor id). */
  author: string;
  publishedAt: string;
  publishedBy: string;
  corrections: Correction[];
}

export interface ReasonRecord {
  reason: string;
  by: string;
  at: string;
}

export interface ClaimState {
  /** Claim uuid; null before ClaimSubmitted (or when nobody told us). */
  id: string | null;
  /** null = the claim does not exist yet. */
  status: ClaimStatus | null;
  text: string;
  claimant: string | null;
  language: string | null;
  tags: string[];
  appearances: Appearance[];
  assignee: string | null;
  evidence: EvidenceItem[];
  notes: Note[];
  verdictDraft: VerdictDraft | null;
  publishedVerdict: PublishedVerdict | null;
  mergedInto: string | null;
  rejection: ReasonRecord | null;
  retraction: ReasonRecord | null;
  /** Last request-changes, cleared when the claim is submitted for review again. */
  changesRequested: ReasonRecord | null;
  /** Last reopen, cleared when the claim is published again. */
  reopened: ReasonRecord | null;
  /** Proposed change of the published verdict; cleared by approve, reject, reopen, retract. */
  pendingCorrection: PendingCorrection | null;
  /** Number of events folded (= stream version). */
  version: number;
  createdAt: string | null;
  updatedAt: string | null;
  createdBy: string | null;
}

/** What GET /claims/:id returns. */
export interface ClaimView {
  id: string;
  text: string;
  claimant: string | null;
  language: string | null;
  tags: string[];
  appearances: Appearance[];
  state: ClaimStatus;
  assignee: string | null;
  evidence: EvidenceItem[];
  notesCount: number;
  notes: Note[];
  verdictDraft: VerdictDraft | null;
  publishedVerdict: PublishedVerdict | null;
  mergedInto: string | null;
  rejectionReason: string | null;
  retractionReason: string | null;
  changesRequestedReason: string | null;
  reopenReason: string | null;
  rejection: ReasonRecord | null;
  retraction: ReasonRecord | null;
  changesRequested: ReasonRecord | null;
  reopened: ReasonRecord | null;
  /** Not public: ClaimReview and readers see `publishedVerdict` only. */
  pendingCorrection: PendingCorrection | null;
  version: number;
  createdAt: string;
  updatedAt: string;
  createdBy: string;
}
