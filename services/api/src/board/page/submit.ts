/** Submit a claim (with its appearances): offered when the policy lets the caller submit. */
import { useState } from 'preact/hooks';
import { allowedSteps, initialClaimState } from '@claimtrail/domain';
import { html } from './html.ts';
import { useDesk } from './context.ts';
import { describeProblem } from './session.ts';
import { claimPath, navigate } from './router.ts';
import { SimilarList, type SimilarItem } from './similar.ts';

export function SubmitClaim() {
  const { session, me } = useDesk();
  const [appearances, setAppearances] = useState(1);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [submitted, setSubmitted] = useState<{ id: string; text: string; similar: SimilarItem[] } | null>(null);
  // The same policy table the service decides by: a claim that does not exist yet.
  if (!me || !allowedSteps(initialClaimState, me).includes('submit_claim')) {
    return html`<p class="muted" id="cannot-submit">Your role cannot submit claims.</p>`;
  }
  const submit = async (event: Event) => {
    event.preventDefault();
    const data = new FormData(event.target as HTMLFormElement);
    const text = (name: string) => String(data.get(name) ?? '').trim();
    const tags = text('tags').split(',').map((t) => t.trim()).filter(Boolean);
    const found = Array.from({ length: appearances }, (_, i) => ({
      url: text(`a${i}-url`) || null,
      outlet: text(`a${i}-outlet`) || null,
      title: text(`a${i}-title`) || null,
      publishedAt: text(`a${i}-date`) || null,
      excerpt: text(`a${i}-excerpt`) || null,
    })).filter((a) => a.url || a.outlet || a.title || a.excerpt);
    setBusy(true);
    setProblem(null);
    try {
      const view = await session.client.createClaim({
        text: text('text'),
        ...(text('claimant') ? { claimant: text('claimant') } : {}),
        ...(tags.length ? { tags } : {}),
        ...(found.length ? { appearances: found } : {}),
      } as never);
      // The submitter sees possible duplicates at once; with none, straight to the new claim.
      const similar = await session
        .get<{ items: SimilarItem[] }>(`/claims/${view.id}/similar?limit=5`)
        .then((r) => r.items, () => [] as SimilarItem[]);
      if (similar.length === 0) navigate(claimPath(view.id));
      else setSubmitted({ id: view.id, text: view.text, similar });
    } catch (err) {
      setProblem(`Submit refused: ${describeProblem(err)}`);
    } finally {
      setBusy(false);
    }
  };
  if (submitted) {
    return html`
      <section class="panel form-page" aria-labelledby="h-submitted" id="submitted" data-claim-id=${submitted.id}>
        <h2 id="h-submitted">Claim submitted</h2>
        <p class="message" role="status">Submitted: <a href=${claimPath(submitted.id)} data-nav id="open-submitted">${submitted.text}</a></p>
        <h3>Possible duplicates</h3>
        <p class="muted">These open or published claims look like the one you submitted: check them before researching it twice.</p>
        <${SimilarList} items=${submitted.similar} />
        <p><button type="button" id="submit-another" onClick=${() => setSubmitted(null)}>Submit another claim</button></p>
      </section>
    `;
  }
  return html`
    <section class="panel form-page" aria-labelledby="h-new">
      <h2 id="h-new">Submit a claim</h2>
      <form id="submit-claim" onSubmit=${submit}>
        <div class="field"><label for="new-text">Claim, word for word</label><textarea id="new-text" name="text" rows="3" required></textarea></div>
        <div class="field"><label for="new-claimant">Claimant</label><input id="new-claimant" name="claimant" /></div>
        <div class="field"><label for="new-tags">Tags (comma separated)</label><input id="new-tags" name="tags" /></div>
        ${Array.from({ length: appearances }, (_, i) => html`
          <fieldset class="appearance">
            <legend>Appearance ${i + 1}</legend>
            <div class="field"><label for=${`a${i}-url`}>URL</label><input id=${`a${i}-url`} name=${`a${i}-url`} type="url" /></div>
            <div class="field"><label for=${`a${i}-outlet`}>Outlet</label><input id=${`a${i}-outlet`} name=${`a${i}-outlet`} /></div>
            <div class="field"><label for=${`a${i}-title`}>Title</label><input id=${`a${i}-title`} name=${`a${i}-title`} /></div>
            <div class="field"><label for=${`a${i}-date`}>Published on</label><input id=${`a${i}-date`} name=${`a${i}-date`} type="date" /></div>
            <div class="field"><label for=${`a${i}-excerpt`}>Excerpt</label><textarea id=${`a${i}-excerpt`} name=${`a${i}-excerpt`} rows="2"></textarea></div>
          </fieldset>`)}
        <p><button type="button" id="add-appearance" onClick=${() => setAppearances((n) => Math.min(n + 1, 20))}>Add another appearance</button></p>
        ${problem ? html`<p class="problem" role="alert" id="submit-problem">${problem}</p>` : null}
        <button type="submit" class="primary" disabled=${busy}>${busy ? 'Submitting…' : 'Submit claim'}</button>
      </form>
    </section>
  `;
}
