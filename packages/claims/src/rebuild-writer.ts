import { CompiledQuery, type Kysely, type Transaction } from 'kysely';
import copyStreams from 'pg-copy-streams';
import { COPY_BINARY_SIGNATURE, PG_EPOCH_SECONDS, submitCopy } from './copy-out.ts';
import { draftRating, ON_CONFLICT_REPLACE_SQL, publishedRating, searchDocument, SEARCH_CONFIG, toClaimCard, type ClaimProjectionRow } from './projection.ts';

/**
 * The rebuild's bulk writers: the rows `writeClaimProjections` writes (same values, same json
 * text, same search vectors, same upsert on id), sent and unpacked more cheaply, for a
 * rebuild into a fresh copy of the table. Two of them: the INSERT below (PGlite, the
 * catch-up, rows the COPY writer sets aside) and the binary COPY further down (the build
 * on PostgreSQL).
 *
 * The INSERT:
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

function statement(keepSeq: KeepSeq | null): string {
  const key = `${keepSeq?.live ?? ''}\u0000${keepSeq?.fallback ?? ''}`;
  let text = statements.get(key);
  if (text) return text;
  const config = `${quoteLiteral(SEARCH_CONFIG)}::regconfig`;
  const search = `setweight(to_tsvector(${config}, r.s->>${S_PRIMARY}), 'A')
             || setweight(to_tsvector(${config}, r.s->>${S_SECONDARY}), 'B')`;
  // `offset 0` keeps each subquery's outputs computed once per row (not inlined into every
  // reference: r.s is read a dozen times).
  text = `insert into claims (id, ${keepSeq ? 'seq, ' : ''}stream_id, state, assignee, tags, rating, draft_rating, version, created_at, updated_at, search, view, card, head_hash)
    select r.id, ${keepSeq ? `coalesce(l.seq, ${keepSeq.fallback}), ` : ''}r.s->>1, r.s->>2, r.s->>3,
           case when jsonb_typeof(r.s->4) = 'array'
                then array(select t.e from jsonb_array_elements_text(r.s->4) with ordinality as t(e, n) order by t.n) end,
           r.s->>5, r.s->>12, (r.s->>6)::integer, (r.s->>7)::timestamptz, (r.s->>8)::timestamptz,
           ${search},
           r.v, r.c, r.s->>11
      from (select (f.s->>${S_ID})::uuid as id, f.s, f.v, f.c
              from (select x.s::jsonb as s, x.p[1]::json as v, x.p[2]::json as c
                      from (select string_to_array(u.vc, E'\\x1f') as p, u.s
                              from rows from (unnest(string_to_array($1::text, E'\\x1e')), unnest(string_to_array($2::text, E'\\x1e'))) as u(vc, s)
                            offset 0) x
                    offset 0) f
            offset 0) r
      ${keepSeq ? `left join ${keepSeq.live} l on l.id = r.id` : ''}
    ${ON_CONFLICT_REPLACE_SQL}`;
  statements.set(key, text);
  return text;
}

/** A batch of rows encoded for `writeEncodedRows` (plain strings: the rows' objects can go). */
export interface EncodedRows {
  /** Per row `JSON.stringify(view)` U+001F `JSON.stringify(card)`, rows joined by U+001E. */
  json: string;
  /** Per row the json array of its scalars, rows joined by U+001E. */
  scalars: string;
  count: number;
}

/**
 * Encodes rows as `writeClaimProjections` would write them (a claim listed twice: its last
 * row; one INSERT … ON CONFLICT cannot touch a row twice).
 */
export function encodeRebuiltRows(rows: readonly ClaimProjectionRow[]): EncodedRows {
  const byId = new Map<string, ClaimProjectionRow>();
  for (const row of rows) {
    byId.delete(row.view.id);
    byId.set(row.view.id, row);
  }
  const json: string[] = [];
  const scalars: string[] = [];
  for (const { view, streamId, headHash } of byId.values()) {
    const doc = searchDocument(view);
    scalars.push(
      JSON.stringify([
        view.id,
        streamId,
        view.state,
        view.assignee,
        view.tags,
        publishedRating(view),
        view.version,
        view.createdAt,
        view.updatedAt,
        doc.primary,
        doc.secondary,
        headHash,
        draftRating(view),
      ]),
    );
    json.push(`${JSON.stringify(view)}\u001f${JSON.stringify(toClaimCard(view))}`);
  }
  return { json: json.join('\u001e'), scalars: scalars.join('\u001e'), count: json.length };
}

