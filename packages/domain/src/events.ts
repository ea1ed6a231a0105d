import { everyMemberOf } from './lists.ts';
import type { Appearance, ClaimStatus, Rating, Stance } from './state.ts';

/**
 * What happened to a claim: past tense, data is plain JSON.
 *
 * Event `data` types are declared as type aliases (not interfaces) without optional
 * members, so that they are assignable to a JSON object type: they are stored as jsonb,
 * and an absent value is always `null`, never `undefined`.
 */

export type AppearanceData = Appearance;

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
/** A claim overdue in `state` (entered at `since`, due at `dueAt`): the deadline watcher's escalation. */
export type ClaimEscalatedData = { state: ClaimStatus; since: string; dueAt: string };

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
export type ClaimEscalated = { type: 'ClaimEscalated'; data: ClaimEscalatedData };

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
  | ClaimRetracted
  | ClaimEscalated;

export type ClaimEventType = ClaimEvent['type'];

export const CLAIM_EVENT_TYPES = everyMemberOf<ClaimEventType>()([
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
  'ClaimEscalated',
]);

/**
 * The status each event moves a claim to: `same` keeps it; `recorded` = the event carries
 * it (`ClaimAssigned.data.to`). This is what a stored event means, fixed once recorded:
 * evolve reads it, and the policy's `to` column is checked against it when the policy
 * module loads (policy.ts), so a policy change that would re-interpret recorded events
 * fails at once instead of rewriting history on the next replay.
 */
export const EVENT_STATUS = {
  ClaimSubmitted: 'submitted',
  ClaimTriaged: 'triaged',
  ClaimRejected: 'rejected',
  ClaimMerged: 'merged',
  ClaimAssigned: 'recorded',
  EvidenceAdded: 'same',
  NoteAdded: 'same',
  VerdictDrafted: 'same',
  ClaimSubmittedForReview: 'in_review',
  ChangesRequested: 'in_research',
  VerdictPublished: 'published',
  ClaimReopened: 'in_research',
  VerdictCorrected: 'same',
  CorrectionProposed: 'same',
  CorrectionRejected: 'same',
  ClaimRetracted: 'retracted',
  ClaimEscalated: 'same',
} as const satisfies Record<ClaimEventType, ClaimStatus | 'same' | 'recorded'>;

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

