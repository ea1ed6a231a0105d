import type { Rating } from './state.ts';

export interface RatingInfo {
  rating: Rating;
  /** Short human label (board, UI). */
  label: string;
  /** ClaimReview reviewRating.ratingValue. */
  ratingValue: number;
  bestRating: number;
  worstRating: number;
  /** ClaimReview reviewRating.alternateName: the verdict in words. */
  alternateName: string;
}

/**
 * The verdict scale, ClaimReview-ready. True…false sit on a 1–5 scale; "misleading" is
 * placed with mostly_false (technically accurate framing that leaves a false impression).
 * "unverifiable" is not a point on the true–false scale: it gets ratingValue 0 with its own
 * worstRating 0 so that every entry is self-consistent (value within [worst, best]) and
 * alternateName carries the meaning.
 */
export const RATINGS: Readonly<Record<Rating, RatingInfo>> = {
  true: { rating: 'true', label: 'True', ratingValue: 5, bestRating: 5, worstRating: 1, alternateName: 'True' },
  mostly_true: {
    rating: 'mostly_true',
    label: 'Mostly true',
    ratingValue: 4,
    bestRating: 5,
    worstRating: 1,
    alternateName: 'Mostly true: accurate but needs clarification or additional information',
  },
  mixed: {
    rating: 'mixed',
    label: 'Mixed',
    ratingValue: 3,
    bestRating: 5,
    worstRating: 1,
    alternateName: 'Mixed: partially accurate, leaves out important details or takes things out of context',
  },
  mostly_false: {
    rating: 'mostly_false',
    label: 'Mostly false',
    ratingValue: 2,
    bestRating: 5,
    worstRating: 1,
    alternateName: 'Mostly false: contains an element of truth but ignores critical facts',
  },
  false: { rating: 'false', label: 'False', ratingValue: 1, bestRating: 5, worstRating: 1, alternateName: 'False' },
  misleading: {
    rating: 'misleading',
    label: 'Misleading',
    ratingValue: 2,
    bestRating: 5,
    worstRating: 1,
    alternateName: 'Misleading: accurate elements presented in a way that gives a false impression',
  },
  unverifiable: {
    rating: 'unverifiable',
    label: 'Unverifiable',
    ratingValue: 0,
    bestRating: 5,
    worstRating: 0,
    alternateName: 'Unverifiable: cannot be proven or disproven with the available evidence',
  },
};

export function isRating(value: unknown): value is Rating {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(RATINGS, value);
}
