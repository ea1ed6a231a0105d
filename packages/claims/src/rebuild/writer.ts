import { CompiledQuery, type Kysely, type Transaction } from 'kysely';
import { COPY_BINARY_HEADER, COPY_BINARY_TRAILER, copyIn, CopyTupleWriter } from '@claimtrail/event-store';
import {
  JSON_COLUMNS,
  ON_CONFLICT_REPLACE_SQL,
  PROJECTION_COLUMNS,
  PROJECTION_KEY,
  SCALAR_COLUMNS,
  SEARCH_CONFIG,
  searchDocument,
  VALUE_COLUMNS,
  type ClaimProjectionRow,
  type ValueColumn,
} from '../projection-row.ts';

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

// A row's scalar array: the scalar columns' values in SCALAR_COLUMNS' order, then the two search texts.
const S_PRIMARY = SCALAR_COLUMNS.length;
const S_SECONDARY = S_PRIMARY + 1;
const KEY = VALUE_COLUMNS.find((c) => c.name === PROJECTION_KEY)!;

function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

const statements = new Map<string, string>();

/** The rebuild INSERT's text, derived from the row definition (once per `keepSeq`). */
function statement(keepSeq: KeepSeq | null): string {
  const key = `${keepSeq?.live ?? ''}\u0000${keepSeq?.fallback ?? ''}`;
  let text = statements.get(key);
  if (text) return text;
  const config = `${quoteLiteral(SEARCH_CONFIG)}::regconfig`;
  const search = `setweight(to_tsvector(${config}, r.s->>${S_PRIMARY}), 'A')
             || setweight(to_tsvector(${config}, r.s->>${S_SECONDARY}), 'B')`;
  const others = PROJECTION_COLUMNS.filter((c) => c.name !== PROJECTION_KEY);
  const names = [KEY.name, ...(keepSeq ? ['seq'] : []), ...others.map((c) => c.name)];
  const values = [
    `r.${KEY.name}`,
    ...(keepSeq ? [`coalesce(l.seq, ${keepSeq.fallback})`] : []),
    ...others.map((c) => {
      if (c.kind === 'search') return search;
      if (JSON_COLUMNS.includes(c)) return `r.${c.name}`;
      return c.type.fromScalar('r.s', SCALAR_COLUMNS.indexOf(c));
    }),
  ];
  const jsonParts = JSON_COLUMNS.map((c, j) => `x.p[${j + 1}]::json as ${c.name}`).join(', ');
  const jsonNames = JSON_COLUMNS.map((c) => `f.${c.name}`).join(', ');
  // `offset 0` keeps each subquery's outputs computed once per row (not inlined into every
  // reference: r.s is read a dozen times).
  text = `insert into claims (${names.join(', ')})
    select ${values.join(',\n           ')}
      from (select ${KEY.type.fromScalar('f.s', SCALAR_COLUMNS.indexOf(KEY))} as ${KEY.name}, f.s, ${jsonNames}
              from (select x.s::jsonb as s, ${jsonParts}
                      from (select string_to_array(u.vc, E'\\x1f') as p, u.s
                              from rows from (unnest(string_to_array($1::text, E'\\x1e')), unnest(string_to_array($2::text, E'\\x1e'))) as u(vc, s)
                            offset 0) x
                    offset 0) f
            offset 0) r
      ${keepSeq ? `left join ${keepSeq.live} l on l.${KEY.name} = r.${KEY.name}` : ''}
    ${ON_CONFLICT_REPLACE_SQL}`;
  statements.set(key, text);
  return text;
}

