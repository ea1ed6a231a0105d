/**
 * The steps the caller may take on a claim, offered exactly as GET /claims/:id/allowed-steps
 * lists them: one form per step (reasons where the step takes one, the merge target picked
 * by search, the assignee from the user directory). Every write sends If-Match; a 412
 * reloads the claim and says so; any other refusal shows the problem's detail.
 */
import { useEffect, useState } from 'preact/hooks';
import { ProblemError, type ClaimView } from '@claimtrail/client';
import type { ClaimStep } from '@claimtrail/domain';
import { html } from './html.ts';
import { useDesk } from './context.ts';
import { describeProblem } from './session.ts';
import { RATINGS, RATING_LABELS, STATE_LABEL } from './format.ts';

interface StepUi {
  segment: string;
  label: string;
  /** Fields of the form; none = one button. */
  fields?: readonly Field[];
  danger?: boolean;
}
type Field =
  | { name: string; label: string; kind: 'text' | 'textarea' | 'url'; required: boolean }
  | { name: string; label: string; kind: 'select'; options: readonly [string, string][]; required: boolean };

const REASON: Field = { name: 'reason', label: 'Reason', kind: 'textarea', required: true };
const RATING_OPTIONS = RATINGS.map((r) => [r, RATING_LABELS[r]!] as [string, string]);

// `escalate` is the deadline watcher's, never a person's: no form for it.
export const STEP_UI: Record<Exclude<ClaimStep, 'submit_claim' | 'merge' | 'assign' | 'escalate'>, StepUi> = {
  triage: { segment: 'triage', label: 'Triage' },
  reject: { segment: 'reject', label: 'Reject', fields: [REASON], danger: true },
  add_evidence: {
    segment: 'evidence',
    label: 'Add evidence',
    fields: [
      { name: 'summary', label: 'Summary', kind: 'textarea', required: true },
      { name: 'stance', label: 'Stance', kind: 'select', options: [['supports', 'Supports'], ['refutes', 'Refutes'], ['context', 'Context']], required: true },
      { name: 'url', label: 'Source URL', kind: 'url', required: false },
    ],
  },
  add_note: { segment: 'notes', label: 'Add note', fields: [{ name: 'body', label: 'Note', kind: 'textarea', required: true }] },
  draft_verdict: {
    segment: 'verdict',
    label: 'Draft verdict',
    fields: [
      { name: 'rating', label: 'Rating', kind: 'select', options: RATING_OPTIONS, required: true },
      { name: 'rationale', label: 'Rationale', kind: 'textarea', required: true },
    ],
  },
  submit_for_review: { segment: 'submit', label: 'Submit for review' },
  request_changes: { segment: 'request-changes', label: 'Request changes', fields: [REASON] },
  publish: { segment: 'publish', label: 'Publish' },
  reopen: { segment: 'reopen', label: 'Reopen', fields: [REASON] },
  correct: {
    segment: 'correct',
    label: 'Correct',
    fields: [
      { name: 'note', label: 'Correction note', kind: 'textarea', required: true },
      { name: 'rating', label: 'New rating (optional)', kind: 'select', options: [['', 'unchanged'], ...RATING_OPTIONS], required: false },
      { name: 'rationale', label: 'New rationale (optional)', kind: 'textarea', required: false },
    ],
  },
  approve_correction: { segment: 'approve-correction', label: 'Approve correction' },
  reject_correction: { segment: 'reject-correction', label: 'Reject correction', fields: [REASON] },
  retract: { segment: 'retract', label: 'Retract', fields: [REASON], danger: true },
};

export interface ActionResult {
  view?: ClaimView;
  stale?: boolean;
}

export function Actions({ claim, allowed, onDone }: { claim: ClaimView; allowed: readonly ClaimStep[]; onDone(result: ActionResult, message: string): void }) {
  const { session } = useDesk();
  const [open, setOpen] = useState<ClaimStep | null>(null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);

  async function run(segment: string, body: Record<string, unknown>, label: string): Promise<void> {
    setBusy(true);
    setProblem(null);
    try {
      const view = await session.client.step(claim.id, segment as never, body, { ifMatch: claim.version });
      setOpen(null);
      onDone({ view }, `${label}: done. The claim is now ${STATE_LABEL[view.state] ?? view.state}.`);
    } catch (err) {
      if (err instanceof ProblemError && err.status === 412) {
        setOpen(null);
        onDone({ stale: true }, 'Someone changed this claim while you were looking at it: it has been reloaded. Check it and try again.');
      } else {
        setProblem(`${label} refused: ${describeProblem(err)}`);
      }
    } finally {
      setBusy(false);
    }
  }

  const offered = allowed.filter((step) => step !== 'submit_claim');
  if (offered.length === 0) return html`<p class="muted" id="no-actions">Nothing you can do on this claim now.</p>`;

  return html`
    <div class="actions" id="actions">
      <div class="actions__buttons" role="group" aria-label="Steps you can take">
        ${offered.map(
          (step) => html`<button
            type="button"
            class="step-button ${open === step ? 'is-open' : ''}"
            data-step=${step}
            aria-expanded=${open === step}
            onClick=${() => {
              setProblem(null);
              setOpen(open === step ? null : step);
            }}
          >${label(step)}</button>`,
        )}
      </div>
      ${problem ? html`<p class="problem" role="alert" id="action-problem">${problem}</p>` : null}
      ${open === 'merge'
        ? html`<${MergeForm} claim=${claim} busy=${busy} onSubmit=${(into: string) => run('merge', { into }, 'Merge')} />`
        : open === 'assign'
          ? html`<${AssignForm} claim=${claim} busy=${busy} onSubmit=${(assignee: string) => run('assign', { assignee }, 'Assign')} />`
          : open
            ? html`<${StepForm} step=${open} claim=${claim} busy=${busy} onSubmit=${(body: Record<string, unknown>) => run(STEP_UI[open as keyof typeof STEP_UI].segment, body, label(open))} />`
            : null}
    </div>
  `;
}

