/**
 * Pure mapping of a published verdict onto schema.org ClaimReview JSON-LD, following
 * Google's ClaimReview structured-data guidelines (required: claimReviewed, reviewRating,
 * url, author; recommended: itemReviewed with author, datePublished, appearance /
 * firstAppearance). No I/O: the caller supplies the review URL and the organisation.
 */

import { RATINGS, type RatingInfo } from '@claimtrail/domain';

/** How a verdict rating maps onto a schema.org Rating (the domain's RATINGS entries fit). */
export type RatingScale = Pick<RatingInfo, 'label' | 'ratingValue' | 'bestRating' | 'worstRating' | 'alternateName'>;

export type ClaimantKind = 'Person' | 'Organization';

export interface ClaimantInput {
  name: string;
  kind?: ClaimantKind;
  url?: string;
}

export interface AppearanceInput {
  url?: string | null;
  outlet?: string | null;
  title?: string | null;
  /** ISO-8601 date or date-time. */
  publishedAt?: string | null;
  excerpt?: string | null;
}

export interface VerdictInput {
  /** Rating key, e.g. `false`, `mostly_true`. */
  rating: string;
  rationale?: string | null;
  /** When the verdict was (first) published. */
  publishedAt: string;
  /** When the published verdict was last corrected, if ever. */
  correctedAt?: string | null;
  /** Correction notes in order, if any. */
  corrections?: ReadonlyArray<{ note: string; at?: string | null }>;
}

export interface ClaimReviewSource {
  id: string;
  text: string;
  claimant?: string | ClaimantInput | null;
  language?: string | null;
  /** When the claim was entered into the system (fallback for the claim's date). */
  createdAt: string;
  appearances?: ReadonlyArray<AppearanceInput> | null;
  verdict: VerdictInput;
}

export interface Organization {
  name: string;
  url: string;
  logo?: string;
}

export interface ClaimReviewOptions {
  /** Absolute URL of this claim review (on this service). */
  reviewUrl: string;
  /** The fact-checking organisation publishing the review. */
  organization: Organization;
  /** Rating key → scale (default: the domain's RATINGS table). */
  ratings?: Readonly<Record<string, RatingScale>>;
  /** Maximum length of `claimReviewed` (default 280). */
  maxClaimLength?: number;
}

export interface JsonLdCreativeWork {
  '@type': 'CreativeWork';
  url?: string;
  headline?: string;
  datePublished?: string;
  publisher?: { '@type': 'Organization'; name: string };
  text?: string;
}

export interface ClaimReviewDocument {
  '@context': 'https://schema.org';
  '@type': 'ClaimReview';
  '@id': string;
  url: string;
  claimReviewed: string;
  datePublished: string;
  dateModified?: string;
  inLanguage?: string;
  author: { '@type': 'Organization'; name: string; url: string; logo?: string };
  reviewRating: {
    '@type': 'Rating';
    ratingValue: number;
    bestRating: number;
    worstRating: number;
    alternateName: string;
    ratingExplanation?: string;
  };
  reviewBody?: string;
  itemReviewed: {
    '@type': 'Claim';
    author?: { '@type': ClaimantKind; name: string; url?: string };
    datePublished: string;
    appearance?: JsonLdCreativeWork[];
    firstAppearance?: JsonLdCreativeWork;
  };
}

export class UnknownRatingError extends Error {
  constructor(readonly rating: string) {
    super(`no ClaimReview rating scale for "${rating}"`);
    this.name = 'UnknownRatingError';
  }
}

export const DEFAULT_MAX_CLAIM_LENGTH = 280;

