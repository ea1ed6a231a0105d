/** Labels and small formatters shared by the desk's views. */
import type { ClaimStatus, ClaimView } from '@claimtrail/client';

export const STATES: readonly { state: ClaimStatus; label: string }[] = [
  { state: 'submitted', label: 'Submitted' },
  { state: 'triaged', label: 'Triaged' },
  { state: 'in_research', label: 'In research' },
  { state: 'in_review', label: 'In review' },
  { state: 'published', label: 'Published' },
  { state: 'rejected', label: 'Rejected' },
  { state: 'merged', label: 'Merged' },
  { state: 'retracted', label: 'Retracted' },
];
export const STATE_LABEL = Object.fromEntries(STATES.map((s) => [s.state, s.label])) as Record<ClaimStatus, string>;

export const RATING_LABELS: Record<string, string> = {
  true: 'True',
  mostly_true: 'Mostly true',
  mixed: 'Mixed',
  mostly_false: 'Mostly false',
  false: 'False',
  misleading: 'Misleading',
  unverifiable: 'Unverifiable',
};
export const RATINGS = Object.keys(RATING_LABELS);

export const ROLE_LABELS: Record<string, string> = {
  fact_checker: 'fact-checker',
  editor: 'editor',
  auditor: 'auditor',
  admin: 'admin',
};

/** "just now", "12 min", "5 h", "3 d": how long since an instant. */
export function age(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '';
  const seconds = Math.max(0, (now - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return 'just now';
  const minutes = seconds / 60;
  if (minutes < 60) return `${Math.floor(minutes)} min`;
  const hours = minutes / 60;
  if (hours < 48) return `${Math.floor(hours)} h`;
  return `${Math.floor(hours / 24)} d`;
}

export function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : '';
}

/**
 * What a card says about the verdict. Only a published (or retracted) claim shows its
 * rating as the verdict: a reopened claim's old rating is "previously", a draft is "draft".
 */
export function verdictBadge(claim: Pick<ClaimView, 'state' | 'publishedVerdict' | 'verdictDraft'>): { rating: string; kind: 'published' | 'previous' | 'draft' | 'withdrawn' } | null {
  if (claim.publishedVerdict && claim.state === 'published') return { rating: claim.publishedVerdict.rating, kind: 'published' };
  if (claim.publishedVerdict && claim.state === 'retracted') return { rating: claim.publishedVerdict.rating, kind: 'withdrawn' };
  if (claim.verdictDraft) return { rating: claim.verdictDraft.rating, kind: 'draft' };
  if (claim.publishedVerdict) return { rating: claim.publishedVerdict.rating, kind: 'previous' };
  return null;
}

export function badgeText(badge: { rating: string; kind: string }): string {
  const label = RATING_LABELS[badge.rating] ?? badge.rating;
  if (badge.kind === 'draft') return `Draft: ${label}`;
  if (badge.kind === 'previous') return `Previously: ${label}`;
  if (badge.kind === 'withdrawn') return `Withdrawn: ${label}`;
  return label;
}

export function changedAgo(iso: string | null | undefined, now = Date.now()): string {
  const a = age(iso, now);
  return a === 'just now' ? 'changed just now' : `changed ${a} ago`;
}
