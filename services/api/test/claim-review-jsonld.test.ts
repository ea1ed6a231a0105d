/**
 * The ClaimReview mapping, expanded with the `jsonld` library against the schema.org
 * context shipped in fixtures/ (offline), checked for Google's required and recommended
 * fields. No database: the HTTP route is covered by claim-review.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { RATINGS, RATING_NAMES } from '@claimtrail/domain';
import { toClaimReview } from '@claimtrail/claimreview';
import {
  claimReviewProblems,
  countExpandedProperties,
  countProperties,
  expandClaimReview,
  literal,
  nodeOf,
  offlineDocumentLoader,
  S,
  types,
} from './fixtures/schema-org.ts';

const organization = { name: 'Test Desk', url: 'https://desk.example/' };

function review(rating: string, extra: { correctedAt?: string; claimant?: string | null } = {}) {
  return toClaimReview(
    {
      id: 'c1',
      text: 'Ukraine’s military says it has no involvement in the cross-border raids into Belgorod and Kursk. '.repeat(5),
      claimant: extra.claimant === undefined ? 'General Staff of the Armed Forces of Ukraine' : extra.claimant,
      language: 'en',
      createdAt: '2024-03-12T20:00:00Z',
      appearances: [
        { url: 'https://news.example/raid', outlet: 'Example News', title: 'Raids into Russia', publishedAt: '2024-03-12' },
      ],
      verdict: { rating, rationale: 'Leaders of the units say the opposite.', publishedAt: '2024-03-14T10:00:00Z', correctedAt: extra.correctedAt ?? null },
    },
    { reviewUrl: 'https://api.example/claims/c1/claim-review', organization },
  );
}

describe('ClaimReview JSON-LD (offline schema.org context)', () => {
  it('the loader serves the shipped context and refuses the network', async () => {
    await expect(offlineDocumentLoader('https://schema.org')).resolves.toMatchObject({ document: { '@context': {} } });
    await expect(offlineDocumentLoader('http://schema.org/')).resolves.toBeTruthy();
    await expect(offlineDocumentLoader('https://example.com/ctx')).rejects.toThrow(/refusing/);
  });

  it.each(RATING_NAMES.map((r) => [r]))('rating %s expands with every required and recommended field', async (rating) => {
    const doc = review(rating);
    const expanded = await expandClaimReview(doc);
    expect(claimReviewProblems(expanded, RATINGS[rating].alternateName)).toEqual([]);
    // Every property survived expansion: none is unknown to schema.org's context.
    expect(countExpandedProperties(expanded)).toBe(countProperties(doc));
    const node = expanded[0];
    expect(types(node)).toEqual([S + 'ClaimReview']);
    const rr = nodeOf(node, 'reviewRating');
    expect(Number(literal(rr, 'ratingValue'))).toBe(RATINGS[rating].ratingValue);
    expect(String(literal(rr, 'alternateName')).startsWith(RATINGS[rating].label)).toBe(true);
  });

  it('the checker catches a broken document', async () => {
    const doc = review('false') as unknown as Record<string, unknown>;
    const broken = {
      ...doc,
      claimRevieweed: doc.claimReviewed, // typo: unknown term, dropped by expansion
      claimReviewed: undefined,
      reviewRating: { '@type': 'Rating', ratingValue: 9, bestRating: 5, worstRating: 1, alternateName: 'Nope' },
    };
    await expect(expandClaimReview(broken)).rejects.toThrow(/Safe mode/);
    const lenient = await expandClaimReview(broken, { safe: false });
    const problems = claimReviewProblems(lenient, RATINGS.false.alternateName);
    expect(problems).toContain('claimReviewed missing');
    expect(problems.some((p) => p.includes('outside'))).toBe(true);
    expect(problems.some((p) => p.includes('does not match'))).toBe(true);
    expect(countExpandedProperties(lenient)).toBeLessThan(countProperties(broken));
  });

  it('a missing claimant is reported as a missing recommended field', async () => {
    const problems = claimReviewProblems(await expandClaimReview(review('true', { claimant: null })));
    expect(problems).toContain('itemReviewed.author missing');
  });

  it('dateModified survives expansion after a correction', async () => {
    const expanded = await expandClaimReview(review('mixed', { correctedAt: '2024-03-20T08:00:00Z' }));
    expect(literal(expanded[0], 'dateModified')).toBe('2024-03-20T08:00:00.000Z');
  });
});