/** Writes encoded rows in ONE statement (the caller batches), search vectors computed there. */
export async function writeEncodedRows(db: Kysely<any> | Transaction<any>, rows: EncodedRows, options: { keepSeq?: KeepSeq | null } = {}): Promise<void> {
  if (rows.count === 0) return;
  await db.executeQuery(CompiledQuery.raw(statement(options.keepSeq ?? null), [rows.json, rows.scalars]));
}

/** Writes the rows (as `writeClaimProjections` would) in ONE statement, search vectors computed there. */
export async function writeRebuiltRows(
  db: Kysely<any> | Transaction<any>,
  rows: readonly ClaimProjectionRow[],
  options: { keepSeq?: KeepSeq | null } = {},
): Promise<void> {
  await writeEncodedRows(db, encodeRebuiltRows(rows), options);
}

// ------------------------------------------------------------------------------------------
// COPY (PostgreSQL through pg only)
//
// The build pass writes into a fresh table that only it touches: no conflict to resolve, so
// `COPY … FROM STDIN` in binary format replaces the INSERT … SELECT above. COPY's heap
// multi-insert costs the database far less per row than splitting strings, casting jsonb
// scalars and planning an upsert; the binary format spares it the text input functions
// (tsvector's parser alone was a fifth of a text COPY: measured over 20k rows, text format
// ≈ 0.8–0.9 s of the server's time, binary ≈ 0.5 s). Same values as `encodeRebuiltRows`:
// each column gets the value the INSERT's casts make of `r.s->>k` of the JSON scalars,
// computed here where that is exact (a canonical uuid, an ISO instant as toISOString
// writes it with a four-digit year, an int4 version); a row with any other value is not
// encoded (`add` says so) and the caller writes it with the INSERT, where the database's
// own input functions decide. The search vector comes from `searchVectors` (another
// connection) in tsvector's binary form, as the server sends it.

/**
 * The rows' search vectors in tsvector's binary form (`tsvectorsend`), in the rows' order,
 * computed on a connection of `db` (any: the expression is the projection's own, see
 * `projection.ts`), in a transaction that runs `prelude` first (the rebuild lifts the
 * pool's statement timeout there, as in its other transactions).
 */
export function searchVectors(db: Kysely<any>, texts: readonly [string, string][], prelude: string): Promise<Buffer[]> {
  // Not async: the texts are serialized now and not kept while the query runs.
  return vectorsOf(db, JSON.stringify(texts.map((t) => t[0])), JSON.stringify(texts.map((t) => t[1])), texts.length, prelude);
}

async function vectorsOf(db: Kysely<any>, primaries: string, secondaries: string, count: number, prelude: string): Promise<Buffer[]> {
  const config = `${quoteLiteral(SEARCH_CONFIG)}::regconfig`;
  // Two flat arrays zipped by ROWS FROM: each text is lexed once (one array of pairs read
  // with `x->>0`, `x->>1` lexed every pair three times: json operators re-parse their input).
  // bytea arrives as hex text, which pg's type parser turns into a Buffer.
  const { rows } = await db.transaction().execute(async (tx) => {
    await tx.executeQuery(CompiledQuery.raw(prelude));
    return tx.executeQuery<{ v: Buffer }>(
      CompiledQuery.raw(
        `select tsvectorsend(setweight(to_tsvector(${config}, d.p), 'A') || setweight(to_tsvector(${config}, d.s), 'B')) as v
           from rows from (json_array_elements_text($1::json), json_array_elements_text($2::json)) with ordinality as d(p, s, n)
          order by d.n`,
        [primaries, secondaries],
      ),
    );
  });
  if (rows.length !== count || !rows.every((r) => Buffer.isBuffer(r.v))) throw new Error('rebuild: search vectors lost rows');
  return rows.map((r) => r.v);
}

/** The columns every COPY row carries, in order; `seq` (optional) follows `id`, `search` comes last. */
const COPY_COLUMNS = ['stream_id', 'state', 'assignee', 'tags', 'rating', 'draft_rating', 'version', 'created_at', 'updated_at', 'head_hash', 'view', 'card'];
const TEXT_OID = 25;

