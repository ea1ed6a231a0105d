import type { ClaimView } from '@claimtrail/domain';
import { toClaimReview, type ClaimReviewDocument, type ClaimReviewOptions } from './claim-review.ts';

/**
 * Why a claim has no ClaimReview:
 * - `not_published`: no verdict is public right now (never published, rejected, merged, or
 *   reopened and under revision: a reopened verdict is withdrawn until published again);
 * - `retracted`: a verdict was published and then retracted (HTTP 410 Gone).
 */
export type ClaimReviewUnavailable = 'not_published' | 'retracted';

export type ClaimReviewResult =
  | { ok: true; document: ClaimReviewDocument }
  | { ok: false; code: ClaimReviewUnavailable; detail: string };

/** Maps a claim view to its ClaimReview, or says why there is none. */
export function claimReviewFromView(view: ClaimView, options: ClaimReviewOptions): ClaimReviewResult {
  if (view.state === 'retracted') {
    return { ok: false, code: 'retracted', detail: `claim ${view.id} was retracted: its verdict is withdrawn` };
  }
  const verdict = view.publishedVerdict;
  if (view.state !== 'published' || !verdict) {
    const why = view.state === 'in_research' && verdict ? 'reopened; its verdict is under revision' : `in state ${view.state}`;
    return { ok: false, code: 'not_published', detail: `claim ${view.id} has no published verdict (${why})` };
  }
  const corrections = verdict.corrections ?? [];
  const last = corrections[corrections.length - 1];
  const document = toClaimReview(
    {
      id: view.id,
      text: view.text,
      claimant: view.claimant,
      language: view.language,
      createdAt: view.createdAt,
      appearances: view.appearances,
      verdict: {
        rating: verdict.rating,
        rationale: verdict.rationale,
        publishedAt: verdict.publishedAt,
        correctedAt: last?.correctedAt ?? null,
        corrections: corrections.map((c) => ({ note: c.note, at: c.correctedAt })),
      },
    },
    options,
  );
  return { ok: true, document };
}
