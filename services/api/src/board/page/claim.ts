/**
 * One claim at its own URL (/desk/claims/:id): everything on it, the steps the caller may
 * take now, its history (who, what, when, position, hash) with time travel (?version=N
 * shows the claim as it was), its verification and its ClaimReview preview. Live: any
 * event of the claim reloads it.
 */
import { useCallback, useEffect, useState } from 'preact/hooks';
import type { ClaimView, EventRecord } from '@claimtrail/client';
import type { ClaimStep } from '@claimtrail/domain';
import { html } from './html.ts';
import { useDesk } from './context.ts';
import { describeProblem, isRefusal, subscribeLive } from './session.ts';
import { claimPath, navigate } from './router.ts';
import { RATING_LABELS, STATE_LABEL, changedAgo, when } from './format.ts';
import { Actions, type ActionResult } from './actions.ts';
import { PossibleDuplicates } from './similar.ts';

interface Loaded {
  view: ClaimView;
  allowed: ClaimStep[];
  events: EventRecord[];
  /** The view at ?version=N, when time travelling. */
  past: ClaimView | null;
}

export function ClaimDetail({ id, query }: { id: string; query: URLSearchParams }) {
  const { session, onRefused } = useDesk();
  const versionParam = query.get('version');
  const version = versionParam !== null && /^\d{1,9}$/.test(versionParam) ? Number(versionParam) : null;
  const [data, setData] = useState<Loaded | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const [merging, setMerging] = useState(false);
  const reload = useCallback(() => setTick((t) => t + 1), []);

  useEffect(() => {
    let live = true;
    (async () => {
      try {
        const [view, allowed, events] = await Promise.all([
          session.client.getClaim(id),
          session.client.allowedSteps(id),
          session.client.events(id),
        ]);
        const past = version !== null && version !== view.version ? await session.client.state(id, { version }) : null;
        if (live) {
          setData({ view, allowed: allowed.allowedSteps, events: events.events, past });
          setProblem(null);
        }
      } catch (err) {
        if (!live) return;
        if (isRefusal(err) && err.status === 401) onRefused(err.detail);
        else setProblem(describeProblem(err));
      }
    })();
    return () => {
      live = false;
    };
  }, [id, version, tick, session]);

  useEffect(() => {
    return subscribeLive(
      session.client.live,
      { channel: 'claim', claimId: id },
      { onEvent: () => reload(), onSnapshot: () => undefined, onError: (m) => console.warn('live error', m) },
    );
  }, [id, session]);

  useEffect(() => {
    document.title = data ? `${data.view.text.slice(0, 60)} · claimtrail desk` : 'claimtrail desk';
  }, [data]);

  if (problem && !data) return html`<p class="problem" role="alert" id="claim-problem">${problem}</p><p><a href="/" data-nav>Back to the board</a></p>`;
  if (!data) return html`<p class="muted">Loading the claim…</p>`;

  const { view, allowed, events, past } = data;
  const shown = past ?? view;
  const latest = view.version;
  const at = past ? past.version : latest;
  // After a step the claim, its allowed steps and its history are read again together, so
  // the page never shows a new version with the steps of the old one.
  const done = (_result: ActionResult, text: string) => {
    setMessage(text);
    reload();
  };
  const mergeInto = async (into: string) => {
    setMerging(true);
    setProblem(null);
    try {
      const merged = await session.client.step(view.id, 'merge', { into }, { ifMatch: view.version });
      done({ view: merged }, `Merge: done. The claim is now ${STATE_LABEL[merged.state] ?? merged.state}.`);
    } catch (err) {
      setProblem(`Merge refused: ${describeProblem(err)}`);
    } finally {
      setMerging(false);
    }
  };

  return html`
    <article class="claim" data-claim-id=${view.id} data-version=${view.version} aria-labelledby="claim-text">
      <p class="crumbs"><a href="/" data-nav>← Board</a></p>
      <header class="claim__header">
        <span class="state-badge" data-state=${shown.state}>${STATE_LABEL[shown.state]}</span>
        <h2 id="claim-text" class="claim__text">${shown.text}</h2>
        <p class="claim__by">
          ${shown.claimant ? html`Claimant: <strong id="claim-claimant">${shown.claimant}</strong> · ` : null}
          Assignee: <strong id="claim-assignee">${shown.assignee ?? 'nobody'}</strong> · ${changedAgo(shown.updatedAt)} · version ${shown.version}
        </p>
        ${shown.tags.length ? html`<p>${shown.tags.map((t) => html`<span class="tag">#${t}</span> `)}</p>` : null}
      </header>

      ${message ? html`<p class="message" role="status" id="claim-message">${message}</p>` : null}
      ${problem ? html`<p class="problem" role="alert">${problem}</p>` : null}

      <section class="panel" aria-labelledby="h-travel">
        <h3 id="h-travel">Time travel</h3>
        <div class="travel">
          <button type="button" id="travel-prev" disabled=${at <= 1} onClick=${() => navigate(claimPath(id, at - 1), true)}>← Older</button>
          <label for="travel-range" class="sr-only">Version</label>
          <input id="travel-range" type="range" min="1" max=${latest} value=${at} onChange=${(e: Event) => {
            const v = Number((e.target as HTMLInputElement).value);
            navigate(v === latest ? claimPath(id) : claimPath(id, v), true);
          }} />
          <button type="button" id="travel-next" disabled=${at >= latest} onClick=${() => navigate(at + 1 >= latest ? claimPath(id) : claimPath(id, at + 1), true)}>Newer →</button>
          <span id="travel-label">${past ? `Showing version ${at} of ${latest}, as it was ${when(past.updatedAt)}` : `Latest version (${latest})`}</span>
          ${past ? html`<a href=${claimPath(id)} data-nav id="travel-latest">Back to the latest</a>` : null}
        </div>
      </section>

      ${past
        ? html`<p class="muted">Actions are offered on the latest version only.</p>`
        : html`<section class="panel" aria-labelledby="h-actions"><h3 id="h-actions">What you can do</h3><${Actions} claim=${view} allowed=${allowed} onDone=${done} /></section>`}
      ${past ? null : html`<${PossibleDuplicates} id=${id} version=${view.version} busy=${merging} onMerge=${allowed.includes('merge') ? mergeInto : undefined} />`}

      <div class="claim__grid">
        <section class="panel" aria-labelledby="h-verdict">
          <h3 id="h-verdict">Verdict</h3>
          ${shown.publishedVerdict
            ? html`<div id="published-verdict" class="verdict">
                <p><span class="badge badge--${shown.publishedVerdict.rating}">${RATING_LABELS[shown.publishedVerdict.rating]}</span>
                ${shown.state === 'published' ? ' published' : shown.state === 'retracted' ? ' retracted' : ' previously published (not public now)'} ${when(shown.publishedVerdict.publishedAt)}</p>
                <p>${shown.publishedVerdict.rationale}</p>
                ${shown.publishedVerdict.corrections.length
                  ? html`<h4>Corrections</h4><ol>${shown.publishedVerdict.corrections.map((c) => html`<li>${when(c.correctedAt)}: ${c.note} (${RATING_LABELS[c.previousRating]} → ${RATING_LABELS[c.rating]})</li>`)}</ol>`
                  : null}
              </div>`
            : html`<p class="muted">Nothing published.</p>`}
          ${shown.verdictDraft
            ? html`<div id="verdict-draft" class="verdict verdict--draft"><p>Draft: <span class="badge badge--${shown.verdictDraft.rating}">${RATING_LABELS[shown.verdictDraft.rating]}</span> by ${shown.verdictDraft.author}</p><p>${shown.verdictDraft.rationale}</p></div>`
            : null}
          ${shown.pendingCorrection
            ? html`<p id="pending-correction">Pending correction by ${shown.pendingCorrection.proposedBy}: ${RATING_LABELS[shown.pendingCorrection.rating]} — ${shown.pendingCorrection.note}</p>`
            : null}
          ${shown.retraction ? html`<p class="problem">Retracted: ${shown.retraction.reason}</p>` : null}
          ${shown.rejection ? html`<p>Rejected: ${shown.rejection.reason}</p>` : null}
          ${shown.changesRequested ? html`<p>Changes requested: ${shown.changesRequested.reason}</p>` : null}
          ${shown.reopened ? html`<p>Reopened: ${shown.reopened.reason}</p>` : null}
          ${shown.mergedInto ? html`<p>Merged into <a href=${claimPath(shown.mergedInto)} data-nav>${shown.mergedInto}</a></p>` : null}
        </section>

        <section class="panel" aria-labelledby="h-evidence">
          <h3 id="h-evidence">Evidence (${shown.evidence.length})</h3>
          ${shown.evidence.length === 0
            ? html`<p class="muted">No evidence yet.</p>`
            : html`<ul class="evidence" id="evidence">${shown.evidence.map(
                (e) => html`<li><span class="stance stance--${e.stance}">${e.stance}</span> ${e.summary}
                  ${e.url ? html` <a href=${safeUrl(e.url)} rel="noopener noreferrer nofollow" target="_blank">${e.url}</a>` : null}
                  <span class="muted"> · ${e.addedBy}, ${when(e.addedAt)}</span></li>`,
              )}</ul>`}
        </section>

        <section class="panel" aria-labelledby="h-appearances">
          <h3 id="h-appearances">Appearances (${shown.appearances.length})</h3>
          ${shown.appearances.length === 0
            ? html`<p class="muted">None recorded.</p>`
            : html`<ul id="appearances">${shown.appearances.map(
                (a) => html`<li>${a.outlet ?? ''} ${a.title ? html`<em>${a.title}</em>` : null} ${a.url ? html`<a href=${safeUrl(a.url)} rel="noopener noreferrer nofollow" target="_blank">${a.url}</a>` : null}
                  ${a.publishedAt ? html`<span class="muted"> · ${a.publishedAt}</span>` : null}${a.excerpt ? html`<blockquote>${a.excerpt}</blockquote>` : null}</li>`,
              )}</ul>`}
        </section>

        <section class="panel" aria-labelledby="h-notes">
          <h3 id="h-notes">Notes (${shown.notes.length})</h3>
          ${shown.notes.length === 0
            ? html`<p class="muted">No notes.</p>`
            : html`<ul id="notes">${shown.notes.map((n) => html`<li>${n.body} <span class="muted">· ${n.author}, ${when(n.createdAt)}</span></li>`)}</ul>`}
        </section>
      </div>

      <${History} id=${id} events=${events} at=${at} />
      <${VerifyClaim} id=${id} />
      <${ClaimReviewPreview} id=${id} version=${view.version} />
    </article>
  `;
}

