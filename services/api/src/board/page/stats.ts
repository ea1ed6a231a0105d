/**
 * Desk analytics (/desk/stats, editors, admins and auditors): GET /stats for a period —
 * time in each state, cycle time p50/p90, publications per week, rates, load per
 * fact-checker. Charts are inline SVG drawn with attributes (the CSP forbids inline style).
 */
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.ts';
import { useDesk } from './context.ts';
import { describeProblem, isRefusal } from './session.ts';
import { STATE_LABEL } from './format.ts';

export interface DeskStats {
  from: string;
  to: string;
  timeInState: { state: string; count: number; meanMs: number | null; p50Ms: number | null; p90Ms: number | null }[];
  cycleTime: { count: number; p50Ms: number | null; p90Ms: number | null };
  throughput: { weekStart: string; published: number }[];
  rates: { published: number; reopened: number; corrected: number; retracted: number; reopenRate: number | null; correctionRate: number | null; retractionRate: number | null };
  load: { user: string; assigned: number; published: number; openAtEnd: number }[];
}

/** Roles that may read GET /stats (it names each researcher's load). */
export const STATS_ROLES: readonly string[] = ['editor', 'admin', 'auditor'];

const DAY = 86_400_000;
const PERIODS = [
  { days: 7, label: 'Last 7 days' },
  { days: 30, label: 'Last 30 days' },
  { days: 90, label: 'Last 90 days' },
  { days: 365, label: 'Last year' },
];

/** "2 d 4 h", "5 h 12 min", "40 s": a duration said for people. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} h${min % 60 ? ` ${min % 60} min` : ''}`;
  const d = Math.floor(h / 24);
  return `${d} d${h % 24 ? ` ${h % 24} h` : ''}`;
}

function percent(rate: number | null): string {
  return rate === null ? '—' : `${(rate * 100).toFixed(1)} %`;
}

function isoDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

interface Bar {
  label: string;
  value: number;
  text: string;
}

/** A horizontal bar chart: one row per bar, the value's text after it. */
function HBars({ id, title, bars }: { id: string; title: string; bars: Bar[] }) {
  const max = Math.max(1, ...bars.map((b) => b.value));
  const row = 26;
  const labelW = 130;
  const barW = 330;
  const height = Math.max(row, bars.length * row) + 4;
  return html`
    <svg id=${id} class="chart" viewBox=${`0 0 ${labelW + barW + 130} ${height}`} width="100%" role="img" aria-label=${`${title}: ${bars.map((b) => `${b.label} ${b.text}`).join('; ') || 'no data'}`}>
      ${bars.map(
        (b, i) => html`<g class="chart__row">
          <text x=${labelW - 8} y=${i * row + 17} text-anchor="end" class="chart__label">${b.label}</text>
          <rect x=${labelW} y=${i * row + 4} height=${row - 8} width=${Math.max(b.value > 0 ? 2 : 0, (b.value / max) * barW)} rx="3" class="chart__bar"></rect>
          <text x=${labelW + Math.max(2, (b.value / max) * barW) + 6} y=${i * row + 17} class="chart__value">${b.text}</text>
        </g>`,
      )}
    </svg>
  `;
}

/** Vertical bars (publications per ISO week). */
function WeekBars({ weeks }: { weeks: DeskStats['throughput'] }) {
  const max = Math.max(1, ...weeks.map((w) => w.published));
  const h = 140;
  const step = 34;
  const width = Math.max(300, weeks.length * step + 20);
  return html`
    <svg id="chart-throughput" class="chart" viewBox=${`0 0 ${width} ${h + 40}`} width="100%" role="img" aria-label=${`Publications per week: ${weeks.map((w) => `week of ${w.weekStart.slice(0, 10)}: ${w.published}`).join('; ') || 'none'}`}>
      <line x1="10" y1=${h + 2} x2=${width - 10} y2=${h + 2} class="chart__axis"></line>
      ${weeks.map((w, i) => {
        const barH = (w.published / max) * (h - 20);
        const x = 14 + i * step;
        return html`<g class="chart__row">
          <rect x=${x} y=${h - barH} width=${step - 10} height=${barH} rx="3" class="chart__bar"></rect>
          <text x=${x + (step - 10) / 2} y=${h - barH - 4} text-anchor="middle" class="chart__value">${w.published}</text>
          <text x=${x + (step - 10) / 2} y=${h + 16} text-anchor="middle" class="chart__label chart__label--small">${w.weekStart.slice(5, 10)}</text>
        </g>`;
      })}
    </svg>
  `;
}

