import { sql, type Kysely, type RawBuilder } from 'kysely';
import {
  CLAIM_STATUSES,
  calendarDateProblem,
  claimStreamId,
  foldClaim,
  toClaimView,
  toEnvelope,
  type ClaimStatus,
  type ClaimView,
  type Rating,
} from '@claimtrail/domain';
import type { EventStore } from '@claimtrail/event-store';
import { CommandError } from './errors.ts';
import { SEARCH_CONFIG, type ClaimCard } from './projection.ts';
import { isClaimId } from './ids.ts';
import { cardWithDeadlineText, deadlineFlags, overdueCondition, type Thresholds } from './desk/deadlines.ts';

export interface ClaimRow {
  view: ClaimView;
  version: number;
}

/** The claim view, or null when there is no such claim (any malformed id included). */
export async function getClaim(db: Kysely<any>, id: string): Promise<ClaimView | null> {
  const raw = await getClaimJson(db, id);
  return raw ? (JSON.parse(raw.json) as ClaimView) : null;
}

/** The claim view as JSON text straight from the projection (no parse/serialise round trip). */
export async function getClaimJson(db: Kysely<any>, id: string): Promise<{ json: string; version: number } | null> {
  if (!isClaimId(id)) return null;
  const result = await sql<{ json: string; version: number }>`
    select view::text as json, version from claims where id = ${id.toLowerCase()}`.execute(db);
  const row = result.rows[0];
  return row ? { json: row.json, version: Number(row.version) } : null;
}

type ClaimJson = { json: string; version: number } | null;

/**
 * Batches concurrent `getClaimJson` reads into one query (`id = any($1)`): under load most
 * of a read's cost is the database round trip, and reads can share one. At most
 * `maxInFlight` queries run at once; reads arriving while they do wait and leave together
 * with the next one (group read: the busier the service, the bigger the batches, the
 * fewer the round trips). When idle a read goes out in the same event-loop turn.
 * Never stale: a read joins only a batch that has not been sent yet, so its query runs
 * after the request arrived (a write acknowledged before the read is visible to it),
 * exactly as an unbatched read.
 */
export class ClaimJsonBatcher {
  private pending: Map<string, { resolve: (row: ClaimJson) => void; reject: (error: unknown) => void }[]> | null = null;
  private scheduled = false;
  private inFlight = 0;

  constructor(
    private readonly db: Kysely<any>,
    private readonly options: { maxBatch?: number; maxInFlight?: number } = {},
  ) {}

  get(id: string): Promise<ClaimJson> {
    if (!isClaimId(id)) return Promise.resolve(null);
    const key = id.toLowerCase();
    return new Promise((resolve, reject) => {
      this.pending ??= new Map();
      const waiters = this.pending.get(key);
      if (waiters) waiters.push({ resolve, reject });
      else this.pending.set(key, [{ resolve, reject }]);
      if (this.pending.size >= (this.options.maxBatch ?? 200)) this.flush();
      else if (!this.scheduled && this.inFlight < (this.options.maxInFlight ?? 1)) {
        this.scheduled = true;
        // After the poll phase: every request parsed in this turn has had its chance to join.
        setImmediate(() => {
          this.scheduled = false;
          if (this.inFlight < (this.options.maxInFlight ?? 1)) this.flush();
        });
      }
    });
  }

  private flush(): void {
    const batch = this.pending;
    if (batch === null || batch.size === 0) return;
    this.pending = null;
    const ids = [...batch.keys()];
    const query =
      ids.length === 1
        ? sql<{ id: string; json: string; version: number }>`
            select id::text as id, view::text as json, version from claims where id = ${ids[0]}`
        : sql<{ id: string; json: string; version: number }>`
            select id::text as id, view::text as json, version from claims where id = any(${sql.val(ids)}::uuid[])`;
    this.inFlight++;
    query
      .execute(this.db)
      .then(
        (result) => {
          const rows = new Map(result.rows.map((r) => [r.id, { json: r.json, version: Number(r.version) }]));
          for (const [id, waiters] of batch) {
            const row = rows.get(id) ?? null;
            for (const w of waiters) w.resolve(row);
          }
        },
        (error: unknown) => {
          for (const waiters of batch.values()) for (const w of waiters) w.reject(error);
        },
      )
      .finally(() => {
        this.inFlight--;
        // The reads that arrived meanwhile leave now.
        if (this.pending !== null && !this.scheduled) this.flush();
      });
  }
}