/** Only http(s) links are made clickable; anything else is shown as text by the caller. */
function safeUrl(url: string): string | undefined {
  return /^https?:\/\//i.test(url) ? url : undefined;
}

function History({ id, events, at }: { id: string; events: EventRecord[]; at: number }) {
  return html`
    <section class="panel" aria-labelledby="h-history">
      <h3 id="h-history">History (${events.length} events)</h3>
      <div class="table-wrap" tabindex="0" role="region" aria-label="History">
        <table class="history" id="history">
          <thead><tr><th scope="col">Version</th><th scope="col">What</th><th scope="col">Who</th><th scope="col">When</th><th scope="col">Position</th><th scope="col">Hash</th></tr></thead>
          <tbody>
            ${events.map(
              (e) => html`<tr data-version=${e.version} class=${e.version === at ? 'is-current' : ''} aria-current=${e.version === at ? 'true' : undefined}>
                <td><a href=${claimPath(id, e.version)} data-nav>v${e.version}</a></td>
                <td>${e.type}</td>
                <td>${e.actor}${e.actorRole ? html` <span class="muted">(${e.actorRole})</span>` : null}</td>
                <td><time dateTime=${e.recordedAt}>${when(e.recordedAt)}</time></td>
                <td>${e.position ?? '…'}</td>
                <td><code title=${e.hash}>${e.hash.slice(0, 12)}…</code></td>
              </tr>`,
            )}
          </tbody>
        </table>
      </div>
    </section>
  `;
}

