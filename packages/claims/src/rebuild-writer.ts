import { CompiledQuery, type Kysely, type Transaction } from 'kysely';
import copyStreams from 'pg-copy-streams';
import { submitCopy } from './copy-out.ts';
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
export function searchVectors(db: Kysely<any> | Transaction<any>, texts: readonly [string, string][]): Promise<string[]> {
  // Not async: the texts are serialized now and not kept while the query runs.
  return vectorsOf(db, JSON.stringify(texts.map((t) => t[0])), JSON.stringify(texts.map((t) => t[1])), texts.length);
}

async function vectorsOf(db: Kysely<any> | Transaction<any>, primaries: string, secondaries: string, count: number): Promise<string[]> {
  const config = `${quoteLiteral(SEARCH_CONFIG)}::regconfig`;
  // Two flat arrays zipped by ROWS FROM: each text is lexed once (one array of pairs read
  // with `x->>0`, `x->>1` lexed every pair three times: json operators re-parse their input).
  const { rows } = await db.executeQuery<{ v: string }>(
    CompiledQuery.raw(
      `select (setweight(to_tsvector(${config}, d.p), 'A') || setweight(to_tsvector(${config}, d.s), 'B'))::text as v
         from rows from (json_array_elements_text($1::json), json_array_elements_text($2::json)) with ordinality as d(p, s, n)
        order by d.n`,
      [primaries, secondaries],
    ),
  );
  if (rows.length !== count) throw new Error('rebuild: search vectors lost rows');
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

// ------------------------------------------------------------------------------------------
// COPY (PostgreSQL through pg only)
//
// The build pass writes into a fresh table that only it touches: no conflict to resolve, so
// plain `COPY … FROM STDIN` (text format) replaces the INSERT … SELECT above. COPY's line
// parser and heap multi-insert cost the database far less per row than splitting strings,
// casting jsonb scalars and planning an upsert. Same values as `encodeRebuiltRows`: each
// column gets the text the INSERT's casts would have received (`r.s->>k` of the JSON
// scalars, the json texts as is), so the database parses them with the same input functions.

/** The columns every COPY row carries, in line order; `seq` (optional) follows `id`, `search` comes last. */
const COPY_COLUMNS = ['stream_id', 'state', 'assignee', 'tags', 'rating', 'version', 'created_at', 'updated_at', 'head_hash', 'view', 'card'];

const COPY_SPECIAL = /[\\\t\n\r]/;
const COPY_SPECIAL_ALL = /[\\\t\n\r]/g;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/**
 * A text as a COPY text-format field: backslash, tab (the delimiter), newline and carriage
 * return must be escaped; every other character (other controls included) stands for itself.
 */
export function copyField(value: string): string {
  return COPY_SPECIAL.test(value) ? value.replace(COPY_SPECIAL_ALL, (c) => COPY_ESCAPES[c]!) : value;
}

/** JSON.stringify output never holds a raw control character: only its backslashes need escaping. */
function copyJson(json: string): string {
  return json.includes('\\') ? json.replace(/\\/g, '\\\\') : json;
}

const COPY_NULL = '\\N';

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

function copyScalar(value: unknown): string {
  const text = scalarText(value);
  return text === null ? COPY_NULL : copyField(text);
}

/**
 * tags as a text[] literal: every element double-quoted (empty strings, `NULL`, braces,
 * commas and blanks stay data), `"` and `\` backslash-escaped inside the quotes; what the
 * INSERT's `array(… jsonb_array_elements_text …)` builds (a json null element: NULL).
 * Not an array: NULL, as the INSERT's `case when jsonb_typeof(…) = 'array'`.
 */
function copyTextArray(value: unknown): string {
  if (!Array.isArray(value)) return COPY_NULL;
  let literal = '{';
  for (let i = 0; i < value.length; i++) {
    if (i > 0) literal += ',';
    const text = scalarText(value[i]);
    literal += text === null ? 'NULL' : `"${text.replace(/[\\"]/g, '\\$&')}"`;
  }
  return copyField(`${literal}}`);
}

/**
 * Rows' COPY lines up to their search vectors, UTF-8 encoded as they are produced: the
 * batch waits for its vectors (another connection) while the next ones are folded, and
 * strings held that long were copied by every young-generation collection on the way to
 * the old generation; bytes outside the JS heap are not.
 */
export class LineBuffer {
  buffer = Buffer.allocUnsafe(1 << 16);
  at = 0;
  /** Where each row's line (without vector and newline) ends. */
  readonly ends: number[] = [];

  put(text: string): void {
    // A UTF-16 code unit takes at most 3 bytes in UTF-8.
    if (this.buffer.length - this.at < text.length * 3 + 1) {
      const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.at + text.length * 3 + 1));
      this.buffer.copy(grown, 0, 0, this.at);
      this.buffer = grown;
    }
    this.at += this.buffer.write(text, this.at);
  }

  endRow(): void {
    this.ends.push(this.at);
  }
}