const CANONICAL_UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
// toISOString's text for years 0001–9999 (year 0000 is one the server's parser refuses).
const ISO_INSTANT = /^(?!0000)\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
// The signature, flags (no OIDs), header extension length (none).
const BINARY_HEADER = Buffer.concat([COPY_BINARY_SIGNATURE, Buffer.alloc(8)]);
const BINARY_TRAILER = Buffer.from([0xff, 0xff]);

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

/** An instant's value in COPY binary (µs since 2000-01-01), or null when not toISOString's text. */
function binaryInstant(value: unknown): bigint | null {
  if (typeof value !== 'string' || !ISO_INSTANT.test(value)) return null;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? BigInt(ms - PG_EPOCH_SECONDS * 1000) * 1000n : null;
}

const EMPTY_BUFFER = Buffer.alloc(0);
const TUPLE_BUFFER_START = 1 << 21;

/**
 * COPY binary tuples up to their search vectors, encoded as they are produced: the batch
 * waits for its vectors (another connection) while the next ones are folded, and strings
 * held that long were copied by every young-generation collection on the way to the old
 * generation; bytes outside the JS heap are not.
 */
class TupleBuffer {
  // Allocated at the first row, large enough for a typical batch (a row is a few kB; every
  // doubling copies what was written so far).
  buffer = EMPTY_BUFFER;
  at = 0;
  /** Where each row's bytes (without its vector) end. */
  readonly ends: number[] = [];

  private reserve(bytes: number): void {
    if (this.buffer.length - this.at >= bytes) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, TUPLE_BUFFER_START, this.at + bytes));
    this.buffer.copy(grown, 0, 0, this.at);
    this.buffer = grown;
  }

  int16(value: number): void {
    this.reserve(2);
    this.at = this.buffer.writeInt16BE(value, this.at);
  }

  int32(value: number): void {
    this.reserve(4);
    this.at = this.buffer.writeInt32BE(value, this.at);
  }

  /** A field of 8 bytes (int8, timestamptz). */
  int64(value: bigint): void {
    this.reserve(12);
    this.at = this.buffer.writeInt32BE(8, this.at);
    this.at = this.buffer.writeBigInt64BE(value, this.at);
  }

  /** A text field (UTF-8), or NULL. */
  text(value: string | null): void {
    if (value === null) return this.int32(-1);
    // A UTF-16 code unit takes at most 3 bytes in UTF-8.
    this.reserve(4 + value.length * 3);
    const lengthAt = this.at;
    const written = this.buffer.write(value, lengthAt + 4);
    this.buffer.writeInt32BE(written, lengthAt);
    this.at = lengthAt + 4 + written;
  }

  /** A uuid field from its canonical text (checked by the caller). */
  uuid(value: string): void {
    this.reserve(20);
    this.at = this.buffer.writeInt32BE(16, this.at);
    this.at += this.buffer.write(value.replace(/-/g, ''), this.at, 16, 'hex');
  }

  /** A text[] field (one dimension, NULL elements allowed), or NULL. */
  textArray(elements: (string | null)[] | null): void {
    if (elements === null) return this.int32(-1);
    this.reserve(4);
    const lengthAt = this.at;
    this.at += 4;
    this.int32(elements.length === 0 ? 0 : 1);
    this.int32(elements.includes(null) ? 1 : 0);
    this.int32(TEXT_OID);
    if (elements.length > 0) {
      this.int32(elements.length);
      this.int32(1);
      for (const element of elements) this.text(element);
    }
    this.buffer.writeInt32BE(this.at - lengthAt - 4, lengthAt);
  }

  endRow(): void {
    this.ends.push(this.at);
  }
}

/** A batch of rows encoded for `copyEncodedRows`: each row's tuple up to its search vector. */
export interface CopyRows {
  /** Rows whose `seq` is given (the live row's), its value after the id. */
  withSeq: TupleBuffer;
  /** Rows without a `seq` (the column default fills it). */
  withoutSeq: TupleBuffer;
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
  private readonly withSeq = new TupleBuffer();
  private readonly withoutSeq = new TupleBuffer();
  private readonly seqTexts: [string, string][] = [];
  private readonly plainTexts: [string, string][] = [];

