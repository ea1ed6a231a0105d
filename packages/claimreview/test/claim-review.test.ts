import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RATINGS, RATING_NAMES, type ClaimView, type Rating } from '@claimtrail/domain';
import {
  claimReviewFromView,
  guessClaimantKind,
  shorten,
  toClaimReview,
  UnknownRatingError,
  type ClaimReviewSource,
} from '../src/index.ts';

const org = { name: 'Test Desk', url: 'https://desk.example/' };
const reviewUrl = 'https://api.example/claims/0b6f/claim-review';

function source(overrides: Partial<ClaimReviewSource> = {}): ClaimReviewSource {
  return {
    id: '0b6f',
    text: 'The Freedom of Russia Legion holds the village of Tyotkino in the Kursk region.',
    claimant: 'Freedom of Russia Legion',
    language: 'en',
    createdAt: '2024-03-13T09:00:00.000Z',
    appearances: [
      { url: 'https://b.example/2', outlet: 'Outlet B', title: 'Later', publishedAt: '2024-03-12T18:00:00Z' },
      { url: 'https://a.example/1', outlet: 'Outlet A', title: 'Earlier', publishedAt: '2024-03-12T08:00:00Z' },
    ],
    verdict: { rating: 'false', rationale: 'The governor and footage contradict it.', publishedAt: '2024-03-14T10:00:00Z' },
    ...overrides,
  };
}

describe('toClaimReview', () => {
  it('maps the verdict onto schema.org ClaimReview', () => {
    const doc = toClaimReview(source(), { reviewUrl, organization: org });
    expect(doc['@context']).toBe('https://schema.org');
    expect(doc['@type']).toBe('ClaimReview');
    expect(doc.url).toBe(reviewUrl);
    expect(doc.author).toEqual({ '@type': 'Organization', name: 'Test Desk', url: 'https://desk.example/' });
    expect(doc.datePublished).toBe('2024-03-14T10:00:00.000Z');
    expect(doc.dateModified).toBeUndefined();
    expect(doc.reviewRating).toMatchObject({
      '@type': 'Rating',
      ratingValue: RATINGS.false.ratingValue,
      bestRating: RATINGS.false.bestRating,
      worstRating: RATINGS.false.worstRating,
      alternateName: RATINGS.false.alternateName,
    });
    expect(doc.itemReviewed.author).toEqual({ '@type': 'Organization', name: 'Freedom of Russia Legion' });
    // The claim was made when it first appeared, not when the desk entered it.
    expect(doc.itemReviewed.datePublished).toBe('2024-03-12T08:00:00.000Z');
    expect(doc.itemReviewed.firstAppearance).toMatchObject({ url: 'https://a.example/1', headline: 'Earlier' });
    expect(doc.itemReviewed.appearance).toHaveLength(2);
    expect(doc.itemReviewed.appearance?.[0]).toEqual({
      '@type': 'CreativeWork',
      url: 'https://b.example/2',
      headline: 'Later',
      datePublished: '2024-03-12T18:00:00.000Z',
      publisher: { '@type': 'Organization', name: 'Outlet B' },
    });
  });

  it('falls back to createdAt without dated appearances and omits an absent claimant', () => {
    const doc = toClaimReview(source({ appearances: [], claimant: null }), { reviewUrl, organization: org });
    expect(doc.itemReviewed.datePublished).toBe('2024-03-13T09:00:00.000Z');
    expect(doc.itemReviewed.author).toBeUndefined();
    expect(doc.itemReviewed.appearance).toBeUndefined();
    expect(doc.itemReviewed.firstAppearance).toBeUndefined();
  });

  it('sets dateModified when corrected', () => {
    const doc = toClaimReview(
      source({ verdict: { rating: 'mixed', rationale: 'r', publishedAt: '2024-03-14T10:00:00Z', correctedAt: '2024-03-15T10:00:00Z' } }),
      { reviewUrl, organization: org },
    );
    expect(doc.dateModified).toBe('2024-03-15T10:00:00.000Z');
  });

  it('refuses a rating it cannot map', () => {
    expect(() => toClaimReview(source({ verdict: { rating: 'toString', publishedAt: '2024-03-14' } }), { reviewUrl, organization: org })).toThrow(
      UnknownRatingError,
    );
  });

  it('guesses person or organisation for the claimant', () => {
    expect(guessClaimantKind('Alexei Smirnov')).toBe('Person');
    expect(guessClaimantKind('FSB')).toBe('Organization');
    expect(guessClaimantKind('Russian Ministry of Defence')).toBe('Organization');
    expect(guessClaimantKind('Russian Volunteer Corps')).toBe('Organization');
  });

  it('every rating gives a consistent reviewRating (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...RATING_NAMES), fc.string({ minLength: 1, maxLength: 2000 }), (rating: Rating, text) => {
        fc.pre(text.trim().length > 0);
        const doc = toClaimReview(source({ text, verdict: { rating, publishedAt: '2024-03-14T10:00:00Z' } }), {
          reviewUrl,
          organization: org,
        });
        const r = doc.reviewRating;
        expect(r.worstRating).toBeLessThanOrEqual(r.ratingValue);
        expect(r.ratingValue).toBeLessThanOrEqual(r.bestRating);
        expect(r.alternateName).toBe(RATINGS[rating].alternateName);
        expect(r.alternateName.startsWith(RATINGS[rating].label)).toBe(true);
        expect(doc.claimReviewed.length).toBeLessThanOrEqual(280);
        expect(doc.claimReviewed.length).toBeGreaterThan(0);
      }),
    );
  });
});

