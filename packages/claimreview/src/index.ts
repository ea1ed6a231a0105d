export {
  toClaimReview,
  shorten,
  guessClaimantKind,
  UnknownRatingError,
  DEFAULT_MAX_CLAIM_LENGTH,
  type RatingScale,
  type ClaimantKind,
  type ClaimantInput,
  type AppearanceInput,
  type VerdictInput,
  type ClaimReviewSource,
  type Organization,
  type ClaimReviewOptions,
  type ClaimReviewDocument,
  type JsonLdCreativeWork,
} from './claim-review.ts';
export {
  claimReviewFromView,
  type ClaimReviewResult,
  type ClaimReviewUnavailable,
} from './from-view.ts';
export {
  PROVENANCE_PROPERTY,
  withProvenance,
  type ProvenanceEvent,
  type VerdictProvenance,
  type ClaimReviewWithProvenance,
} from './provenance.ts';
