import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import type { ClaimState, ClaimView } from '@claimtrail/domain';

/**
 * The text search configuration. `english` stems ("crossing" finds "crossed"); names such
 * as Tyotkino pass through unchanged. Both sides (document and query) use the same one.
 */
export const SEARCH_CONFIG = 'english';

/**
 * The village is spelled Tyotkino, Tetkino, Tjotkino (and Тёткино) across the reports:
 * a document mentioning any spelling is indexed under all of them, so a search for one
 * finds every claim. Index-time expansion keeps queries plain `websearch_to_tsquery`.
 */
export const SPELLING_VARIANTS: readonly (readonly string[])[] = [
  ['tyotkino', 'tetkino', 'tjotkino', 'tyetkino', 'тёткино', 'теткино'],
];

export function searchDocument(view: ClaimView): { primary: string; secondary: string } {
  const secondaryParts = [
    view.claimant ?? '',
    ...view.tags,
    ...view.appearances.flatMap((a) => [a.outlet ?? '', a.title ?? '', a.excerpt ?? '']),
    ...view.evidence.map((e) => e.summary),
  ];
  const primary = view.text;
  let secondary = secondaryParts.filter((s) => s.length > 0).join(' \n ');
  const haystack = `${primary} ${secondary}`.toLowerCase();
  const aliases: string[] = [];
  for (const group of SPELLING_VARIANTS) {
    if (group.some((variant) => haystack.includes(variant))) aliases.push(...group);
  }
  if (aliases.length > 0) secondary = `${secondary} \n ${aliases.join(' ')}`;
  return { primary, secondary };
}

/**
 * The rating readers see (`?rating=`, column `rating`): the published verdict's while the
 * claim is published. A reopened claim keeps its last verdict in the view until a new one
 * is published, but that verdict is withdrawn (no ClaimReview) and a retracted one is
 * gone: neither counts.
 */
export function publishedRating(view: ClaimView): string | null {
  return view.state === 'published' ? (view.publishedVerdict?.rating ?? null) : null;
}

/** The rating of the verdict being drafted (`?draftRating=`, column `draft_rating`), whatever the state. */
export function draftRating(view: ClaimView): string | null {
  return view.verdictDraft?.rating ?? null;
}

/** A board card: the view without its long lists (notes, evidence, appearances), with their counts. */
export type ClaimCard = Omit<ClaimView, 'notes' | 'evidence' | 'appearances'> & {
  evidenceCount: number;
  appearancesCount: number;
};

/**
 * Field by field rather than by rest/spread (which copied every key twice, on every write
 * and every rebuilt row): the keys keep the view's order (`toClaimView`'s), so the stored
 * card JSON is the same text. Typed as a full `ClaimCard` literal: a field added to the
 * view and not here fails to compile.
 */
export function toClaimCard(view: ClaimView): ClaimCard {
  return {
    id: view.id,
    text: view.text,
    claimant: view.claimant,
    language: view.language,
    tags: view.tags,
    state: view.state,
    assignee: view.assignee,
    notesCount: view.notesCount,
    verdictDraft: view.verdictDraft,
    publishedVerdict: view.publishedVerdict,
    mergedInto: view.mergedInto,
    rejectionReason: view.rejectionReason,
    retractionReason: view.retractionReason,
    changesRequestedReason: view.changesRequestedReason,
    reopenReason: view.reopenReason,
    rejection: view.rejection,
    retraction: view.retraction,
    changesRequested: view.changesRequested,
    reopened: view.reopened,
    pendingCorrection: view.pendingCorrection ?? null,
    version: view.version,
    createdAt: view.createdAt,
    updatedAt: view.updatedAt,
    createdBy: view.createdBy,
    evidenceCount: view.evidence.length,
    appearancesCount: view.appearances.length,
  };
}

/**
 * The domain state a projection row stands for, from its view: the inverse of the
 * domain's `toClaimView` for every existing claim (the view carries every state field;
 * `''` stands for null in the four fields `toClaimView` defaults, which a submitted claim
 * always has). The row stores the view only (no separate state snapshot: it held the same
 * notes and evidence a second time); a write loads the state from it. Typed as a full
 * `ClaimState` literal: a field added to the state and not here fails to compile.
 */