function VerifyClaim({ id }: { id: string }) {
  const { session } = useDesk();
  const [result, setResult] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const verify = async () => {
    setBusy(true);
    try {
      const r = await session.client.verify({ claimId: id });
      setResult(r.ok ? `Verified: ${r.checked} events, hash chain and projection intact.` : `BROKEN: ${JSON.stringify(r.firstBroken)}`);
    } catch (err) {
      setResult(`Verify refused: ${describeProblem(err)}`);
    } finally {
      setBusy(false);
    }
  };
  return html`
    <section class="panel" aria-labelledby="h-verify">
      <h3 id="h-verify">Verification</h3>
      <button type="button" id="verify-claim" onClick=${verify} disabled=${busy}>${busy ? 'Verifying…' : 'Verify this claim'}</button>
      ${result ? html`<p id="verify-result" role="status">${result}</p>` : null}
    </section>
  `;
}

function ClaimReviewPreview({ id, version }: { id: string; version: number }) {
  const { session } = useDesk();
  const [text, setText] = useState<string>('');
  useEffect(() => {
    session.client.claimReview(id).then(
      (review) => setText(JSON.stringify(review, null, 2)),
      (err: unknown) => setText(`No ClaimReview: ${describeProblem(err)}`),
    );
  }, [id, version, session]);
  return html`
    <section class="panel" aria-labelledby="h-review">
      <h3 id="h-review">ClaimReview preview</h3>
      <pre class="json" id="claim-review" tabindex="0">${text}</pre>
    </section>
  `;
}
