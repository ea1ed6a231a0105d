/**
 * The live board (GET /): one column per state, cards that move when claims change.
 * Plain DOM, no framework; talks to the API only through @claimtrail/client.
 */
import {
  ClaimtrailClient,
  ProblemError,
  type Board,
  type BoardSnapshotMessage,
  type ClaimStatus,
  type ClaimView,
  type EventMessage,
  type LiveStatus,
  type LiveSubscription,
} from '@claimtrail/client';

/** From /assets/board/config.json: the demo token, only for a browser on the service's own machine. */
interface PageConfig {
  demoToken?: string;
  demoRole?: string;
}

const STATES: readonly { state: ClaimStatus; label: string }[] = [
  { state: 'submitted', label: 'Submitted' },
  { state: 'triaged', label: 'Triaged' },
  { state: 'in_research', label: 'In research' },
  { state: 'in_review', label: 'In review' },
  { state: 'published', label: 'Published' },
  { state: 'rejected', label: 'Rejected' },
  { state: 'merged', label: 'Merged' },
  { state: 'retracted', label: 'Retracted' },
];

const RATING_LABELS: Record<string, string> = {
  true: 'True',
  mostly_true: 'Mostly true',
  mixed: 'Mixed',
  mostly_false: 'Mostly false',
  false: 'False',
  misleading: 'Misleading',
  unverifiable: 'Unverifiable',
};

/** Where a claim was before an event that does not name its origin (`data.from`). */
const FROM_BY_EVENT: Record<string, ClaimStatus> = {
  ClaimSubmittedForReview: 'in_research',
  ChangesRequested: 'in_review',
  VerdictPublished: 'in_review',
  ClaimReopened: 'published',
  ClaimRetracted: 'published',
};

/**
 * A pasted token is kept in sessionStorage: it survives a reload but not the tab, and is
 * never written to disk for the next visitor of a shared machine. The demo token is never
 * stored: it is asked for again on every load (and only a loopback visitor gets it).
 */
const TOKEN_KEY = 'claimtrail.token';
localStorage.removeItem(TOKEN_KEY); // tokens are never kept across sessions; drop one left there

async function loadConfig(): Promise<PageConfig> {
  try {
    const response = await fetch('/assets/board/config.json', { cache: 'no-store', credentials: 'same-origin' });
    if (!response.ok) return {};
    const body = (await response.json()) as PageConfig;
    return typeof body === 'object' && body !== null ? body : {};
  } catch {
    return {};
  }
}
const config = await loadConfig();

const $ = <T extends HTMLElement>(selector: string): T => {
  const el = document.querySelector<T>(selector);
  if (!el) throw new Error(`missing ${selector}`);
  return el;
};

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// --- state -------------------------------------------------------------------------------

const claims = new Map<string, ClaimView>();
/** Total per state as the server counts it (columns only hold the most recent claims). */
const counts = new Map<ClaimStatus, number>(STATES.map((s) => [s.state, 0]));
const filters = { tag: '', assignee: '' };

let token = sessionStorage.getItem(TOKEN_KEY) || config.demoToken || '';
const client = new ClaimtrailClient({ baseUrl: location.origin, token: () => token });
let subscription: LiveSubscription | null = null;

// --- rendering ---------------------------------------------------------------------------

const board = $<HTMLElement>('#board');
const columns = new Map<ClaimStatus, { root: HTMLElement; list: HTMLElement; count: HTMLElement; more: HTMLElement }>();

for (const { state, label } of STATES) {
  const root = el('section', 'column');
  root.dataset.state = state;
  const header = el('header', 'column__header');
  header.append(el('h2', 'column__title', label));
  const count = el('span', 'column__count', '0');
  count.setAttribute('aria-label', `${label} count`);
  header.append(count);
  const list = el('ol', 'column__list');
  const more = el('p', 'column__more');
  root.append(header, list, more);
  board.append(root);
  columns.set(state, { root, list, count, more });
}

function age(iso: string | null | undefined): string {
  if (!iso) return '';
  const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return 'just now';
  const minutes = seconds / 60;
  if (minutes < 60) return `${Math.floor(minutes)} min`;
  const hours = minutes / 60;
  if (hours < 48) return `${Math.floor(hours)} h`;
  return `${Math.floor(hours / 24)} d`;
}

function ratingOf(claim: ClaimView): { rating: string; draft: boolean } | null {
  if (claim.publishedVerdict) return { rating: claim.publishedVerdict.rating, draft: false };
  if (claim.verdictDraft) return { rating: claim.verdictDraft.rating, draft: true };
  return null;
}