export function stateFromView(view: ClaimView): ClaimState {
  return {
    id: view.id === '' ? null : view.id,
    status: view.state,
    text: view.text,
    claimant: view.claimant,
    language: view.language,
    tags: view.tags,
    appearances: view.appearances,
    assignee: view.assignee,
    evidence: view.evidence,
    notes: view.notes,
    verdictDraft: view.verdictDraft,
    publishedVerdict: view.publishedVerdict,
    mergedInto: view.mergedInto,
    rejection: view.rejection,
    retraction: view.retraction,
    changesRequested: view.changesRequested,
    reopened: view.reopened,
    // Rows written by a service older than two-person corrections lack the field.
    pendingCorrection: view.pendingCorrection ?? null,
    version: view.version,
    createdAt: view.createdAt === '' ? null : view.createdAt,
    updatedAt: view.updatedAt === '' ? null : view.updatedAt,
    createdBy: view.createdBy === '' ? null : view.createdBy,
  };
}

/** One claim's projection row, as `writeClaimProjections` takes it. */
export interface ClaimProjectionRow {
  streamId: string;
  state: ClaimState;
  view: ClaimView;
  /** Hash of the stream's event at `view.version` (the head a write hands to the store). */
  headHash: string | null;
}

/** At most this many rows per INSERT of `writeClaimProjections` (one json parameter per batch). */
export const PROJECTION_BATCH_ROWS = 500;

/** The search vector of a document: its primary text weighted A, the rest B (values or column references). */
function searchVector(primary: string | RawBuilder<unknown>, secondary: string | RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`setweight(to_tsvector(${SEARCH_CONFIG}::regconfig, ${primary}), 'A')
        || setweight(to_tsvector(${SEARCH_CONFIG}::regconfig, ${secondary}), 'B')`;
}

/** The VALUES tuple of the single-row upsert (search document and view JSON computed once by the caller). */
function projectionTuple(
  row: ClaimProjectionRow,
  doc: { primary: string; secondary: string },
  viewJson: string,
): RawBuilder<unknown> {
  const { view, streamId, headHash } = row;
  return sql`(
      ${view.id}, ${streamId}, ${view.state}, ${view.assignee}, ${sql.val(view.tags)}::text[], ${publishedRating(view)}, ${draftRating(view)},
      ${view.version}, ${view.createdAt}, ${view.updatedAt}, ${searchVector(doc.primary, doc.secondary)},
      ${viewJson}::json, ${JSON.stringify(toClaimCard(view))}::json, ${headHash}
    )`;
}

/** The insert head and conflict clause shared by the single-row and the batched upsert. */
const INSERT_CLAIMS = sql.raw(
  'insert into claims (id, stream_id, state, assignee, tags, rating, draft_rating, version, created_at, updated_at, search, view, card, head_hash)',
);
/** A conflict replaces every column but id, stream_id and created_at (SQL text, for statements built as text). */
export const ON_CONFLICT_REPLACE_SQL = `on conflict (id) do update set
      state = excluded.state,
      assignee = excluded.assignee,
      tags = excluded.tags,
      rating = excluded.rating,
      draft_rating = excluded.draft_rating,
      version = excluded.version,
      updated_at = excluded.updated_at,
      search = excluded.search,
      view = excluded.view,
      card = excluded.card,
      head_hash = excluded.head_hash`;
/** {@link ON_CONFLICT_REPLACE_SQL} for Kysely's sql templates. */
const ON_CONFLICT_REPLACE = sql.raw(ON_CONFLICT_REPLACE_SQL);

function upsert(prefix: RawBuilder<unknown>, tuples: RawBuilder<unknown>[]): RawBuilder<unknown> {
  return sql`${prefix}
    ${INSERT_CLAIMS}
    values ${sql.join(tuples)}
    ${ON_CONFLICT_REPLACE}
  `;
}

/**
 * The statement that writes (inserts or replaces) the claim's projection row. With the
 * previous view, the search vector is only recomputed when the searchable text changed
 * (most steps, notes included, do not change it).
 */
export function claimProjectionStatement(
  streamId: string,
  state: ClaimState,
  view: ClaimView,
  previous?: ClaimView | null,
  /** A data-modifying statement to run in the same statement (a CTE): one round trip fewer. */
  alongside?: RawBuilder<unknown>,
  /** Hash of the stream's event at `view.version` (null: unknown, the next write reads the head). */
  headHash: string | null = null,
  /** `JSON.stringify(view)` when the caller already has it (serialized once per write). */
  viewJson: string = JSON.stringify(view),
): RawBuilder<unknown> {
  const prefix = alongside ? sql`with alongside as (${alongside}) ` : sql``;
  const doc = searchDocument(view);
  if (previous) {
    const before = searchDocument(previous);
    if (before.primary === doc.primary && before.secondary === doc.secondary) {
      return sql`${prefix}
      update claims set state = ${view.state}, assignee = ${view.assignee}, tags = ${sql.val(view.tags)}::text[],
        rating = ${publishedRating(view)}, draft_rating = ${draftRating(view)}, version = ${view.version}, updated_at = ${view.updatedAt},
        view = ${viewJson}::json, card = ${JSON.stringify(toClaimCard(view))}::json,
        head_hash = ${headHash}
      where id = ${view.id}`;
    }
  }
  return upsert(prefix, [projectionTuple({ streamId, state, view, headHash }, doc, viewJson)]);
}

