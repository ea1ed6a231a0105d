import { foldForMatching, type ClaimState, type ClaimView } from '@claimtrail/domain';
import { binaryInstant, isCanonicalUuid, type CopyTupleWriter } from '@claimtrail/event-store';

/**
 * The projection row: what the `claims` table holds for a claim, column by column, and how
 * each column's value is made from the folded claim. Every writer derives its columns from
 * `PROJECTION_COLUMNS` (projection.ts: the single-row upsert and update, the json batch;
 * batch.ts: the write pipeline's batch statement; rebuild/writer.ts: the rebuild's INSERT and
 * binary COPY). A new column is one entry here plus the migration adding it; the rebuild's
 * comparison reads the columns from the catalog.
 */

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
 * Duplicate detection (`GET /claims/:id/similar`, trigram similarity): the claim's text,
 * folded (`foldForMatching`: Tyotkino, Tetkino, Tjotkino and Тёткино meet).
 */
export function similarText(view: ClaimView): string {
  return foldForMatching(view.text);
}

/** The claim's claimant and where it appeared (outlets, titles, excerpts), folded: the second half of the similarity. */
export function similarContext(view: ClaimView): string {
  const parts = [view.claimant ?? '', ...view.appearances.flatMap((a) => [a.outlet ?? '', a.title ?? '', a.excerpt ?? ''])];
  return foldForMatching(parts.filter((p) => p.length > 0).join(' '));
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

/** What a projection row is made of: one claim's view at its head. */
export interface ProjectionInput {
  streamId: string;
  view: ClaimView;
  /** Hash of the stream's event at `view.version` (the head a write hands to the store). */
  headHash: string | null;
  /** `JSON.stringify(view)` when the caller already has it (serialized once per write). */
  viewJson?: string;
}

/** One claim's projection row, as `writeClaimProjections` and the rebuild's writers take it. */
export interface ClaimProjectionRow extends ProjectionInput {
  state: ClaimState;
}

/**
 * A column's SQL type, with how each writer carries a value of it: a bound parameter (its
 * cast), a jsonb scalar (the rebuild's INSERT), a COPY binary field.
 */
export interface ColumnType {
  readonly sql: string;
  /** The cast on a bound parameter (single-row statements): '' when the column's type decides. */
  readonly paramCast: string;
  /** SQL reading the value from element `k` of the jsonb array `s`: the value the parameter gives. */
  fromScalar(s: string, k: number): string;
  /**
   * Appends the value as a COPY binary field, the value the database's input of the same
   * text gives; false (possibly with part of the field written: the caller rewinds) when this
   * encoder cannot reproduce it exactly, and the row must go through an INSERT instead.
   */
  copy(out: CopyTupleWriter, value: unknown): boolean;
}

/** What `jsonb ->> k` yields for the value JSON.stringify puts in a scalar array (null: SQL NULL). */
function scalarText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : null;
  if (typeof value === 'boolean') return String(value);
  const json = JSON.stringify(value) as string | undefined;
  if (json === undefined) return null;
  const parsed = JSON.parse(json) as unknown;
  return typeof parsed === 'string' ? parsed : parsed === null ? null : json;
}

const UUID: ColumnType = {
  sql: 'uuid',
  paramCast: '',
  fromScalar: (s, k) => `(${s}->>${k})::uuid`,
  copy(out, value) {
    if (!isCanonicalUuid(value)) return false;
    out.uuid(value);
    return true;
  },
};

const TEXT: ColumnType = {
  sql: 'text',
  paramCast: '',
  fromScalar: (s, k) => `${s}->>${k}`,
  copy(out, value) {
    out.text(scalarText(value));
    return true;
  },
};

const TEXT_ARRAY: ColumnType = {
  sql: 'text[]',
  paramCast: '::text[]',
  fromScalar: (s, k) => `case when jsonb_typeof(${s}->${k}) = 'array'
                then array(select t.e from jsonb_array_elements_text(${s}->${k}) with ordinality as t(e, n) order by t.n) end`,
  copy(out, value) {
    out.textArray(Array.isArray(value) ? (value as unknown[]).map(scalarText) : null);
    return true;
  },
};

const INTEGER: ColumnType = {
  sql: 'integer',
  paramCast: '',
  fromScalar: (s, k) => `(${s}->>${k})::integer`,
  copy(out, value) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < -2_147_483_648 || value > 2_147_483_647) return false;
    out.int4(value);
    return true;
  },
};

const TIMESTAMPTZ: ColumnType = {
  sql: 'timestamptz',
  paramCast: '',
  fromScalar: (s, k) => `(${s}->>${k})::timestamptz`,
  copy(out, value) {
    const instant = binaryInstant(value);
    if (instant === null) return false;
    out.int64(instant);
    return true;
  },
};

/** json: the value is its JSON text, kept as is (json, not jsonb): writers send the text verbatim. */
const JSON_TEXT: ColumnType = {
  sql: 'json',
  paramCast: '::json',
  fromScalar: (s, k) => `(${s}->>${k})::json`,
  copy(out, value) {
    if (typeof value !== 'string') return false;
    out.text(value);
    return true;
  },
};

/** A column holding a value made from the claim. */
export interface ValueColumn {
  readonly kind: 'value';
  readonly name: string;
  readonly type: ColumnType;
  /** Set when the row is first written: an upsert or an update leaves it as it is. */
  readonly insertOnly: boolean;
  value(row: ProjectionInput): unknown;
}