function renderCard(claim: ClaimView): HTMLElement {
  const card = el('li', 'card');
  card.dataset.claimId = claim.id;
  card.dataset.version = String(claim.version);
  const text = el('p', 'card__text', claim.text);
  text.title = claim.text;
  card.append(text);

  const meta = el('dl', 'card__meta');
  const add = (term: string, value: string | null | undefined, cls: string) => {
    if (!value) return;
    const row = el('div', `card__row ${cls}`);
    row.append(el('dt', '', term), el('dd', '', value));
    meta.append(row);
  };
  add('Claimant', claim.claimant, 'card__claimant');
  add('Assignee', claim.assignee, 'card__assignee');
  card.append(meta);

  const footer = el('div', 'card__footer');
  const rating = ratingOf(claim);
  if (rating) {
    const badge = el('span', `badge badge--${rating.rating}`, RATING_LABELS[rating.rating] ?? rating.rating);
    if (rating.draft) {
      badge.classList.add('badge--draft');
      badge.title = 'Draft verdict';
    }
    footer.append(badge);
  }
  for (const tag of claim.tags.slice(0, 3)) footer.append(el('span', 'tag', `#${tag}`));
  const time = el('time', 'card__age', age(claim.createdAt));
  time.dateTime = claim.createdAt;
  time.title = `Created ${new Date(claim.createdAt).toLocaleString()}`;
  footer.append(time);
  card.append(footer);
  return card;
}

function visible(claim: ClaimView): boolean {
  if (filters.tag && !claim.tags.includes(filters.tag)) return false;
  if (filters.assignee && claim.assignee !== filters.assignee) return false;
  return true;
}

function updatedAt(claim: ClaimView): number {
  return new Date(claim.updatedAt).getTime();
}

function renderColumn(state: ClaimStatus): void {
  const column = columns.get(state);
  if (!column) return;
  const inState = [...claims.values()].filter((c) => c.state === state).sort((a, b) => updatedAt(b) - updatedAt(a));
  const shown = inState.filter(visible);
  const existing = new Map<string, HTMLElement>();
  for (const node of Array.from(column.list.children) as HTMLElement[]) {
    if (node.dataset.claimId) existing.set(node.dataset.claimId, node);
  }
  const nodes = shown.map((claim) => {
    const node = existing.get(claim.id);
    if (node && node.dataset.version === String(claim.version)) return node;
    return renderCard(claim);
  });
  column.list.replaceChildren(...nodes);
  const total = counts.get(state) ?? 0;
  const filtering = filters.tag || filters.assignee;
  column.count.textContent = filtering ? `${shown.length} / ${total}` : String(total);
  const hidden = total - inState.length;
  column.more.textContent = !filtering && hidden > 0 ? `+ ${hidden} older` : '';
  column.root.classList.toggle('column--empty', shown.length === 0);
}

function renderAll(): void {
  for (const { state } of STATES) renderColumn(state);
  renderFilters();
  $('#total').textContent = String([...counts.values()].reduce((a, b) => a + b, 0));
}

function renderFilters(): void {
  const tags = new Set<string>();
  const assignees = new Set<string>();
  for (const claim of claims.values()) {
    for (const tag of claim.tags) tags.add(tag);
    if (claim.assignee) assignees.add(claim.assignee);
  }
  fillSelect($<HTMLSelectElement>('#filter-tag'), tags, 'All tags', filters.tag);
  fillSelect($<HTMLSelectElement>('#filter-assignee'), assignees, 'Everyone', filters.assignee);
}

function fillSelect(select: HTMLSelectElement, values: Set<string>, all: string, current: string): void {
  const wanted = ['', ...[...values].sort((a, b) => a.localeCompare(b))];
  if (current && !values.has(current)) wanted.push(current);
  const have = Array.from(select.options).map((o) => o.value);
  if (have.join('\u0000') === wanted.join('\u0000')) return;
  select.replaceChildren(...wanted.map((v) => new Option(v || all, v, false, v === current)));
}

function flash(claimId: string): void {
  const node = board.querySelector<HTMLElement>(`[data-claim-id="${CSS.escape(claimId)}"]`);
  if (!node) return;
  node.classList.remove('card--changed');
  void node.offsetWidth; // restart the animation
  node.classList.add('card--changed');
}

// --- data --------------------------------------------------------------------------------

function applySnapshot(snapshot: Board): void {
  claims.clear();
  for (const { state } of STATES) counts.set(state, 0);
  for (const column of snapshot.states) {
    counts.set(column.state, column.count);
    for (const claim of column.claims) claims.set(claim.id, claim as ClaimView);
  }
  renderAll();
}

