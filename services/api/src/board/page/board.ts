/**
 * The board as a desk: one column per state; a search box, filters and "my queue" kept in
 * the URL; counts that follow the filters; cards with the whole text, the verdict as it
 * stands, the assignee and how long since the claim last changed. Live over the board
 * channel; with filters on, the matching claims come from GET /claims and live events
 * are matched here.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Board, BoardSnapshotMessage, ClaimList, ClaimStatus, ClaimView, EventMessage } from '@claimtrail/client';
import { html } from './html.ts';
import { useDesk } from './context.ts';
import { describeProblem, isRefusal, subscribeLive } from './session.ts';
import { claimPath, navigate } from './router.ts';
import { STATES, badgeText, changedAgo, verdictBadge, when } from './format.ts';

interface Filters {
  q: string;
  tag: string;
  assignee: string;
  mine: boolean;
  /** Only claims past their state's deadline (GET /claims?overdue=true). */
  overdue: boolean;
  /** One state only (the "show all" of a column whose older claims the board leaves out). */
  state: ClaimStatus | '';
}

/** Where a claim was before an event that does not name its origin (`data.from`). */
const FROM_BY_EVENT: Record<string, ClaimStatus> = {
  ClaimSubmittedForReview: 'in_research',
  ChangesRequested: 'in_review',
  VerdictPublished: 'in_review',
  ClaimReopened: 'published',
  ClaimRetracted: 'published',
};
/** With filters on, at most this many matching claims are loaded (pages of 100). */
const FILTERED_CAP = 1000;
/** The board's own reads carry no deadlines: overdue claims are listed apart, this often. */
const OVERDUE_REFRESH_MS = 60_000;

/** The ids of overdue claims (GET /claims?overdue=true, cards), at most FILTERED_CAP. */
async function overdueIds(session: ReturnType<typeof useDesk>['session']): Promise<Set<string>> {
  const ids = new Set<string>();
  let cursor: string | undefined;
  do {
    const page = (await session.client.listClaims({ overdue: true, view: 'card', limit: 100, ...(cursor ? { cursor } : {}) } as never)) as ClaimList;
    for (const claim of page.items) ids.add(claim.id);
    cursor = page.nextCursor ?? undefined;
  } while (cursor && ids.size < FILTERED_CAP);
  return ids;
}

function filtersOf(query: URLSearchParams): Filters {
  const state = query.get('state') ?? '';
  return {
    q: query.get('q') ?? '',
    tag: query.get('tag') ?? '',
    assignee: query.get('assignee') ?? '',
    mine: query.get('mine') === '1',
    overdue: query.get('overdue') === '1',
    state: STATES.some((s) => s.state === state) ? (state as ClaimStatus) : '',
  };
}

function filtering(f: Filters): boolean {
  return Boolean(f.q || f.tag || f.assignee || f.mine || f.overdue || f.state);
}

function urlOf(f: Filters): string {
  const query = new URLSearchParams();
  if (f.q) query.set('q', f.q);
  if (f.tag) query.set('tag', f.tag);
  if (f.assignee) query.set('assignee', f.assignee);
  if (f.mine) query.set('mine', '1');
  if (f.overdue) query.set('overdue', '1');
  if (f.state) query.set('state', f.state);
  const text = query.toString();
  return text ? `/?${text}` : '/';
}

