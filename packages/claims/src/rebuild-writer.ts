import { CompiledQuery, type Kysely, type Transaction } from 'kysely';
import { filterRating, ON_CONFLICT_REPLACE_SQL, searchDocument, SEARCH_CONFIG, toClaimCard, type ClaimProjectionRow } from './projection.ts';

/**
 * The rebuild's bulk writer: the rows `writeClaimProjections` writes (same values, same json
 * text, same search vectors, same upsert on id), sent and unpacked more cheaply, for a
 * rebuild into a fresh copy of the table.
 *
 * - Transport: separator-joined texts instead of one json document. `json_to_recordset`
 *   parsed the whole batch (~2 MB of json for 500 rows) with a full JSON parser and then
 *   re-lexed each view and card for their `json` columns (measured: ~40% of the database's
 *   cost of the insert). Here each row is `JSON.stringify(view)` U+001F
 *   `JSON.stringify(card)` in the first text and a small json array of its scalars in the
 *   second, rows separated by U+001E; `string_to_array` splits them, `view`/`card` go
 *   through `json`'s input (a lexer pass, the text kept as is: byte-identical to the
 *   single-row writer's), the scalars through a small `jsonb`. JSON.stringify escapes every
 *   character below U+0020, so the separators never occur inside a serialized value. The
 *   scalars travel apart because the search texts often hold Cyrillic spellings: one
 *   two-byte string in a row would make the whole joined batch a two-byte string (slower to
 *   build and to encode).
 * - `keepSeq`: `seq` is taken from the live row with the same id in the INSERT itself (a
 *   left join) instead of a row trigger doing one lookup per row; a claim the live table
 *   does not have gets the column default. Cursor pages stay valid across a swap.
 * - `vectors`: the search vectors may be computed on another connection (`searchVectors`,
 *   in parallel with this one) and handed over as tsvector text (a json array, the third
 *   parameter), which the statement casts back: the text form of a tsvector reads back as
 *   the same value (lexemes sorted and unique, positions sorted and ≤ 16383, weights kept;
 *   checked on documents past the position cap too).
 */

/** How the rows' `seq` is filled: from the live table (by id), else `fallback` (the column default). */
export interface KeepSeq {
  /** The live table, schema-qualified and quoted. */
  live: string;
  /** The SQL default expression of `seq` (e.g. nextval('…'::regclass)). */
  fallback: string;
}

// Positions in a row's scalar array.
const S_ID = 0;
const S_PRIMARY = 9;
const S_SECONDARY = 10;

function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

const statements = new Map<string, string>();

function statement(keepSeq: KeepSeq | null, precomputed: boolean): string {
  const key = `${keepSeq?.live ?? ''}\u0000${keepSeq?.fallback ?? ''}\u0000${precomputed}`;
  let text = statements.get(key);
  if (text) return text;
  const config = `${quoteLiteral(SEARCH_CONFIG)}::regconfig`;
  const search = precomputed
    ? 'r.search::tsvector'
    : `setweight(to_tsvector(${config}, r.s->>${S_PRIMARY}), 'A')
             || setweight(to_tsvector(${config}, r.s->>${S_SECONDARY}), 'B')`;
  // `offset 0` keeps each subquery's outputs computed once per row (not inlined into every
  // reference: r.s is read a dozen times).
  text = `insert into claims (id, ${keepSeq ? 'seq, ' : ''}stream_id, state, assignee, tags, rating, version, created_at, updated_at, search, view, card, head_hash)
    select r.id, ${keepSeq ? `coalesce(l.seq, ${keepSeq.fallback}), ` : ''}r.s->>1, r.s->>2, r.s->>3,
           case when jsonb_typeof(r.s->4) = 'array'
                then array(select t.e from jsonb_array_elements_text(r.s->4) with ordinality as t(e, n) order by t.n) end,
           r.s->>5, (r.s->>6)::integer, (r.s->>7)::timestamptz, (r.s->>8)::timestamptz,
           ${search},
           r.v, r.c, r.s->>11
      from (select (f.s->>${S_ID})::uuid as id, f.s, f.v, f.c, f.search
              from (select x.s::jsonb as s, x.p[1]::json as v, x.p[2]::json as c, x.search
                      from (select string_to_array(u.vc, E'\\x1f') as p, u.s, u.search
                              from rows from (unnest(string_to_array($1::text, E'\\x1e')), unnest(string_to_array($2::text, E'\\x1e')),
                                              json_array_elements_text($3::json)) as u(vc, s, search)
                            offset 0) x
                    offset 0) f
            offset 0) r
      ${keepSeq ? `left join ${keepSeq.live} l on l.id = r.id` : ''}
    ${ON_CONFLICT_REPLACE_SQL}`;
  statements.set(key, text);
  return text;
}