function label(step: ClaimStep): string {
  if (step === 'merge') return 'Merge into…';
  if (step === 'assign') return 'Assign…';
  return STEP_UI[step as keyof typeof STEP_UI]?.label ?? step;
}

function StepForm({ step, claim, busy, onSubmit }: { step: ClaimStep; claim: ClaimView; busy: boolean; onSubmit(body: Record<string, unknown>): void }) {
  const ui = STEP_UI[step as keyof typeof STEP_UI];
  const submit = (event: Event) => {
    event.preventDefault();
    const data = new FormData(event.target as HTMLFormElement);
    const body: Record<string, unknown> = {};
    for (const field of ui.fields ?? []) {
      const value = String(data.get(field.name) ?? '').trim();
      if (value || field.required) body[field.name] = value;
    }
    if (step === 'approve_correction') body.correctionId = claim.pendingCorrection?.id;
    onSubmit(body);
  };
  return html`
    <form class="step-form" data-form=${step} onSubmit=${submit}>
      ${step === 'approve_correction' && claim.pendingCorrection
        ? html`<p>Proposed: <strong>${RATING_LABELS[claim.pendingCorrection.rating] ?? claim.pendingCorrection.rating}</strong> — ${claim.pendingCorrection.rationale}<br />Note: ${claim.pendingCorrection.note}</p>`
        : null}
      ${(ui.fields ?? []).map((field) => {
        const id = `f-${step}-${field.name}`;
        return html`<div class="field">
          <label for=${id}>${field.label}</label>
          ${field.kind === 'select'
            ? html`<select id=${id} name=${field.name} required=${field.required}>${field.options.map(([value, text]) => html`<option value=${value}>${text}</option>`)}</select>`
            : field.kind === 'textarea'
              ? html`<textarea id=${id} name=${field.name} required=${field.required} rows="3"></textarea>`
              : html`<input id=${id} name=${field.name} type=${field.kind} required=${field.required} />`}
        </div>`;
      })}
      <button type="submit" class=${ui.danger ? 'danger' : 'primary'} disabled=${busy}>${busy ? 'Working…' : ui.label}</button>
    </form>
  `;
}

function MergeForm({ claim, busy, onSubmit }: { claim: ClaimView; busy: boolean; onSubmit(into: string): void }) {
  const { session } = useDesk();
  const [results, setResults] = useState<ClaimView[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const find = async (event: Event) => {
    event.preventDefault();
    const q = String(new FormData(event.target as HTMLFormElement).get('q') ?? '').trim();
    setProblem(null);
    try {
      const page = await session.client.listClaims({ q, limit: 20, state: ['submitted', 'triaged', 'in_research', 'in_review', 'published'] } as never);
      setResults((page.items as ClaimView[]).filter((c) => c.id !== claim.id));
    } catch (err) {
      setProblem(describeProblem(err));
    }
  };
  return html`
    <div class="step-form" data-form="merge">
      <form role="search" onSubmit=${find} class="inline-form">
        <label for="merge-q">Find the claim to merge into</label>
        <input id="merge-q" name="q" type="search" maxlength="200" required />
        <button type="submit">Find</button>
      </form>
      ${problem ? html`<p class="problem" role="alert">${problem}</p>` : null}
      ${results === null
        ? null
        : results.length === 0
          ? html`<p class="muted">No other claim matches.</p>`
          : html`<ul class="pick-list" aria-label="Merge targets">
              ${results.map(
                (target) => html`<li>
                  <span class="pick-list__text">${target.text}</span>
                  <span class="muted"> · ${STATE_LABEL[target.state]}</span>
                  <button type="button" data-merge-into=${target.id} disabled=${busy} onClick=${() => onSubmit(target.id)}>Merge into this</button>
                </li>`,
              )}
            </ul>`}
    </div>
  `;
}

function AssignForm({ claim, busy, onSubmit }: { claim: ClaimView; busy: boolean; onSubmit(assignee: string): void }) {
  const { session } = useDesk();
  const [people, setPeople] = useState<{ id: string; name: string; role: string; active: boolean }[] | null>(null);
  const [filter, setFilter] = useState('');
  useEffect(() => {
    session.get<{ items: { id: string; name: string; role: string; active: boolean }[] }>('/users').then(
      (r) => setPeople(r.items.filter((u) => u.active && (u.role === 'fact_checker' || u.role === 'admin'))),
      () => setPeople([]),
    );
  }, [session]);
  const shown = (people ?? []).filter((p) => `${p.id} ${p.name}`.toLowerCase().includes(filter.toLowerCase()));
  return html`
    <div class="step-form" data-form="assign">
      <label for="people-filter">Who researches it? (people who can research: fact-checkers and admins)</label>
      <input id="people-filter" type="search" value=${filter} onInput=${(e: Event) => setFilter((e.target as HTMLInputElement).value)} placeholder="Filter by name" />
      <ul class="pick-list" aria-label="People">
        ${shown.map(
          (person) => html`<li>
            <span class="pick-list__text">${person.name}</span> <span class="muted">${person.id} · ${person.role.replace('_', '-')}</span>
            <button type="button" data-assign=${person.id} disabled=${busy || person.id === claim.assignee} onClick=${() => onSubmit(person.id)}>
              ${person.id === claim.assignee ? 'Assigned' : 'Assign'}
            </button>
          </li>`,
        )}
      </ul>
    </div>
  `;
}