export function StatsView() {
  const { session, me, onRefused } = useDesk();
  const [to, setTo] = useState(() => isoDay(Date.now() + DAY));
  const [from, setFrom] = useState(() => isoDay(Date.now() - 90 * DAY));
  const [stats, setStats] = useState<DeskStats | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const allowed = me !== null && STATS_ROLES.includes(me.role);

  useEffect(() => {
    if (!allowed) return;
    let live = true;
    setProblem(null);
    const query = new URLSearchParams({ from: new Date(`${from}T00:00:00Z`).toISOString(), to: new Date(`${to}T00:00:00Z`).toISOString() });
    session.get<DeskStats>(`/stats?${query}`).then(
      (s) => live && setStats(s),
      (err: unknown) => {
        if (!live) return;
        if (isRefusal(err) && err.status === 401) onRefused(err.detail);
        else setProblem(describeProblem(err));
      },
    );
    return () => {
      live = false;
    };
  }, [from, to, allowed, session]);

  useEffect(() => {
    document.title = 'Desk analytics · claimtrail desk';
  }, []);

  if (!allowed) return html`<p class="muted" id="cannot-stats">Desk analytics are for editors, admins and auditors.</p>`;

  const valid = (value: string) => /^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(Date.parse(value));
  return html`
    <section class="stats" aria-labelledby="h-stats">
      <h2 id="h-stats">Desk analytics</h2>
      <form class="period" id="period" onSubmit=${(e: Event) => e.preventDefault()}>
        <label class="control"><span class="control__label">From</span>
          <input type="date" id="stats-from" value=${from} max=${to} onChange=${(e: Event) => {
            const v = (e.target as HTMLInputElement).value;
            if (valid(v)) setFrom(v);
          }} /></label>
        <label class="control"><span class="control__label">To (not included)</span>
          <input type="date" id="stats-to" value=${to} min=${from} onChange=${(e: Event) => {
            const v = (e.target as HTMLInputElement).value;
            if (valid(v)) setTo(v);
          }} /></label>
        <div class="period__quick" role="group" aria-label="Quick periods">
          ${PERIODS.map(
            (p) => html`<button type="button" data-days=${p.days} onClick=${() => {
              const end = Date.now() + DAY;
              setTo(isoDay(end));
              setFrom(isoDay(end - p.days * DAY));
            }}>${p.label}</button>`,
          )}
        </div>
      </form>
      ${problem ? html`<p class="problem" role="alert" id="stats-problem">${problem}</p>` : null}
      ${!stats
        ? html`<p class="muted">Loading…</p>`
        : html`
          <div class="stats__figures">
            <div class="figure" id="figure-cycle-p50"><span class="figure__value">${duration(stats.cycleTime.p50Ms)}</span><span class="figure__label">Cycle time p50 (submission to first publication)</span></div>
            <div class="figure" id="figure-cycle-p90"><span class="figure__value">${duration(stats.cycleTime.p90Ms)}</span><span class="figure__label">Cycle time p90</span></div>
            <div class="figure" id="figure-published"><span class="figure__value">${stats.rates.published}</span><span class="figure__label">Publications</span></div>
            <div class="figure"><span class="figure__value">${percent(stats.rates.reopenRate)}</span><span class="figure__label">Reopened (${stats.rates.reopened})</span></div>
            <div class="figure"><span class="figure__value">${percent(stats.rates.correctionRate)}</span><span class="figure__label">Corrected (${stats.rates.corrected})</span></div>
            <div class="figure"><span class="figure__value">${percent(stats.rates.retractionRate)}</span><span class="figure__label">Retracted (${stats.rates.retracted})</span></div>
          </div>
          <section class="panel" aria-labelledby="h-time-in-state">
            <h3 id="h-time-in-state">Time in each state (median of stays that ended in the period)</h3>
            <${HBars}
              id="chart-time-in-state"
              title="Median time in each state"
              bars=${stats.timeInState.map((t) => ({ label: STATE_LABEL[t.state as keyof typeof STATE_LABEL] ?? t.state, value: t.p50Ms ?? 0, text: `${duration(t.p50Ms)} (${t.count})` }))}
            />
            <div class="table-wrap" tabindex="0" role="region" aria-label="Time in each state">
              <table class="history" id="time-in-state">
                <thead><tr><th scope="col">State</th><th scope="col">Stays</th><th scope="col">Mean</th><th scope="col">p50</th><th scope="col">p90</th></tr></thead>
                <tbody>${stats.timeInState.map((t) => html`<tr data-state=${t.state}><td>${STATE_LABEL[t.state as keyof typeof STATE_LABEL] ?? t.state}</td><td>${t.count}</td><td>${duration(t.meanMs)}</td><td>${duration(t.p50Ms)}</td><td>${duration(t.p90Ms)}</td></tr>`)}</tbody>
              </table>
            </div>
          </section>
          <section class="panel" aria-labelledby="h-throughput">
            <h3 id="h-throughput">Publications per week</h3>
            ${stats.throughput.length ? html`<${WeekBars} weeks=${stats.throughput} />` : html`<p class="muted">No publications in the period.</p>`}
          </section>
          <section class="panel" aria-labelledby="h-load">
            <h3 id="h-load">Load per fact-checker</h3>
            ${stats.load.length === 0
              ? html`<p class="muted">No assignments in the period.</p>`
              : html`<div class="table-wrap" tabindex="0" role="region" aria-label="Load per fact-checker"><table class="history" id="load">
                  <thead><tr><th scope="col">Researcher</th><th scope="col">Assigned in the period</th><th scope="col">Verdicts published</th><th scope="col">Open at the end</th></tr></thead>
                  <tbody>${stats.load.map((l) => html`<tr data-user=${l.user}><td>${l.user}</td><td>${l.assigned}</td><td>${l.published}</td><td>${l.openAtEnd}</td></tr>`)}</tbody>
                </table></div>`}
          </section>`}
    </section>
  `;
}