/** Writes (insert or replace) the claim's projection row. Call inside the append's transaction. */
export async function writeClaimProjection(
  db: Kysely<any> | Transaction<any>,
  streamId: string,
  state: ClaimState,
  view: ClaimView,
  previous?: ClaimView | null,
  alongside?: RawBuilder<unknown>,
  headHash: string | null = null,
): Promise<void> {
  await claimProjectionStatement(streamId, state, view, previous, alongside, headHash).execute(db);
}

/**
 * Writes many claims' projection rows, `PROJECTION_BATCH_ROWS` per multi-row INSERT: the
 * same values as `writeClaimProjection` without a previous view (full upsert, search
 * vector computed). A claim listed twice is written once, with its last row (one
 * INSERT … ON CONFLICT cannot touch a row twice).
 *
 * A batch travels as ONE json parameter (an array of row objects, one `JSON.stringify`
 * for the whole batch) expanded by `json_to_recordset`, instead of 14 parameters per row:
 * no per-row statement building, no per-parameter protocol overhead. `json` (not jsonb)
 * keeps each nested value's text exactly as serialized, so `view` and `card` are
 * byte-identical to what the single-row writer sends (`JSON.stringify` of the same
 * objects): a rebuild still compares equal to the live rows.
 */
export async function writeClaimProjections(db: Kysely<any> | Transaction<any>, rows: readonly ClaimProjectionRow[]): Promise<void> {
  const byId = new Map<string, ClaimProjectionRow>();
  for (const row of rows) {
    byId.delete(row.view.id);
    byId.set(row.view.id, row);
  }
  const unique = [...byId.values()];
  for (let i = 0; i < unique.length; i += PROJECTION_BATCH_ROWS) {
    const records = unique.slice(i, i + PROJECTION_BATCH_ROWS).map(projectionRecord);
    await batchUpsert(JSON.stringify(records)).execute(db);
  }
}

/** The projection row's plain columns of a view (the keys name the columns of `claims`). */
export function projectionColumns(view: ClaimView, streamId: string) {
  return {
    id: view.id,
    stream_id: streamId,
    state: view.state,
    assignee: view.assignee,
    tags: view.tags,
    rating: publishedRating(view),
    draft_rating: draftRating(view),
    version: view.version,
    created_at: view.createdAt,
    updated_at: view.updatedAt,
  };
}

/** One row of `writeClaimProjections`' json parameter (keys = the recordset's columns). */
function projectionRecord(row: ClaimProjectionRow) {
  const { view, streamId, headHash } = row;
  const doc = searchDocument(view);
  return {
    ...projectionColumns(view, streamId),
    primary_text: doc.primary,
    secondary_text: doc.secondary,
    view,
    card: toClaimCard(view),
    head_hash: headHash,
  };
}

/**
 * Upserts projection rows read from `source`, a FROM clause naming its rows `r` with the
 * columns of `claims` (but search) plus `primary_text` and `secondary_text`; the search
 * vector is computed from those two.
 */
export function upsertClaimsFrom(source: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`
    ${INSERT_CLAIMS}
    select r.id, r.stream_id, r.state, r.assignee, r.tags, r.rating, r.draft_rating, r.version, r.created_at, r.updated_at,
           ${searchVector(sql.ref('r.primary_text'), sql.ref('r.secondary_text'))},
           r.view, r.card, r.head_hash
      from ${source}
    ${ON_CONFLICT_REPLACE}
  `;
}

function batchUpsert(records: string): RawBuilder<unknown> {
  return upsertClaimsFrom(sql`json_to_recordset(${records}::json) as r(
        id uuid, stream_id text, state text, assignee text, tags text[], rating text, draft_rating text, version integer,
        created_at timestamptz, updated_at timestamptz, primary_text text, secondary_text text,
        view json, card json, head_hash text)`);
}