export interface ListClaimsFilter {
  /** One state or several (a claim in any of them). */
  state?: ClaimStatus | readonly ClaimStatus[];
  /** A user id (the service resolves `me` before this). */
  assignee?: string;
  tag?: string;
  /** The published verdict's rating: published claims only (see `publishedRating`). */
  rating?: Rating;
  /** The rating of the verdict being drafted, in any state (see `draftRating`). */
  draftRating?: Rating;
  /** Full text (web search syntax: words, "phrases", -exclusions, or). */
  q?: string;
  /** Only claims overdue (`is: true`) or not (`false`) at `at` under these per-state thresholds (ms): see desk/deadlines.ts. */
  overdue?: { is: boolean; thresholds: Thresholds; at: Date };
  limit?: number;
  cursor?: string;
  /** `full` (default): claim views; `card`: board cards. */
  view?: 'full' | 'card';
}

export interface ClaimPage {
  items: ClaimView[];
  nextCursor: string | null;
}

/**
 * Cursor = the last row's (createdAt, id), opaque to clients. Order is newest claim first
 * by creation (from the events, so a rebuilt projection orders the same) and never changes
 * when claims are updated: paging does not skip or repeat claims while they move through
 * the workflow.
 */
export function encodeCursor(createdAt: string, id: string): string {
  return Buffer.from(JSON.stringify({ c: createdAt, i: id }), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: string; id: string } {
  try {
    if (!/^[A-Za-z0-9_-]{1,400}$/.test(cursor)) throw new Error('bad');
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { c?: unknown; i?: unknown };
    if (
      typeof parsed.c === 'string' &&
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/.test(parsed.c) &&
      // Strictly: Date.parse rolls 2024-02-30 over to March 1st, and PostgreSQL refuses it
      // later with an error that names no field.
      calendarDateProblem(parsed.c) === null &&
      isClaimId(parsed.i)
    ) {
      return { createdAt: parsed.c, id: parsed.i };
    }
  } catch {
    // fall through
  }
  throw new CommandError('validation', 'cursor is not a cursor this server issued', { field: 'cursor' });
}

function pageSize(filter: ListClaimsFilter): number {
  return Math.min(Math.max(filter.limit ?? 20, 1), 100);
}

/**
 * The statement `listClaims` runs: one more row than the page, so the caller knows whether
 * there is a next page. Exported so tests can EXPLAIN it (every filter must read an index).
 */
export function listClaimsStatement(filter: ListClaimsFilter = {}): RawBuilder<{ cursor_at: string; cursor_id: string; json: string }> {
  const limit = pageSize(filter);
  const conditions: RawBuilder<unknown>[] = [];
  const states = filter.state === undefined ? [] : typeof filter.state === 'string' ? [filter.state] : [...new Set(filter.state)];
  if (states.length === 1) conditions.push(sql`state = ${states[0]}`);
  else if (states.length > 1) conditions.push(sql`state = any(${sql.val(states)}::text[])`);
  if (filter.assignee) conditions.push(sql`assignee = ${filter.assignee}`);
  if (filter.tag) conditions.push(sql`tags @> array[${filter.tag.trim().toLowerCase()}]::text[]`);
  if (filter.rating) conditions.push(sql`rating = ${filter.rating}`);
  if (filter.draftRating) conditions.push(sql`draft_rating = ${filter.draftRating}`);
  const q = filter.q?.trim();
  if (q) conditions.push(sql`search @@ websearch_to_tsquery(${SEARCH_CONFIG}::regconfig, ${q})`);
  if (filter.overdue) {
    const overdue = overdueCondition(filter.overdue.thresholds, filter.overdue.at);
    conditions.push(filter.overdue.is ? overdue : sql`not ${overdue}`);
  }
  if (filter.cursor) {
    const after = decodeCursor(filter.cursor);
    conditions.push(sql`(created_at, id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)`);
  }
  const where = conditions.length > 0 ? sql`where ${sql.join(conditions, sql` and `)}` : sql``;
  return sql<{ cursor_at: string; cursor_id: string; json: string }>`
    select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as cursor_at, id::text as cursor_id,
      ${filter.view === 'card' ? sql`card::text` : sql`view::text`} as json
    from claims c ${where}
    order by created_at desc, id desc limit ${limit + 1}`;
}

export async function listClaims(db: Kysely<any>, filter: ListClaimsFilter = {}): Promise<ClaimPage> {
  const limit = pageSize(filter);
  const result = await listClaimsStatement(filter).execute(db);
  const rows = result.rows;
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  return {
    items: page.map((r) => JSON.parse(r.json) as ClaimView),
    nextCursor: more && page.length > 0 ? encodeCursor(page[page.length - 1]!.cursor_at, page[page.length - 1]!.cursor_id) : null,
  };
}

/**
 * The page as JSON text (`{"items":[…],"nextCursor":…}`), the items straight from the
 * projection's json columns: no parse and re-serialise per row.
 */
/**
 * A list page as JSON text, the items' stored texts as they are. With `deadlines`, each item
 * also carries `deadline: {dueAt, overdue, escalated}` as of `deadlines.at` (desk/deadlines.ts),
 * appended to its text.
 */
export async function listClaimsJson(db: Kysely<any>, filter: ListClaimsFilter = {}, deadlines?: { thresholds: Thresholds; at: Date }): Promise<string> {
  const limit = pageSize(filter);
  const rows = (await listClaimsStatement(filter).execute(db)).rows;
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  const last = page[page.length - 1];
  const next = more && last !== undefined ? JSON.stringify(encodeCursor(last.cursor_at, last.cursor_id)) : 'null';
  let items = page.map((r) => r.json);
  if (deadlines !== undefined) {
    const flags = await deadlineFlags(db, page.map((r) => r.cursor_id), deadlines.thresholds, deadlines.at);
    const none = { dueAt: null, overdue: false, escalated: false };
    // Every item is a JSON object's text: the field goes before its closing brace.
    items = page.map((r) => `${r.json.slice(0, -1)},"deadline":${JSON.stringify(flags.get(r.cursor_id) ?? none)}}`);
  }
  return `{"items":[${items.join(',')}],"nextCursor":${next}}`;
}

export interface BoardColumn {
  state: ClaimStatus;
  count: number;
  /** Cards: the claim view without notes, evidence and appearances (with their counts). */
  claims: ClaimCard[];
  /** Pass as the column's `cursor` for its next page; null on its last page. */
  nextCursor: string | null;
}

export interface Board {
  states: BoardColumn[];
}

/** Where a board column's page starts: after this card (a column's `nextCursor`). */
export interface BoardCursor {
  state: ClaimStatus;
  updatedAt: string;
  id: string;
}

export interface BoardQuery {
  /** Cards per column, 0 to 200 (default 50). */
  limit?: number;
  /** Only these columns (default: every state, in workflow order). */
  states?: readonly ClaimStatus[];
  /** At most one per state: that column's page starts after it. */
  cursors?: readonly BoardCursor[];
}

const TIMESTAMP_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;

/**
 * A board column's cursor: its state and the last card's (updatedAt, id), opaque to clients.
 * The state is in it so that a cursor cannot be applied to another column by mistake.
 */
export function encodeBoardCursor(cursor: BoardCursor): string {
  return Buffer.from(JSON.stringify({ s: cursor.state, u: cursor.updatedAt, i: cursor.id }), 'utf8').toString('base64url');
}

export function decodeBoardCursor(text: string): BoardCursor {
  try {
    if (!/^[A-Za-z0-9_-]{1,400}$/.test(text)) throw new Error('bad');
    const parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as { s?: unknown; u?: unknown; i?: unknown };
    if (
      typeof parsed.s === 'string' &&
      (CLAIM_STATUSES as readonly string[]).includes(parsed.s) &&
      typeof parsed.u === 'string' &&
      TIMESTAMP_RE.test(parsed.u) &&
      calendarDateProblem(parsed.u) === null &&
      isClaimId(parsed.i)
    ) {
      return { state: parsed.s as ClaimStatus, updatedAt: parsed.u, id: parsed.i.toLowerCase() };
    }
  } catch {
    // fall through
  }
  throw new CommandError('validation', 'cursor is not a board cursor this server issued', { field: 'cursor' });
}

/** The board's cards per column: 0 to 200. */
export function boardLimit(limit: number | undefined): number {
  return Math.min(Math.max(Math.trunc(limit ?? 50), 0), 200);
}

/**
 * The board (or some of its columns) as JSON text. Per column: the exact count of claims in
 * the state, a bounded page of cards (most recently changed first, after the column's
 * cursor if one is given: the index `claims_board_idx (state, updated_at desc, id desc)`
 * starts right there, so a page costs the same however deep it is), and `nextCursor`
 * (null on the column's last page). The counts read the same index.
 */
type BoardRow = { state: ClaimStatus; count: string; cards: string; more: boolean; last_at: string | null; last_id: string | null };

/**
 * The statement `boardJson` runs (exported so tests can EXPLAIN it). With `deadlines`, each
 * card also carries `deadline` as of `deadlines.at`, as list items do.
 */
export function boardStatement(query: BoardQuery = {}, deadlines?: { thresholds: Thresholds; at: Date }): RawBuilder<BoardRow> {
  const limit = boardLimit(query.limit);
  const states = query.states === undefined ? [...CLAIM_STATUSES] : CLAIM_STATUSES.filter((s) => query.states!.includes(s));
  const after = new Map((query.cursors ?? []).map((c) => [c.state, c]));
  // Without a cursor a column starts after the greatest possible key.
  const afterAt = states.map((s) => after.get(s)?.updatedAt ?? 'infinity');
  const afterId = states.map((s) => after.get(s)?.id ?? 'ffffffff-ffff-ffff-ffff-ffffffffffff');
  // Without deadlines the cards are aggregated as the json they are stored as; with them,
  // as text, each stored card's text with its deadline added.
  const card = deadlines === undefined ? sql`c.card` : cardWithDeadlineText(deadlines.thresholds, deadlines.at);
  const ages = deadlines === undefined ? sql`` : sql`left join desk_claim_ages a on a.claim_id = c.id`;
  const cards =
    deadlines === undefined
      ? sql`coalesce(json_agg(t.card order by t.n) filter (where t.n <= ${limit}), '[]'::json)::text`
      : sql`coalesce('[' || string_agg(t.card, ',' order by t.n) filter (where t.n <= ${limit}) || ']', '[]')`;
  return sql<BoardRow>`
    select s.state,
      (select count(*) from claims c where c.state = s.state) as count,
      p.cards, p.more, p.last_at, p.last_id
    from unnest(${sql.val(states)}::text[], ${sql.val(afterAt)}::timestamptz[], ${sql.val(afterId)}::uuid[])
      with ordinality as s(state, after_at, after_id, ord)
    cross join lateral (
      select ${cards} as cards,
        count(*) > ${limit} as more,
        max(to_char(t.updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) filter (where t.n = ${limit}) as last_at,
        max(t.id::text) filter (where t.n = ${limit}) as last_id
      from (
        select card, updated_at, id, row_number() over (order by updated_at desc, id desc) as n
        from (select ${card} as card, c.updated_at, c.id from claims c ${ages}
              where c.state = s.state and (c.updated_at, c.id) < (s.after_at, s.after_id)
              order by c.updated_at desc, c.id desc limit ${limit + 1}) page
      ) t
    ) p
    order by s.ord`;
}

/** The board as JSON text; with `deadlines`, every card carries `deadline` (see boardStatement). */
export async function boardJson(db: Kysely<any>, query: number | BoardQuery = {}, deadlines?: { thresholds: Thresholds; at: Date }): Promise<string> {
  const result = await boardStatement(typeof query === 'number' ? { limit: query } : query, deadlines).execute(db);
  const columns = result.rows.map((row) => {
    const next =
      row.more && row.last_at !== null && row.last_id !== null
        ? JSON.stringify(encodeBoardCursor({ state: row.state, updatedAt: row.last_at, id: row.last_id }))
        : 'null';
    return `{"state":${JSON.stringify(row.state)},"count":${Number(row.count)},"claims":${row.cards},"nextCursor":${next}}`;
  });
  return `{"states":[${columns.join(',')}]}`;
}

export async function board(db: Kysely<any>, query: number | BoardQuery = 50): Promise<Board> {
  return JSON.parse(await boardJson(db, query)) as Board;
}

export type StateAt = { version: number } | { at: Date } | { latest: true };

/**
 * The claim as it was at a version or an instant: the stream prefix folded with the
 * domain's evolve. Null when the claim did not exist then (or at all).
 */
export async function claimStateAt(store: EventStore, id: string, when: StateAt): Promise<ClaimView | null> {
  if (!isClaimId(id)) return null;
  const streamId = claimStreamId(id.toLowerCase());
  if ('version' in when && when.version < 1) return null;
  // recordedAt is shown with millisecond precision but stored with microseconds: an
  // instant copied from an event must include that event, so compare at ms granularity.
  let events = await store.readStream(
    streamId,
    'version' in when ? { toVersion: when.version } : 'at' in when ? { until: new Date(when.at.getTime() + 1) } : {},
  );
  if ('at' in when) {
    const limit = when.at.getTime();
    events = events.filter((e) => new Date(e.recordedAt).getTime() <= limit);
  }
  if ('version' in when && events.length < when.version) return null;
  const state = foldClaim(events.map((e) => toEnvelope(e)));
  if (state.status === null) return null;
  return toClaimView(state);
}