  constructor(private readonly seqOf: ((id: string) => string | undefined) | null) {}

  get count(): number {
    return this.withSeq.ends.length + this.withoutSeq.ends.length;
  }

  /**
   * Encodes the row; false (nothing added) when a value is one this encoder does not
   * reproduce exactly (see above): the caller writes that row with the INSERT writer.
   */
  add({ view, streamId, headHash }: ClaimProjectionRow): boolean {
    const id = view.id;
    const createdAt = binaryInstant(view.createdAt);
    const updatedAt = binaryInstant(view.updatedAt);
    const version = view.version;
    if (typeof id !== 'string' || !CANONICAL_UUID.test(id) || createdAt === null || updatedAt === null) return false;
    if (!Number.isInteger(version) || version < -2_147_483_648 || version > 2_147_483_647) return false;
    const doc = searchDocument(view);
    const seq = this.seqOf?.(id);
    const out = seq === undefined ? this.withoutSeq : this.withSeq;
    (seq === undefined ? this.plainTexts : this.seqTexts).push([doc.primary, doc.secondary]);
    out.int16(COPY_COLUMNS.length + (seq === undefined ? 2 : 3));
    out.uuid(id);
    if (seq !== undefined) out.int64(BigInt(seq));
    out.text(scalarText(streamId));
    out.text(scalarText(view.state));
    out.text(scalarText(view.assignee));
    out.textArray(Array.isArray(view.tags) ? (view.tags as unknown[]).map(scalarText) : null);
    out.text(scalarText(publishedRating(view)));
    out.text(scalarText(draftRating(view)));
    out.int32(4);
    out.int32(version);
    out.int64(createdAt);
    out.int64(updatedAt);
    out.text(scalarText(headHash));
    out.text(JSON.stringify(view));
    out.text(JSON.stringify(toClaimCard(view)));
    out.endRow();
    return true;
  }

  finish(): CopyRows {
    return { withSeq: this.withSeq, withoutSeq: this.withoutSeq, texts: this.seqTexts.concat(this.plainTexts), count: this.count };
  }
}

/** One COPY's binary data: the header, each tuple completed by its vector, the trailer. */
function copyPayload(tuples: TupleBuffer, vectors: readonly Buffer[], from: number): Buffer {
  let size = BINARY_HEADER.length + tuples.at + BINARY_TRAILER.length;
  for (let i = 0; i < tuples.ends.length; i++) size += 4 + vectors[from + i]!.length;
  const buffer = Buffer.allocUnsafe(size);
  let at = BINARY_HEADER.copy(buffer, 0);
  let start = 0;
  for (let i = 0; i < tuples.ends.length; i++) {
    const end = tuples.ends[i]!;
    at += tuples.buffer.copy(buffer, at, start, end);
    start = end;
    const vector = vectors[from + i]!;
    at = buffer.writeInt32BE(vector.length, at);
    at += vector.copy(buffer, at);
  }
  at += BINARY_TRAILER.copy(buffer, at);
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
 * statements (rows with and without a given seq). `vectors[i]` is the search vector
 * (tsvector binary, see `searchVectors`) of `rows.texts[i]`. No ON CONFLICT: the table must
 * not hold these claims yet.
 */
export async function copyEncodedRows(db: Kysely<any> | Transaction<any>, table: string, rows: CopyRows, vectors: readonly Buffer[]): Promise<void> {
  if (vectors.length !== rows.count) throw new Error('rebuild: one search vector per row');
  const columns = COPY_COLUMNS.join(', ');
  const writes: Promise<void>[] = [];
  if (rows.withSeq.ends.length > 0) {
    writes.push(copyIn(db, `copy ${table} (id, seq, ${columns}, search) from stdin with (format binary)`, copyPayload(rows.withSeq, vectors, 0)));
  }
  if (rows.withoutSeq.ends.length > 0) {
    writes.push(copyIn(db, `copy ${table} (id, ${columns}, search) from stdin with (format binary)`, copyPayload(rows.withoutSeq, vectors, rows.withSeq.ends.length)));
  }
  // Both are queued on the connection at once; wait for both even when the first fails.
  const results = await Promise.allSettled(writes);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}