/**
 * The rows' search vectors as tsvector text, in the rows' order, computed by `db` (any
 * connection: the expression is the projection's own, see `projection.ts`).
 */
export async function searchVectors(db: Kysely<any> | Transaction<any>, texts: readonly [string, string][]): Promise<string[]> {
  const config = `${quoteLiteral(SEARCH_CONFIG)}::regconfig`;
  const { rows } = await db.executeQuery<{ v: string }>(
    CompiledQuery.raw(
      `select (setweight(to_tsvector(${config}, d.x->>0), 'A') || setweight(to_tsvector(${config}, d.x->>1), 'B'))::text as v
         from json_array_elements($1::json) with ordinality as d(x, n) order by d.n`,
      [JSON.stringify(texts)],
    ),
  );
  if (rows.length !== texts.length) throw new Error('rebuild: search vectors lost rows');
  return rows.map((r) => r.v);
}

/** A batch of rows encoded for `writeEncodedRows` (plain strings: the rows' objects can go). */
export interface EncodedRows {
  /** Per row `JSON.stringify(view)` U+001F `JSON.stringify(card)`, rows joined by U+001E. */
  json: string;
  /** Per row the json array of its scalars, rows joined by U+001E. */
  scalars: string;
  /** Without inline search texts: each row's (primary, secondary) search text, for `searchVectors`. */
  texts: [string, string][] | null;
  count: number;
}

/**
 * Encodes rows as `writeClaimProjections` would write them (a claim listed twice: its last
 * row; one INSERT … ON CONFLICT cannot touch a row twice). `inlineSearch`: the search texts
 * travel with the rows and the statement computes the vectors; otherwise they are returned
 * in `texts` and the vectors must be handed to `writeEncodedRows`.
 */
export function encodeRebuiltRows(rows: readonly ClaimProjectionRow[], inlineSearch: boolean): EncodedRows {
  const byId = new Map<string, ClaimProjectionRow>();
  for (const row of rows) {
    byId.delete(row.view.id);
    byId.set(row.view.id, row);
  }
  const json: string[] = [];
  const scalars: string[] = [];
  const texts: [string, string][] | null = inlineSearch ? null : [];
  for (const { view, streamId, headHash } of byId.values()) {
    const doc = searchDocument(view);
    if (texts) texts.push([doc.primary, doc.secondary]);
    scalars.push(
      JSON.stringify([
        view.id,
        streamId,
        view.state,
        view.assignee,
        view.tags,
        filterRating(view),
        view.version,
        view.createdAt,
        view.updatedAt,
        inlineSearch ? doc.primary : null,
        inlineSearch ? doc.secondary : null,
        headHash,
      ]),
    );
    json.push(`${JSON.stringify(view)}\u001f${JSON.stringify(toClaimCard(view))}`);
  }
  return { json: json.join('\u001e'), scalars: scalars.join('\u001e'), texts, count: json.length };
}

/**
 * Writes encoded rows in ONE statement (the caller batches). `vectors[i]` (tsvector text, see
 * `searchVectors`) is row i's search vector; required when the rows were encoded without
 * their search texts.
 */
export async function writeEncodedRows(
  db: Kysely<any> | Transaction<any>,
  rows: EncodedRows,
  options: { keepSeq?: KeepSeq | null; vectors?: readonly string[] | null } = {},
): Promise<void> {
  if (rows.count === 0) return;
  const vectors = options.vectors ?? null;
  if (rows.texts !== null && vectors === null) throw new Error('rebuild: rows encoded without their search texts need their vectors');
  if (vectors !== null && vectors.length !== rows.count) throw new Error('rebuild: one search vector per row');
  await db.executeQuery(
    CompiledQuery.raw(statement(options.keepSeq ?? null, vectors !== null), [rows.json, rows.scalars, vectors === null ? null : JSON.stringify(vectors)]),
  );
}

/** Writes the rows (as `writeClaimProjections` would) in ONE statement, search vectors computed there. */
export async function writeRebuiltRows(
  db: Kysely<any> | Transaction<any>,
  rows: readonly ClaimProjectionRow[],
  options: { keepSeq?: KeepSeq | null } = {},
): Promise<void> {
  await writeEncodedRows(db, encodeRebuiltRows(rows, true), options);
}
