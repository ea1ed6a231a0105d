/**
 * Possible duplicates of a claim (GET /claims/:id/similar): each links to its claim, with
 * its score; where the caller may merge the claim, "Merge this claim into it" per suggestion
 * (POST /claims/:id/merge {into}). Shown in the claim detail and after a submission.
 */
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.ts';
import { useDesk } from './context.ts';
import { describeProblem } from './session.ts';
import { claimPath } from './router.ts';
import { STATE_LABEL } from './format.ts';

export interface SimilarItem {
  claim: { id: string; text: string; state: string; claimant?: string | null };
  score: number;
}

export function useSimilar(id: string | null, version?: number): { items: SimilarItem[] | null; problem: string | null } {
  const { session } = useDesk();
  const [items, setItems] = useState<SimilarItem[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    if (!id) return;
    let live = true;
    session.get<{ items: SimilarItem[] }>(`/claims/${id}/similar?limit=5`).then(
      (r) => {
        if (!live) return;
        setItems(r.items);
        setProblem(null);
      },
      (err: unknown) => live && setProblem(describeProblem(err)),
    );
    return () => {
      live = false;
    };
  }, [id, version, session]);
  return { items, problem };
}

export function SimilarList({ items, onMerge, busy }: { items: SimilarItem[]; onMerge?: ((into: string) => void) | undefined; busy?: boolean }) {
  return html`
    <ol class="similar" id="similar">
      ${items.map(
        (s) => html`<li class="similar__item" data-similar-id=${s.claim.id}>
          <a href=${claimPath(s.claim.id)} data-nav class="similar__text">${s.claim.text}</a>
          <span class="muted">${STATE_LABEL[s.claim.state as keyof typeof STATE_LABEL] ?? s.claim.state}${s.claim.claimant ? ` · ${s.claim.claimant}` : ''}</span>
          <span class="similar__score" title="Similarity score, 0 to 1">score ${s.score.toFixed(2)}</span>
          ${onMerge ? html`<button type="button" data-merge-suggestion=${s.claim.id} disabled=${busy} onClick=${() => onMerge(s.claim.id)}>Merge this claim into it</button>` : null}
        </li>`,
      )}
    </ol>
  `;
}

/** The claim detail's section; `onMerge` only when the caller's allowed steps include merge. */
export function PossibleDuplicates({ id, version, onMerge, busy }: { id: string; version: number; onMerge?: ((into: string) => void) | undefined; busy?: boolean }) {
  const { items, problem } = useSimilar(id, version);
  return html`
    <section class="panel" aria-labelledby="h-similar">
      <h3 id="h-similar">Possible duplicates</h3>
      ${problem ? html`<p class="problem" role="alert">${problem}</p>` : null}
      ${items === null
        ? problem ? null : html`<p class="muted">Looking for similar claims…</p>`
        : items.length === 0
          ? html`<p class="muted" id="no-similar">No similar open or published claim.</p>`
          : html`<${SimilarList} items=${items} onMerge=${onMerge} busy=${busy} />`}
    </section>
  `;
}