export function BoardView({ query }: { query: URLSearchParams }) {
  const { session, me, onRefused } = useDesk();
  const filters = filtersOf(query);
  const key = urlOf(filters);
  const [claims, setClaims] = useState<Map<string, ClaimView>>(new Map());
  const [counts, setCounts] = useState<Map<ClaimStatus, number>>(new Map());
  const [capped, setCapped] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [changed, setChanged] = useState<string | null>(null);
  const [users, setUsers] = useState<{ id: string; name: string; role: string; active: boolean }[]>([]);
  const [now, setNow] = useState(Date.now());
  const [overdue, setOverdue] = useState<Set<string>>(new Set());
  const overdueNow = useRef<Set<string>>(new Set());
  const search = useRef<HTMLInputElement>(null);

  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 30_000);
    session.get<{ items: { id: string; name: string; role: string; active: boolean }[] }>('/users').then((r) => setUsers(r.items), () => undefined);
    return () => clearInterval(timer);
  }, [session]);

  // Deadlines move with the clock, not only with events: the overdue list is read again now and then.
  useEffect(() => {
    let live = true;
    const refresh = () =>
      overdueIds(session).then(
        (ids) => {
          if (!live) return;
          overdueNow.current = ids;
          setOverdue(ids);
        },
        () => undefined,
      );
    void refresh();
    const timer = setInterval(refresh, OVERDUE_REFRESH_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [session]);

  useEffect(() => {
    let live = true;
    const claimsNow = new Map<string, ClaimView>();
    const countsNow = new Map<ClaimStatus, number>();
    const assigneeWanted = filters.mine ? (me?.id ?? null) : filters.assignee || null;
    const publish = () => {
      if (!live) return;
      setClaims(new Map(claimsNow));
      setCounts(new Map(countsNow));
    };
    const applySnapshot = (board: Board) => {
      claimsNow.clear();
      countsNow.clear();
      for (const column of board.states) {
        countsNow.set(column.state, column.count);
        for (const claim of column.claims) claimsNow.set(claim.id, claim as ClaimView);
      }
      publish();
    };
    // State, tag and assignee are checked exactly; the full-text search only the server can
    // answer, so a claim already found stays, and a new one joins when its words match.
    const matchesExactly = (claim: ClaimView) => {
      if (filters.state && claim.state !== filters.state) return false;
      if (filters.tag && !claim.tags.some((t) => t.toLowerCase() === filters.tag.toLowerCase())) return false;
      if ((filters.mine || filters.assignee) && claim.assignee !== assigneeWanted) return false;
      if (filters.overdue && !overdueNow.current.has(claim.id)) return false;
      return true;
    };
    const wordsMatch = (claim: ClaimView) => {
      const haystack = `${claim.text} ${claim.claimant ?? ''}`.toLowerCase();
      return filters.q.toLowerCase().split(/\s+/).filter(Boolean).every((word) => haystack.includes(word));
    };
    const applyEvent = (message: EventMessage) => {
      const claim = message.claim;
      if (!claim) return;
      const known = claimsNow.get(claim.id);
      if (known && known.version >= claim.version) return;
      // A new state or a reassignment starts a new period: the claim is not overdue any more.
      if (known && (known.state !== claim.state || known.assignee !== claim.assignee) && overdueNow.current.delete(claim.id)) {
        setOverdue(new Set(overdueNow.current));
      }
      if (filtering(filters)) {
        if (!matchesExactly(claim)) claimsNow.delete(claim.id);
        else if (known || !filters.q || wordsMatch(claim)) claimsNow.set(claim.id, claim);
        countsNow.clear();
        for (const c of claimsNow.values()) countsNow.set(c.state, (countsNow.get(c.state) ?? 0) + 1);
      } else {
        const before: ClaimStatus | null = known
          ? known.state
          : message.version === 1
            ? null
            : ((message.event.data as { from?: ClaimStatus } | null)?.from ?? FROM_BY_EVENT[message.event.type] ?? claim.state);
        claimsNow.set(claim.id, claim);
        if (before !== claim.state) {
          if (before) countsNow.set(before, Math.max(0, (countsNow.get(before) ?? 0) - 1));
          countsNow.set(claim.state, (countsNow.get(claim.state) ?? 0) + 1);
        }
      }
      publish();
      setChanged(claim.id);
    };
    const fail = (err: unknown) => {
      if (!live) return;
      if (isRefusal(err) && err.status === 401) onRefused(err.detail);
      else setError(describeProblem(err));
    };

    async function loadFiltered(): Promise<void> {
      if (filters.mine && !me) return;
      claimsNow.clear();
      let cursor: string | undefined;
      do {
        const page = await session.client.listClaims({
          limit: 100,
          ...(filters.q ? { q: filters.q } : {}),
          ...(filters.tag ? { tag: filters.tag } : {}),
          ...(assigneeWanted ? { assignee: assigneeWanted } : {}),
          ...(filters.state ? { state: [filters.state] } : {}),
          ...(filters.overdue ? { overdue: true } : {}),
          ...(cursor ? { cursor } : {}),
        } as never) as ClaimList;
        for (const claim of page.items) claimsNow.set(claim.id, claim as ClaimView);
        cursor = page.nextCursor ?? undefined;
      } while (cursor && claimsNow.size < FILTERED_CAP && live);
      setCapped(Boolean(cursor));
      countsNow.clear();
      for (const c of claimsNow.values()) countsNow.set(c.state, (countsNow.get(c.state) ?? 0) + 1);
      publish();
    }

    setError(null);
    const subscription = (async () => {
      try {
        if (filtering(filters)) await loadFiltered();
        else applySnapshot(await session.client.board());
      } catch (err) {
        fail(err);
        if (isRefusal(err) && err.status === 401) return null;
      }
      if (!live) return null;
      return subscribeLive(
        session.client.live,
        { channel: 'board' },
        {
          onSnapshot: (message) => {
            if (!filtering(filters)) applySnapshot((message as BoardSnapshotMessage<Board>).board);
          },
          onEvent: applyEvent,
          onError: (message) => console.warn('live error', message),
        },
      );
    })();
    return () => {
      live = false;
      void subscription.then((unsubscribe) => unsubscribe?.());
    };
    // `key` is the filters' URL: a change of filters loads again.
  }, [key, me?.id, session]);

  const setFilters = (next: Partial<Filters>) => navigate(urlOf({ ...filters, ...next }), true);
  const tags = useMemo(() => {
    const all = new Set<string>();
    for (const claim of claims.values()) for (const tag of claim.tags) all.add(tag);
    if (filters.tag) all.add(filters.tag);
    return [...all].sort((a, b) => a.localeCompare(b));
  }, [claims, filters.tag]);
  const assignees = useMemo(() => {
    const ids = new Set(users.filter((u) => u.role === 'fact_checker' || u.role === 'admin').map((u) => u.id));
    for (const claim of claims.values()) if (claim.assignee) ids.add(claim.assignee);
    if (filters.assignee) ids.add(filters.assignee);
    return [...ids].sort((a, b) => a.localeCompare(b));
  }, [users, claims, filters.assignee]);
  const names = useMemo(() => new Map(users.map((u) => [u.id, u.name])), [users]);

  const total = STATES.reduce((sum, { state }) => sum + (counts.get(state) ?? 0), 0);
  const on = filtering(filters);

  return html`
    <section class="desk-bar" aria-label="Search and filters">
      <form
        class="search"
        role="search"
        onSubmit=${(event: Event) => {
          event.preventDefault();
          setFilters({ q: search.current?.value.trim() ?? '' });
        }}
      >
        <label for="search" class="control__label">Search</label>
        <input id="search" ref=${search} type="search" defaultValue=${filters.q} key=${filters.q} placeholder="Words in the claim or claimant" maxlength="200" />
        <button type="submit">Search</button>
      </form>
      <label class="control">
        <span class="control__label">Tag</span>
        <select id="filter-tag" value=${filters.tag} onChange=${(e: Event) => setFilters({ tag: (e.target as HTMLSelectElement).value })}>
          <option value="">All tags</option>
          ${tags.map((tag) => html`<option value=${tag}>${tag}</option>`)}
        </select>
      </label>
      <label class="control">
        <span class="control__label">Assignee</span>
        <select id="filter-assignee" value=${filters.assignee} onChange=${(e: Event) => setFilters({ assignee: (e.target as HTMLSelectElement).value, mine: false })}>
          <option value="">Everyone</option>
          ${assignees.map((id) => html`<option value=${id}>${id}</option>`)}
        </select>
      </label>
      <label class="control control--check">
        <input id="filter-mine" type="checkbox" checked=${filters.mine} onChange=${(e: Event) => setFilters({ mine: (e.target as HTMLInputElement).checked, assignee: '' })} />
        <span>My queue</span>
      </label>
      <label class="control control--check">
        <input id="filter-overdue" type="checkbox" checked=${filters.overdue} onChange=${(e: Event) => setFilters({ overdue: (e.target as HTMLInputElement).checked })} />
        <span>Overdue only</span>
      </label>
      ${filters.state ? html`<span class="state-filter">Only ${STATES.find((s) => s.state === filters.state)?.label}</span>` : null}
      ${on ? html`<button type="button" class="link-button" id="clear-filters" onClick=${() => navigate('/', true)}>Clear filters</button>` : null}
      <p class="desk-bar__total" aria-live="polite"><span id="total">${total}</span> ${on ? 'matching' : ''} claims${capped ? ` (first ${FILTERED_CAP})` : ''}</p>
    </section>
    ${error ? html`<p class="problem" role="alert">${error}</p>` : null}
    <div id="board" class="board" aria-label="Claims by state">
      ${STATES.filter(({ state }) => !filters.state || state === filters.state).map(({ state, label }) => {
        const inState = [...claims.values()].filter((c) => c.state === state).sort((a, b) => Date.parse(b.updatedAt) - Date.parse(a.updatedAt));
        const count = counts.get(state) ?? 0;
        const hidden = count - inState.length;
        return html`
          <section class="column ${inState.length === 0 ? 'column--empty' : ''}" data-state=${state} aria-labelledby=${`col-${state}`}>
            <header class="column__header">
              <h2 class="column__title" id=${`col-${state}`}>${label}</h2>
              <span class="column__count" aria-label=${`${label} count`}>${count}</span>
            </header>
            <ol class="column__list" aria-label=${`${label} claims`}>
              ${inState.map((claim) => html`<${Card} key=${claim.id} claim=${claim} now=${now} changed=${changed === claim.id} names=${names} overdue=${overdue.has(claim.id)} />`)}
            </ol>
            ${!on && hidden > 0 ? html`<p class="column__more"><a href=${urlOf({ ...filters, state })} data-nav>+ ${hidden} older: show all ${count}</a></p>` : null}
          </section>
        `;
      })}
    </div>
  `;
}

function Card({ claim, now, changed, names, overdue }: { claim: ClaimView; now: number; changed: boolean; names: Map<string, string>; overdue: boolean }) {
  const badge = verdictBadge(claim);
  return html`
    <li class="card ${changed ? 'card--changed' : ''}" data-claim-id=${claim.id} data-version=${claim.version}>
      <a class="card__text" href=${claimPath(claim.id)} data-nav>${claim.text}</a>
      <dl class="card__meta">
        ${claim.claimant ? html`<div class="card__row card__claimant"><dt>Claimant</dt><dd>${claim.claimant}</dd></div>` : null}
        ${claim.assignee ? html`<div class="card__row card__assignee"><dt>Assignee</dt><dd title=${names.get(claim.assignee) ?? ''}>${claim.assignee}</dd></div>` : null}
      </dl>
      <div class="card__footer">
        ${overdue ? html`<span class="badge badge--overdue" data-overdue="true">Overdue</span>` : null}
        ${badge ? html`<span class="badge badge--${badge.rating} badge--${badge.kind}">${badgeText(badge)}</span>` : null}
        ${claim.tags.map((tag) => html`<span class="tag">#${tag}</span>`)}
        <time class="card__age" dateTime=${claim.updatedAt} title=${`Last change ${when(claim.updatedAt)}`}>${changedAgo(claim.updatedAt, now)}</time>
      </div>
    </li>
  `;
}