/** A batch of rows encoded for `writeEncodedRows` (plain strings: the rows' objects can go). */
export interface EncodedRows {
  /** Per row its json columns' texts joined by U+001F, rows joined by U+001E. */
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
  for (const row of byId.values()) {
    const doc = searchDocument(row.view);
    const values: unknown[] = SCALAR_COLUMNS.map((c) => c.value(row));
    values.push(doc.primary, doc.secondary);
    scalars.push(JSON.stringify(values));
    json.push(JSON_COLUMNS.map((c) => c.value(row) as string).join('\u001f'));
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
// each column's type encodes the value the INSERT's casts make of `r.s->>k` of the JSON
// scalars (projection-row.ts), where that is exact; a row with any other value is not
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

/** The value columns every COPY row carries after the key (and `seq`, when given); `search` comes last. */
const COPY_COLUMNS: readonly ValueColumn[] = VALUE_COLUMNS.filter((c) => c !== KEY);
const COPY_COLUMN_LIST = COPY_COLUMNS.map((c) => c.name).join(', ');

/** A batch of rows encoded for `copyEncodedRows`: each row's tuple up to its search vector. */
export interface CopyRows {
  /** Rows whose `seq` is given (the live row's), its value after the key. */
  withSeq: CopyTupleWriter;
  /** Rows without a `seq` (the column default fills it). */
  withoutSeq: CopyTupleWriter;
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
  private readonly withSeq = new CopyTupleWriter();
  private readonly withoutSeq = new CopyTupleWriter();
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
  add(row: ClaimProjectionRow): boolean {
    const id = KEY.value(row);
    const seq = typeof id === 'string' ? this.seqOf?.(id) : undefined;
    const out = seq === undefined ? this.withoutSeq : this.withSeq;
    const start = out.at;
    out.int16(COPY_COLUMNS.length + (seq === undefined ? 2 : 3));
    let encoded = KEY.type.copy(out, id);
    if (encoded && seq !== undefined) out.int64(BigInt(seq));
    for (let i = 0; encoded && i < COPY_COLUMNS.length; i++) {
      const c = COPY_COLUMNS[i]!;
      encoded = c.type.copy(out, c.value(row));
    }
    if (!encoded) {
      out.rewind(start);
      return false;
    }
    out.endRow();
    const doc = searchDocument(row.view);
    (seq === undefined ? this.plainTexts : this.seqTexts).push([doc.primary, doc.secondary]);
    return true;
  }

  finish(): CopyRows {
    return { withSeq: this.withSeq, withoutSeq: this.withoutSeq, texts: this.seqTexts.concat(this.plainTexts), count: this.count };
  }
}

/** One COPY's binary data: the header, each tuple completed by its vector, the trailer. */
function copyPayload(tuples: CopyTupleWriter, vectors: readonly Buffer[], from: number): Buffer {
  let size = COPY_BINARY_HEADER.length + tuples.at + COPY_BINARY_TRAILER.length;
  for (let i = 0; i < tuples.ends.length; i++) size += 4 + vectors[from + i]!.length;
  const buffer = Buffer.allocUnsafe(size);
  let at = COPY_BINARY_HEADER.copy(buffer, 0);
  let start = 0;
  for (let i = 0; i < tuples.ends.length; i++) {
    const end = tuples.ends[i]!;
    at += tuples.buffer.copy(buffer, at, start, end);
    start = end;
    const vector = vectors[from + i]!;
    at = buffer.writeInt32BE(vector.length, at);
    at += vector.copy(buffer, at);
  }
  at += COPY_BINARY_TRAILER.copy(buffer, at);
  return buffer.subarray(0, at);
}

/**
 * Writes encoded rows into `table` (schema-qualified, quoted) with COPY: at most two
 * statements (rows with and without a given seq). `vectors[i]` is the search vector
 * (tsvector binary, see `searchVectors`) of `rows.texts[i]`. No ON CONFLICT: the table must
 * not hold these claims yet.
 */
export async function copyEncodedRows(db: Kysely<any> | Transaction<any>, table: string, rows: CopyRows, vectors: readonly Buffer[]): Promise<void> {
  if (vectors.length !== rows.count) throw new Error('rebuild: one search vector per row');
  const writes: Promise<void>[] = [];
  if (rows.withSeq.ends.length > 0) {
    writes.push(copyIn(db, `copy ${table} (${KEY.name}, seq, ${COPY_COLUMN_LIST}, search) from stdin with (format binary)`, copyPayload(rows.withSeq, vectors, 0)));
  }
  if (rows.withoutSeq.ends.length > 0) {
    writes.push(
      copyIn(db, `copy ${table} (${KEY.name}, ${COPY_COLUMN_LIST}, search) from stdin with (format binary)`, copyPayload(rows.withoutSeq, vectors, rows.withSeq.ends.length)),
    );
  }
  // Both are queued on the connection at once; wait for both even when the first fails.
  const results = await Promise.allSettled(writes);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}
