/**
 * The claim as evolve folds it from its events, and the vocabularies its fields use.
 * Pure data: no I/O, no dependencies.
 */

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

/** Where the claim was seen. A type alias, not an interface: it is event data too (`AppearanceData`). */
export type Appearance = {
  id: string;
  url: string | null;
  outlet: string | null;
  title: string | null;
  publishedAt: string | null;
  excerpt: string | null;
};

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