function applyEvent(message: EventMessage): void {
  const claim = message.claim;
  if (!claim) return;
  const known = claims.get(claim.id);
  // The snapshot may already reflect an event that is delivered after it.
  if (known && known.version >= claim.version) return;
  const before: ClaimStatus | null = known
    ? known.state
    : message.version === 1
      ? null
      : ((message.event.data as { from?: ClaimStatus } | null)?.from ?? FROM_BY_EVENT[message.event.type] ?? claim.state);
  claims.set(claim.id, claim);
  if (before !== claim.state) {
    if (before) counts.set(before, Math.max(0, (counts.get(before) ?? 0) - 1));
    counts.set(claim.state, (counts.get(claim.state) ?? 0) + 1);
  }
  if (before && before !== claim.state) renderColumn(before);
  renderColumn(claim.state);
  renderFilters();
  $('#total').textContent = String([...counts.values()].reduce((a, b) => a + b, 0));
  flash(claim.id);
}

// --- connection --------------------------------------------------------------------------

const indicator = $<HTMLElement>('#connection');
const tokenForm = $<HTMLFormElement>('#token-form');
const tokenInput = $<HTMLInputElement>('#token');
const notice = $<HTMLElement>('#notice');
type PageStatus = LiveStatus | 'rejected' | 'no-token';
function showStatus(status: PageStatus, detail?: string): void {
  indicator.dataset.status = status;
  const text: Record<PageStatus, string> = {
    open: 'Live',
    connecting: 'Connecting…',
    reconnecting: 'Reconnecting…',
    closed: 'Offline',
    rejected: 'Token refused',
    'no-token': 'Signed out',
  };
  $('#connection-text').textContent = text[status] ?? status;
  indicator.title = detail ?? '';
}

function showNotice(kind: 'refused' | 'sign-in' | null, text = ''): void {
  notice.hidden = kind === null;
  notice.dataset.kind = kind ?? '';
  notice.textContent = text;
}

/** Set when the API refused the token: the socket's later status must not hide that. */
let refused = false;

function tokenRefused(detail: string | undefined): void {
  refused = true;
  subscription?.unsubscribe();
  subscription = null;
  client.live.close();
  // A stored token that no longer works is not offered again on the next load.
  if (sessionStorage.getItem(TOKEN_KEY) === token) sessionStorage.removeItem(TOKEN_KEY);
  claims.clear();
  for (const { state } of STATES) counts.set(state, 0);
  renderAll();
  showStatus('rejected', detail);
  showNotice('refused', `That token was refused${detail ? ` (${detail})` : ''}. Paste a valid API token above to sign in.`);
  tokenInput.focus();
}

function isRefusal(err: unknown): err is ProblemError {
  return err instanceof ProblemError && (err.status === 401 || err.status === 403);
}

let checking = false;
/** The socket cannot say why its upgrade was refused; the same token on the HTTP API can. */
async function checkToken(): Promise<void> {
  if (checking) return;
  checking = true;
  try {
    await client.board({});
  } catch (err) {
    if (isRefusal(err)) tokenRefused(err.detail);
  } finally {
    checking = false;
  }
}

client.live.onStatus((status) => {
  if (refused) return;
  if (status === 'reconnecting') void checkToken();
  showStatus(status);
});

async function connect(): Promise<void> {
  subscription?.unsubscribe();
  subscription = null;
  client.live.close();
  refused = false;
  if (!token) {
    showStatus('no-token');
    showNotice('sign-in', 'Sign in: paste an API token above (`npm run tokens -- create …` makes one).');
    tokenInput.focus();
    return;
  }
  showNotice(null);
  showStatus('connecting');
  // Ask the API first: a refused token is then said plainly instead of an endless reconnect.
  const attempt = token;
  try {
    applySnapshot(await client.board({}));
  } catch (err) {
    if (attempt !== token) return;
    if (isRefusal(err)) return tokenRefused(err.detail);
    // Unreachable or failing for now: the socket retries and says so.
  }
  if (attempt !== token) return;
  subscription = client.live.subscribe(
    { channel: 'board' },
    {
      onSnapshot: (message) => applySnapshot((message as BoardSnapshotMessage<Board>).board),
      onEvent: applyEvent,
      onError: (message) => console.warn('live error', message),
    },
  );
}

// --- controls ----------------------------------------------------------------------------

tokenInput.value = sessionStorage.getItem(TOKEN_KEY) ?? '';
if (config.demoToken) tokenInput.placeholder = `Using the demo ${config.demoRole ?? 'editor'} token`;
tokenForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const value = tokenInput.value.trim();
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
  token = value || config.demoToken || '';
  void connect();
});

$<HTMLSelectElement>('#filter-tag').addEventListener('change', (event) => {
  filters.tag = (event.target as HTMLSelectElement).value;
  renderAll();
});
$<HTMLSelectElement>('#filter-assignee').addEventListener('change', (event) => {
  filters.assignee = (event.target as HTMLSelectElement).value;
  renderAll();
});

setInterval(() => {
  for (const node of board.querySelectorAll<HTMLTimeElement>('time.card__age')) {
    node.textContent = age(node.dateTime);
  }
}, 30_000);

renderAll();
void connect();