/** A batch of rows encoded for `copyEncodedRows`: each row's line up to its search vector. */
export interface CopyRows {
  /** Rows whose `seq` is given (the live row's), its value in the line after the id. */
  withSeq: LineBuffer;
  /** Rows without a `seq` (the column default fills it). */
  withoutSeq: LineBuffer;
  /** Each row's (primary, secondary) search text: `withSeq`'s rows, then `withoutSeq`'s. */
  texts: [string, string][];
  count: number;
}

/**
 * Builds a COPY batch one row at a time, each row encoded as it is added: the caller can
 * let a claim's state and view go at once instead of holding a whole batch of them (those
 * object graphs, kept for the length of a batch, were most of what the fold promoted into
 * the old generation). Rows must have distinct claim ids (no conflict resolution in COPY).
 * `seqOf` gives the live row's seq by claim id (undefined: none).
 */
export class CopyRowsBuilder {
  private readonly withSeq = new LineBuffer();
  private readonly withoutSeq = new LineBuffer();
  private readonly seqTexts: [string, string][] = [];
  private readonly plainTexts: [string, string][] = [];

  constructor(private readonly seqOf: ((id: string) => string | undefined) | null) {}

  get count(): number {
    return this.withSeq.ends.length + this.withoutSeq.ends.length;
  }

  add({ view, streamId, headHash }: ClaimProjectionRow): void {
    const doc = searchDocument(view);
    const seq = this.seqOf?.(view.id);
    const out = seq === undefined ? this.withoutSeq : this.withSeq;
    (seq === undefined ? this.plainTexts : this.seqTexts).push([doc.primary, doc.secondary]);
    out.put(seq === undefined ? `${copyScalar(view.id)}\t` : `${copyScalar(view.id)}\t${copyField(seq)}\t`);
    out.put(
      `${copyScalar(streamId)}\t${copyScalar(view.state)}\t${copyScalar(view.assignee)}\t${copyTextArray(view.tags)}\t` +
        `${copyScalar(filterRating(view))}\t${copyScalar(view.version)}\t${copyScalar(view.createdAt)}\t${copyScalar(view.updatedAt)}\t` +
        `${copyScalar(headHash)}\t`,
    );
    out.put(copyJson(JSON.stringify(view)));
    out.put('\t');
    out.put(copyJson(JSON.stringify(toClaimCard(view))));
    out.put('\t');
    out.endRow();
  }

  finish(): CopyRows {
    return { withSeq: this.withSeq, withoutSeq: this.withoutSeq, texts: this.seqTexts.concat(this.plainTexts), count: this.count };
  }
}

/** The lines as one buffer, each completed by its vector and a newline. */
function copyPayload(lines: LineBuffer, vectors: readonly string[], from: number): Buffer {
  let bound = lines.at;
  for (let i = 0; i < lines.ends.length; i++) bound += vectors[from + i]!.length * 6 + 1;
  const buffer = Buffer.allocUnsafe(bound);
  let at = 0;
  let start = 0;
  for (let i = 0; i < lines.ends.length; i++) {
    const end = lines.ends[i]!;
    at += lines.buffer.copy(buffer, at, start, end);
    start = end;
    at += buffer.write(copyField(vectors[from + i]!), at);
    buffer[at++] = 0x0a;
  }
  return buffer.subarray(0, at);
}

/**
 * Runs one COPY … FROM STDIN with `data` on the connection behind `db` (a pg transaction;
 * see `submitCopy`). The data is written before the stream is submitted: it is corked until
 * the server's CopyInResponse, then flushed.
 */
async function copyIn(db: Kysely<any> | Transaction<any>, text: string, data: Buffer): Promise<void> {
  const stream = copyStreams.from(text);
  const submitted = submitCopy(db, stream, 'finish');
  stream.end(data);
  await submitted;
}

/**
 * Writes encoded rows into `table` (schema-qualified, quoted) with COPY: at most two
 * statements (rows with and without a given seq). `vectors[i]` is the search vector (tsvector
 * text, see `searchVectors`) of `rows.texts[i]`. No ON CONFLICT: the table must not hold
 * these claims yet.
 */
export async function copyEncodedRows(db: Kysely<any> | Transaction<any>, table: string, rows: CopyRows, vectors: readonly string[]): Promise<void> {
  if (vectors.length !== rows.count) throw new Error('rebuild: one search vector per row');
  const columns = COPY_COLUMNS.join(', ');
  const writes: Promise<void>[] = [];
  if (rows.withSeq.ends.length > 0) {
    writes.push(copyIn(db, `copy ${table} (id, seq, ${columns}, search) from stdin`, copyPayload(rows.withSeq, vectors, 0)));
  }
  if (rows.withoutSeq.ends.length > 0) {
    writes.push(copyIn(db, `copy ${table} (id, ${columns}, search) from stdin`, copyPayload(rows.withoutSeq, vectors, rows.withSeq.ends.length)));
  }
  // Both are queued on the connection at once; wait for both even when the first fails.
  const results = await Promise.allSettled(writes);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}