/**
 * The search vector: computed by the database from two texts (`searchDocument`), the
 * primary weighted A, the rest B. Writers send the texts (`primary_text`, `secondary_text`)
 * or, for COPY, the vector computed beforehand.
 */
export interface SearchColumn {
  readonly kind: 'search';
  readonly name: string;
}

export type ProjectionColumn = ValueColumn | SearchColumn;

function column(name: string, type: ColumnType, value: (row: ProjectionInput) => unknown, options: { insertOnly?: boolean } = {}): ValueColumn {
  return { kind: 'value', name, type, insertOnly: options.insertOnly ?? false, value };
}

/**
 * The columns of `claims` a writer fills, in the order the statements name them. Not here:
 * `seq` (the paging surrogate: its default on insert, carried over by the rebuild's swap).
 * `id` is the key (the upsert's conflict target).
 */
export const PROJECTION_COLUMNS: readonly ProjectionColumn[] = [
  column('id', UUID, (r) => r.view.id, { insertOnly: true }),
  column('stream_id', TEXT, (r) => r.streamId, { insertOnly: true }),
  column('state', TEXT, (r) => r.view.state),
  column('assignee', TEXT, (r) => r.view.assignee),
  column('tags', TEXT_ARRAY, (r) => r.view.tags),
  column('rating', TEXT, (r) => publishedRating(r.view)),
  column('draft_rating', TEXT, (r) => draftRating(r.view)),
  column('version', INTEGER, (r) => r.view.version),
  column('created_at', TIMESTAMPTZ, (r) => r.view.createdAt, { insertOnly: true }),
  column('updated_at', TIMESTAMPTZ, (r) => r.view.updatedAt),
  { kind: 'search', name: 'search' },
  column('view', JSON_TEXT, (r) => r.viewJson ?? JSON.stringify(r.view)),
  column('card', JSON_TEXT, (r) => JSON.stringify(toClaimCard(r.view))),
  column('head_hash', TEXT, (r) => r.headHash),
  column('similar_text', TEXT, (r) => similarText(r.view)),
  column('similar_context', TEXT, (r) => similarContext(r.view)),
];

/** The key column's name (the upsert's conflict target). */
export const PROJECTION_KEY = 'id';
/** The texts the search vector is computed from, as writers that send texts name them. */
export const SEARCH_TEXTS = ['primary_text', 'secondary_text'] as const;

/** The columns holding a value (every column but the search vector). */
export const VALUE_COLUMNS: readonly ValueColumn[] = PROJECTION_COLUMNS.filter((c): c is ValueColumn => c.kind === 'value');
/** Value columns sent as plain values (json columns travel as their own texts). */
export const SCALAR_COLUMNS: readonly ValueColumn[] = VALUE_COLUMNS.filter((c) => c.type !== JSON_TEXT);
/** Value columns holding JSON text. */
export const JSON_COLUMNS: readonly ValueColumn[] = VALUE_COLUMNS.filter((c) => c.type === JSON_TEXT);
/** Columns a conflicting upsert replaces, and an update sets (with the search vector where the statement computes it). */
export const REPLACED_COLUMNS: readonly ProjectionColumn[] = PROJECTION_COLUMNS.filter((c) => c.kind === 'search' || !c.insertOnly);

/**
 * A row's plain values keyed by column name (json columns not included: see `jsonColumnTexts`),
 * for statements that take rows as json (`json_to_recordset`).
 */
export function scalarRecord(row: ProjectionInput): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (const c of SCALAR_COLUMNS) record[c.name] = c.value(row);
  return record;
}

/** A row's json columns' texts keyed by column name. */
export function jsonColumnTexts(row: ProjectionInput): Record<string, string> {
  const texts: Record<string, string> = {};
  for (const c of JSON_COLUMNS) texts[c.name] = c.value(row) as string;
  return texts;
}

// ------------------------------------------------------------------------------------------
// SQL text derived from the columns (computed once, at module load)

/** `id, stream_id, …, search, view, card, head_hash`: every column, in order. */
export const COLUMN_LIST_SQL = PROJECTION_COLUMNS.map((c) => c.name).join(', ');

/** A conflict replaces every column but the insert-only ones. */
export const ON_CONFLICT_REPLACE_SQL = `on conflict (${PROJECTION_KEY}) do update set
      ${REPLACED_COLUMNS.map((c) => `${c.name} = excluded.${c.name}`).join(',\n      ')}`;

/**
 * The columns of a `json_to_recordset(…) as r(…)` of rows (json columns as json, the search
 * vector as its two texts); `beforeSearch`: extra column definitions placed before the texts.
 */
export function recordsetColumnsSql(beforeSearch: readonly string[] = []): string {
  return PROJECTION_COLUMNS.map((c) =>
    c.kind === 'search' ? [...beforeSearch, ...SEARCH_TEXTS.map((t) => `${t} text`)].join(', ') : `${c.name} ${c.type.sql}`,
  ).join(', ');
}

/** The columns an update of a row whose search vector stays sets: `(state, …, head_hash)`. */
export const UPDATED_COLUMNS: readonly ValueColumn[] = VALUE_COLUMNS.filter((c) => !c.insertOnly);
