/**
 * The public fact-check pages as HTML text (pure: a view in, a string out). Every piece of
 * user text goes through `escapeHtml`; the ClaimReview JSON-LD through `jsonForScript`,
 * so nothing a claimant or a fact-checker typed can end the `<script>` block or open a tag.
 */
import type { ClaimReviewDocument } from '@claimtrail/claimreview';
import type { ClaimView } from '@claimtrail/domain';

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string | null | undefined): string {
  return String(text ?? '').replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/**
 * JSON for a `<script type="application/ld+json">` block: `<`, `>` and `&` as \u escapes
 * (so `</script>` and `<!--` cannot appear), and U+2028/U+2029 too. Still the same JSON.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** Only http(s) URLs become links; anything else is printed as text. */
function link(url: string | null | undefined, text?: string | null): string {
  if (!url) return '';
  const label = escapeHtml(text || url);
  return /^https?:\/\//i.test(url) ? `<a href="${escapeHtml(url)}" rel="nofollow noopener noreferrer">${label}</a>` : label;
}

function date(iso: string | null | undefined): string {
  if (!iso) return '';
  return `<time datetime="${escapeHtml(iso)}">${escapeHtml(iso.slice(0, 10))}</time>`;
}

export interface PageOptions {
  orgName: string;
  ratingLabel(rating: string): string;
}

function layout(title: string, body: string, options: PageOptions, head = ''): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="/assets/fact-checks.css">
${head}</head>
<body>
<header class="site"><a class="site__name" href="/fact-checks">${escapeHtml(options.orgName)} fact-checks</a></header>
<main>
${body}
</main>
<footer class="site__footer">Published by ${escapeHtml(options.orgName)}. Every verdict is reviewed by two people; corrections are listed on the page.</footer>
</body>
</html>
`;
}

export function renderList(claims: readonly ClaimView[], nextCursor: string | null, options: PageOptions): string {
  const items = claims
    .map((claim) => {
      const verdict = claim.publishedVerdict;
      const retracted = claim.state === 'retracted';
      return `<li class="item${retracted ? ' item--retracted' : ''}">
<a class="item__claim" href="/fact-checks/${escapeHtml(claim.id)}">${escapeHtml(claim.text)}</a>
<p class="item__meta">${claim.claimant ? `${escapeHtml(claim.claimant)} · ` : ''}${
        retracted ? '<strong class="rating rating--retracted">Retracted</strong>' : verdict ? `<strong class="rating rating--${escapeHtml(verdict.rating)}">${escapeHtml(options.ratingLabel(verdict.rating))}</strong>` : ''
      } · ${date(verdict?.publishedAt)}${verdict && verdict.corrections.length ? ` · corrected ${verdict.corrections.length}×` : ''}</p>
</li>`;
    })
    .join('\n');
  const body = `<h1>Fact-checks</h1>
<p class="lede">Published verdicts, the most recently published first.</p>
${claims.length === 0 ? '<p>No fact-check has been published yet.</p>' : `<ol class="list">\n${items}\n</ol>`}
${nextCursor ? `<p><a rel="next" href="/fact-checks?cursor=${encodeURIComponent(nextCursor)}">Older fact-checks →</a></p>` : ''}`;
  return layout(`Fact-checks · ${options.orgName}`, body, options);
}

export function renderFactCheck(claim: ClaimView, review: ClaimReviewDocument | null, options: PageOptions): string {
  const verdict = claim.publishedVerdict;
  const retracted = claim.state === 'retracted';
  const evidence = claim.evidence
    .map((e) => `<li><span class="stance stance--${escapeHtml(e.stance)}">${escapeHtml(e.stance)}</span> ${escapeHtml(e.summary)}${e.url ? ` — ${link(e.url)}` : ''}</li>`)
    .join('\n');
  const appearances = claim.appearances
    .map((a) => `<li>${[a.outlet ? escapeHtml(a.outlet) : '', a.url ? link(a.url, a.title) : a.title ? `<em>${escapeHtml(a.title)}</em>` : '', a.publishedAt ? date(a.publishedAt) : ''].filter(Boolean).join(' · ')}${a.excerpt ? `<blockquote>${escapeHtml(a.excerpt)}</blockquote>` : ''}</li>`)
    .join('\n');
  const corrections = (verdict?.corrections ?? [])
    .map(
      (c) => `<li>${date(c.correctedAt)}: ${escapeHtml(c.note)}${
        c.rating !== c.previousRating ? ` (rating ${escapeHtml(options.ratingLabel(c.previousRating))} → ${escapeHtml(options.ratingLabel(c.rating))})` : ''
      }</li>`,
    )
    .join('\n');
  const body = `<article class="factcheck" data-claim-id="${escapeHtml(claim.id)}">
${retracted ? `<div class="retraction" role="note"><h2>This fact-check was retracted</h2><p>${escapeHtml(claim.retraction?.reason ?? '')}</p><p>Retracted ${date(claim.retraction?.at ?? claim.updatedAt)}.</p></div>` : ''}
<p class="kicker">Claim</p>
<h1 class="claim">${escapeHtml(claim.text)}</h1>
${claim.claimant ? `<p class="claimant">Claimed by <strong>${escapeHtml(claim.claimant)}</strong></p>` : ''}
${verdict ? `<section class="verdict"><p class="kicker">Our rating</p><p class="rating rating--${retracted ? 'retracted' : escapeHtml(verdict.rating)}">${escapeHtml(options.ratingLabel(verdict.rating))}${retracted ? ' (withdrawn)' : ''}</p>
<p class="rationale">${escapeHtml(verdict.rationale)}</p>
<p class="dates">Published ${date(verdict.publishedAt)}${verdict.corrections.length ? `, last corrected ${date(verdict.corrections[verdict.corrections.length - 1]!.correctedAt)}` : ''}</p></section>` : ''}
${evidence ? `<section><h2>Evidence</h2><ul class="evidence">\n${evidence}\n</ul></section>` : ''}
${appearances ? `<section><h2>Where the claim appeared</h2><ul>\n${appearances}\n</ul></section>` : ''}
<section><h2>Corrections</h2>${corrections ? `<ol class="corrections">\n${corrections}\n</ol>` : '<p>None.</p>'}</section>
</article>
<p><a href="/fact-checks">← All fact-checks</a></p>`;
  const head = review ? `<script type="application/ld+json">${jsonForScript(review)}</script>\n` : '';
  return layout(`${claim.text.slice(0, 80)} · ${options.orgName}`, body, options, head);
}

export function renderNotFound(options: PageOptions): string {
  return layout(`Not found · ${options.orgName}`, '<h1>No published fact-check here</h1><p><a href="/fact-checks">See all fact-checks</a>.</p>', options);
}

export const SITE_CSS = `:root{font-family:Georgia,'DejaVu Serif',serif;color:#1d2433;background:#fbfaf7;line-height:1.5}
body{margin:0}main{max-width:760px;margin:0 auto;padding:16px 20px 40px;overflow-wrap:anywhere}
.site{padding:12px 20px;border-bottom:1px solid #ddd;background:#fff;font-family:system-ui,sans-serif}
.site__name{font-weight:700;color:#1d2433;text-decoration:none}
.site__footer{max-width:760px;margin:0 auto;padding:16px 20px;color:#545c6e;font-size:14px;font-family:system-ui,sans-serif}
a{color:#2447c9}.lede,.kicker,.dates,.item__meta{color:#545c6e;font-family:system-ui,sans-serif}
.kicker{text-transform:uppercase;letter-spacing:.05em;font-size:12px;margin:16px 0 0}
.claim{font-size:26px;margin:4px 0 8px}.list{padding-left:20px}.item{margin:0 0 14px}
.item__claim{font-size:18px}.rating{font-family:system-ui,sans-serif;font-weight:700}
p.rating{font-size:22px;margin:0}.rating--false,.rating--mostly_false{color:#b91c1c}
.rating--true,.rating--mostly_true{color:#15803d}.rating--mixed{color:#a15c07}.rating--misleading{color:#be185d}
.rating--unverifiable,.rating--retracted{color:#475569}
.retraction{border:2px solid #b91c1c;background:#fff5f5;padding:8px 16px;border-radius:8px}
.stance{font-family:system-ui,sans-serif;font-size:12px;font-weight:700;text-transform:uppercase}
blockquote{margin:4px 0 4px 12px;color:#545c6e}`;