describe('shorten', () => {
  it('keeps short text and cuts long text on a word boundary with an ellipsis', () => {
    expect(shorten('  short   text ', 280)).toBe('short text');
    const long = 'word '.repeat(100);
    const cut = shorten(long, 280);
    expect(cut.length).toBeLessThanOrEqual(280);
    expect(cut.endsWith('word…')).toBe(true);
  });

  it('never cuts an emoji in half', () => {
    const out = shorten('x'.repeat(278) + '😀😀😀', 280);
    expect(out).toBe('x'.repeat(278) + '…');
    expect(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(out)).toBe(false);
  });

  it('never exceeds the limit and keeps a prefix of the text (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 1000 }), fc.integer({ min: 2, max: 400 }), (text, max) => {
        const out = shorten(text, max);
        expect(out.length).toBeLessThanOrEqual(max);
        const clean = text.replace(/\s+/g, ' ').trim();
        if (clean.length <= max) expect(out).toBe(clean);
        else expect(clean.startsWith(out.slice(0, -1))).toBe(true);
      }),
    );
  });
});

describe('claimReviewFromView', () => {
  const base = {
    id: '0b6f',
    text: 'claim',
    claimant: 'Kursk governor',
    language: 'en',
    tags: [],
    appearances: [],
    assignee: null,
    evidence: [],
    notesCount: 0,
    notes: [],
    verdictDraft: null,
    mergedInto: null,
    rejectionReason: null,
    retractionReason: null,
    changesRequestedReason: null,
    reopenReason: null,
    rejection: null,
    retraction: null,
    changesRequested: null,
    reopened: null,
    pendingCorrection: null,
    version: 7,
    createdAt: '2024-03-13T09:00:00.000Z',
    updatedAt: '2024-03-14T10:00:00.000Z',
    createdBy: 'u1',
  } satisfies Omit<ClaimView, 'state' | 'publishedVerdict'>;
  const verdict = {
    rating: 'mostly_false' as const,
    ratingLabel: RATINGS.mostly_false.label,
    ratingValue: RATINGS.mostly_false.ratingValue,
    bestRating: 5,
    worstRating: 1,
    alternateName: RATINGS.mostly_false.alternateName,
    rationale: 'because',
    author: 'u1',
    publishedAt: '2024-03-14T10:00:00.000Z',
    publishedBy: 'u2',
    corrections: [],
  };

  it('answers not_published before publication, retracted after retraction', () => {
    expect(claimReviewFromView({ ...base, state: 'in_review', publishedVerdict: null }, { reviewUrl, organization: org })).toMatchObject({
      ok: false,
      code: 'not_published',
    });
    expect(claimReviewFromView({ ...base, state: 'in_research', publishedVerdict: verdict }, { reviewUrl, organization: org })).toMatchObject({
      ok: false,
      code: 'not_published',
    });
    expect(claimReviewFromView({ ...base, state: 'retracted', publishedVerdict: verdict }, { reviewUrl, organization: org })).toMatchObject({
      ok: false,
      code: 'retracted',
    });
  });

  it('uses the latest correction for rating and dateModified', () => {
    const corrected = {
      ...verdict,
      rating: 'false' as const,
      corrections: [
        {
          id: 'c1',
          note: 'new footage',
          rating: 'false' as const,
          rationale: 'x',
          previousRating: 'mostly_false' as const,
          previousRationale: 'because',
          correctedBy: 'u2',
          correctedAt: '2024-03-16T10:00:00.000Z',
          proposedBy: 'u3',
        },
      ],
    };
    const result = claimReviewFromView({ ...base, state: 'published', publishedVerdict: corrected }, { reviewUrl, organization: org });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.document.reviewRating.alternateName).toBe(RATINGS.false.alternateName);
    expect(result.document.dateModified).toBe('2024-03-16T10:00:00.000Z');
    expect(result.document.datePublished).toBe('2024-03-14T10:00:00.000Z');
    expect(result.document.itemReviewed.author).toEqual({ '@type': 'Person', name: 'Kursk governor' });
  });

  it('never shows a pending correction: only the published verdict is public', () => {
    const pendingCorrection = {
      id: 'c9',
      note: 'proposed: footage shows control',
      rating: 'true' as const,
      rationale: 'proposed rationale',
      proposedBy: 'u1',
      proposedAt: '2024-03-17T10:00:00.000Z',
    };
    const options = { reviewUrl, organization: org };
    const withPending = claimReviewFromView({ ...base, state: 'published', publishedVerdict: verdict, pendingCorrection }, options);
    const without = claimReviewFromView({ ...base, state: 'published', publishedVerdict: verdict }, options);
    expect(withPending).toEqual(without);
    expect(JSON.stringify(withPending)).not.toContain('proposed');
  });
});
