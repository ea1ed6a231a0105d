import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import type { ClaimState, ClaimView } from '@claimtrail/domain';
import {
  COLUMN_LIST_SQL,
  jsonColumnTexts,
  ON_CONFLICT_REPLACE_SQL,
  PROJECTION_COLUMNS,
  PROJECTION_KEY,
  recordsetColumnsSql,
  scalarRecord,
  SEARCH_CONFIG,
  SEARCH_TEXTS,
  searchDocument,
  UPDATED_COLUMNS,
  VALUE_COLUMNS,
  type ClaimProjectionRow,
  type ProjectionInput,
} from './projection-row.ts';

export {
  SEARCH_CONFIG,
  SPELLING_VARIANTS,
  searchDocument,
  publishedRating,
  draftRating,
  toClaimCard,
  ON_CONFLICT_REPLACE_SQL,
  scalarRecord,
  jsonColumnTexts,
  recordsetColumnsSql,
  UPDATED_COLUMNS,
  type ClaimCard,
  type ClaimProjectionRow,
  type ProjectionInput,
} from './projection-row.ts';

/*
 * The projection's writers: the single-row statements of the write path (an upsert, or an
 * update keeping the search vector) and the json batch. Their column lists and values come
 * from the row definition (projection-row.ts); the statement texts are derived from it once,
 * at module load, so a write only supplies values.
 */

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

/** At most this many rows per INSERT of `writeClaimProjections` (one json parameter per batch). */
export const PROJECTION_BATCH_ROWS = 500;

/** The search vector of a document: its primary text weighted A, the rest B (values or column references). */
function searchVector(primary: string | RawBuilder<unknown>, secondary: string | RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`setweight(to_tsvector(${SEARCH_CONFIG}::regconfig, ${primary}), 'A')
        || setweight(to_tsvector(${SEARCH_CONFIG}::regconfig, ${secondary}), 'B')`;
}

/**
 * A statement from the SQL texts around its parameters (one more text than parameters), as
 * a `sql` template literal makes it.
 */
function withParameters(fragments: readonly string[], parameters: readonly unknown[]): RawBuilder<unknown> {
  return sql(fragments as unknown as TemplateStringsArray, ...parameters);
}

/** The texts around the VALUES tuple's parameters: one per column (with its cast), the search vector in its place. */
const TUPLE_FRAGMENTS: readonly string[] = (() => {
  const fragments = ['(\n      '];
  PROJECTION_COLUMNS.forEach((c, i) => {
    const cast = c.kind === 'value' ? c.type.paramCast : '';
    fragments.push(`${cast}${i === PROJECTION_COLUMNS.length - 1 ? '\n    )' : ', '}`);
  });
  return fragments;
})();

/** The texts around the parameters of the update that keeps the search vector: the updated columns, then the key. */
const UPDATE_FRAGMENTS: readonly string[] = (() => {
  const fragments = [`update claims set ${UPDATED_COLUMNS[0]!.name} = `];
  UPDATED_COLUMNS.forEach((c, i) => {
    const next = UPDATED_COLUMNS[i + 1];
    fragments.push(`${c.type.paramCast}${next ? `, ${next.name} = ` : ` where ${PROJECTION_KEY} = `}`);
  });
  fragments.push('');
  return fragments;
})();

const KEY_COLUMN = VALUE_COLUMNS.find((c) => c.name === PROJECTION_KEY)!;

/** The VALUES tuple of the single-row upsert (search document computed once by the caller). */
function projectionTuple(row: ProjectionInput, doc: { primary: string; secondary: string }): RawBuilder<unknown> {
  return withParameters(
    TUPLE_FRAGMENTS,
    PROJECTION_COLUMNS.map((c) => (c.kind === 'search' ? searchVector(doc.primary, doc.secondary) : sql.val(c.value(row)))),
  );
}

/** The insert head and conflict clause shared by the single-row and the batched upsert. */
const INSERT_CLAIMS = sql.raw(`insert into claims (${COLUMN_LIST_SQL})`);
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
  const row: ProjectionInput = { streamId, view, headHash, viewJson };
  if (previous) {
    const before = searchDocument(previous);
    if (before.primary === doc.primary && before.secondary === doc.secondary) {
      const values = UPDATED_COLUMNS.map((c) => sql.val(c.value(row)));
      values.push(sql.val(KEY_COLUMN.value(row)));
      return sql`${prefix}
      ${withParameters(UPDATE_FRAGMENTS, values)}`;
    }
  }
  return upsert(prefix, [projectionTuple(row, doc)]);
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
 * A batch travels as ONE json parameter (an array of row objects) expanded by
 * `json_to_recordset`, instead of 14 parameters per row: no per-row statement building, no
 * per-parameter protocol overhead. `json` (not jsonb) keeps each nested value's text exactly
 * as serialized, so `view` and `card` are byte-identical to what the single-row writer sends
 * (`JSON.stringify` of the same objects): a rebuild still compares equal to the live rows.
 */
export async function writeClaimProjections(db: Kysely<any> | Transaction<any>, rows: readonly ClaimProjectionRow[]): Promise<void> {
  const byId = new Map<string, ClaimProjectionRow>();
  for (const row of rows) {
    byId.delete(row.view.id);
    byId.set(row.view.id, row);
  }
  const unique = [...byId.values()];
  for (let i = 0; i < unique.length; i += PROJECTION_BATCH_ROWS) {
    const records = unique.slice(i, i + PROJECTION_BATCH_ROWS).map(projectionRecordJson);
    await batchUpsert(`[${records.join(',')}]`).execute(db);
  }
}

/**
 * One row of `writeClaimProjections`' json parameter (keys = the recordset's columns): the
 * plain values and the search texts as one object, the json columns' texts added verbatim.
 */
function projectionRecordJson(row: ClaimProjectionRow): string {
  const doc = searchDocument(row.view);
  const record = scalarRecord(row);
  record[SEARCH_TEXTS[0]] = doc.primary;
  record[SEARCH_TEXTS[1]] = doc.secondary;
  const nested = Object.entries(jsonColumnTexts(row))
    .map(([name, json]) => `,${JSON.stringify(name)}:${json}`)
    .join('');
  return `${JSON.stringify(record).slice(0, -1)}${nested}}`;
}

/** `r.id, r.stream_id, …`: every column read from rows named `r`, the search vector computed from its two texts. */
const SELECT_FROM_R = sql.join(
  PROJECTION_COLUMNS.map((c) =>
    c.kind === 'search' ? searchVector(sql.ref(`r.${SEARCH_TEXTS[0]}`), sql.ref(`r.${SEARCH_TEXTS[1]}`)) : sql.raw(`r.${c.name}`),
  ),
);

/**
 * Upserts projection rows read from `source`, a FROM clause naming its rows `r` with the
 * columns of `recordsetColumnsSql` (every column but search, plus `primary_text` and
 * `secondary_text`, from which the search vector is computed).
 */
export function upsertClaimsFrom(source: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`
    ${INSERT_CLAIMS}
    select ${SELECT_FROM_R}
      from ${source}
    ${ON_CONFLICT_REPLACE}
  `;
}

const RECORDSET_COLUMNS = sql.raw(recordsetColumnsSql());

function batchUpsert(records: string): RawBuilder<unknown> {
  return upsertClaimsFrom(sql`json_to_recordset(${records}::json) as r(${RECORDSET_COLUMNS})`);
}