export function toClaimReview(source: ClaimReviewSource, options: ClaimReviewOptions): ClaimReviewDocument {
  const table: Readonly<Record<string, RatingScale>> = options.ratings ?? RATINGS;
  const scale = Object.prototype.hasOwnProperty.call(table, source.verdict.rating) ? table[source.verdict.rating] : undefined;
  if (!scale) throw new UnknownRatingError(source.verdict.rating);

  const appearances = (source.appearances ?? []).map(toCreativeWork).filter((w): w is JsonLdCreativeWork => w !== null);
  const first = firstAppearance(source.appearances ?? []);
  const claimDate = normaliseDate(first?.publishedAt) ?? normaliseDate(source.createdAt) ?? source.createdAt;
  const claimant = toClaimant(source.claimant);
  const rationale = nonEmpty(source.verdict.rationale);
  const datePublished = normaliseDate(source.verdict.publishedAt) ?? source.verdict.publishedAt;
  const modified = normaliseDate(source.verdict.correctedAt ?? undefined);

  const org = options.organization;
  const doc: ClaimReviewDocument = {
    '@context': 'https://schema.org',
    '@type': 'ClaimReview',
    '@id': options.reviewUrl,
    url: options.reviewUrl,
    claimReviewed: shorten(source.text, options.maxClaimLength ?? DEFAULT_MAX_CLAIM_LENGTH),
    datePublished,
    ...(modified && modified !== datePublished ? { dateModified: modified } : {}),
    ...(nonEmpty(source.language) ? { inLanguage: source.language as string } : {}),
    author: { '@type': 'Organization', name: org.name, url: org.url, ...(org.logo ? { logo: org.logo } : {}) },
    reviewRating: {
      '@type': 'Rating',
      ratingValue: scale.ratingValue,
      bestRating: scale.bestRating,
      worstRating: scale.worstRating,
      alternateName: scale.alternateName,
      ...(rationale ? { ratingExplanation: shorten(rationale, 1000) } : {}),
    },
    ...(rationale ? { reviewBody: rationale } : {}),
    itemReviewed: {
      '@type': 'Claim',
      ...(claimant ? { author: claimant } : {}),
      datePublished: claimDate,
      ...(appearances.length > 0 ? { appearance: appearances } : {}),
      ...(first ? { firstAppearance: toCreativeWork(first) ?? undefined } : {}),
    },
  };
  if (doc.itemReviewed.firstAppearance === undefined) delete doc.itemReviewed.firstAppearance;
  return doc;
}

/**
 * Shortens to at most `max` characters on a word boundary, ending with an ellipsis.
 * Google shows `claimReviewed` as a one-liner; long claims are cut, never rejected.
 */
export function shorten(text: string, max: number): string {
  const clean = text.replace(/\s+/g, ' ').trim();
  if (clean.length <= max) return clean;
  const room = max - 1;
  let cut = clean.slice(0, room);
  // Never leave half of a surrogate pair (an emoji cut in two is not valid text).
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  const space = cut.lastIndexOf(' ');
  // A boundary far back would drop most of the text; cut mid-word instead.
  const base = space >= room * 0.6 ? cut.slice(0, space) : cut;
  return `${base.replace(/[\s,;:.\-–—]+$/u, '')}…`;
}

// Words that mark a claimant as an institution rather than a person.
const ORGANIZATION_WORDS =
  /\b(ministry|ministries|service|services|legion|corps|battalion|brigade|army|armed forces|forces|military|government|agency|office|committee|council|department|staff|command|directorate|fsb|gur|sbu|kremlin|administration|news|press|media|tv|radio|party|union|organisation|organization|group|institute|company|inc|ltd|ag|gmbh|bureau|commission|authority|police|guard|parliament|duma)\b/i;

export function guessClaimantKind(name: string): ClaimantKind {
  return ORGANIZATION_WORDS.test(name) ? 'Organization' : 'Person';
}

function toClaimant(claimant: ClaimReviewSource['claimant']): ClaimReviewDocument['itemReviewed']['author'] | undefined {
  if (!claimant) return undefined;
  const input: ClaimantInput = typeof claimant === 'string' ? { name: claimant } : claimant;
  const name = nonEmpty(input.name);
  if (!name) return undefined;
  return {
    '@type': input.kind ?? guessClaimantKind(name),
    name,
    ...(nonEmpty(input.url) ? { url: input.url as string } : {}),
  };
}

function toCreativeWork(a: AppearanceInput): JsonLdCreativeWork | null {
  const url = nonEmpty(a.url);
  const headline = nonEmpty(a.title);
  const outlet = nonEmpty(a.outlet);
  const date = normaliseDate(a.publishedAt ?? undefined);
  if (!url && !headline && !outlet) return null;
  return {
    '@type': 'CreativeWork',
    ...(url ? { url } : {}),
    ...(headline ? { headline } : {}),
    ...(date ? { datePublished: date } : {}),
    ...(outlet ? { publisher: { '@type': 'Organization', name: outlet } } : {}),
  };
}

/** The earliest dated appearance; else the first listed one. */
function firstAppearance(appearances: ReadonlyArray<AppearanceInput>): AppearanceInput | undefined {
  const usable = appearances.filter((a) => toCreativeWork(a) !== null);
  let best: AppearanceInput | undefined;
  let bestTime = Infinity;
  for (const a of usable) {
    const t = a.publishedAt ? Date.parse(a.publishedAt) : NaN;
    if (Number.isFinite(t) && t < bestTime) {
      best = a;
      bestTime = t;
    }
  }
  return best ?? usable[0];
}

function normaliseDate(value: string | Date | null | undefined): string | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.toISOString();
  // Plain dates stay plain dates: schema.org Date and DateTime are both fine.
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return value;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}

function nonEmpty(value: string | null | undefined): string | undefined {
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}
