import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Duplicate suggestions (`GET /claims/:id/similar`): two folded texts per claim
 * (`foldForMatching`: transliteration variants meet) with `pg_trgm` trigram indexes.
 * `similar_text` is the claim's text, `similar_context` its claimant and appearances
 * (projection-row.ts `similarText` / `similarContext`, which every writer and the rebuild
 * use). Existing rows are filled here from their stored view, with a frozen copy of
 * `foldForMatching` as it was when this migration was written (a migration imports no
 * application code: a later change of the folding must not change what this one did; a
 * rebuild recomputes the columns with the current one).
 *
 * `pg_trgm` is a trusted extension (PostgreSQL ≥ 13: the database owner may create it);
 * the embedded PGlite loads its build of the module when it opens (event-store database.ts).
 */
const BATCH = 500;

// Frozen copy of packages/domain/src/fold.ts `foldForMatching`.
const CYRILLIC: Readonly<Record<string, string>> = {
  а: 'a', б: 'b', в: 'v', г: 'g', ґ: 'g', д: 'd', е: 'e', ё: 'yo', є: 'ye', ж: 'zh', з: 'z', и: 'i', і: 'i', ї: 'yi',
  й: 'y', к: 'k', л: 'l', м: 'm', н: 'n', о: 'o', п: 'p', р: 'r', с: 's', т: 't', у: 'u', ф: 'f', х: 'kh', ц: 'ts',
  ч: 'ch', ш: 'sh', щ: 'shch', ъ: '', ы: 'y', ь: '', э: 'e', ю: 'yu', я: 'ya',
};

const VARIANTS: readonly (readonly [RegExp, string])[] = [
  [/(?:y|j|i)oe?/g, 'e'],
  [/(?:y|j)e/g, 'e'],
  [/j(?=[ua])/g, 'y'],
  [/kh/g, 'h'],
  [/([a-z])\1+/g, '$1'],
];

function foldForMatching(text: string): string {
  const lower = text.normalize('NFC').toLowerCase();
  let latin = '';
  for (const char of lower) {
    const mapped = CYRILLIC[char];
    if (mapped !== undefined) {
      latin += mapped;
      continue;
    }
    // é → e, ö → o: the base letter without its combining marks.
    latin += char.normalize('NFKD').replace(/\p{M}+/gu, '');
  }
  let folded = latin.replace(/[^\p{L}\p{N}]+/gu, ' ');
  for (const [pattern, replacement] of VARIANTS) folded = folded.replace(pattern, replacement);
  return folded.trim().replace(/ +/g, ' ');
}


interface StoredView {
  text?: unknown;
  claimant?: unknown;
  appearances?: unknown;
}

function texts(view: StoredView): { text: string; context: string } {
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  const appearances = Array.isArray(view.appearances) ? (view.appearances as Record<string, unknown>[]) : [];
  const parts = [str(view.claimant), ...appearances.flatMap((a) => [str(a?.outlet), str(a?.title), str(a?.excerpt)])];
  return { text: foldForMatching(str(view.text)), context: foldForMatching(parts.filter((p) => p.length > 0).join(' ')) };
}

async function up(db: Kysely<any>): Promise<void> {
  await sql`create extension if not exists pg_trgm`.execute(db);
  await sql`alter table claims add column similar_text text, add column similar_context text`.execute(db);
  for (let after = -1; ; ) {
    const { rows } = await sql<{ seq: string; id: string; view: string }>`
      select seq::text as seq, id, view::text as view from claims where seq > ${after} order by seq limit ${BATCH}`.execute(db);
    if (rows.length === 0) break;
    const records = rows.map((r) => ({ id: r.id, ...texts(JSON.parse(r.view) as StoredView) }));
    await sql`update claims c set similar_text = r.text, similar_context = r.context
                from json_to_recordset(${JSON.stringify(records)}::json) as r(id uuid, text text, context text)
               where c.id = r.id`.execute(db);
    after = Number(rows[rows.length - 1]!.seq);
  }
  await sql`create index claims_similar_text_idx on claims using gin (similar_text gin_trgm_ops)`.execute(db);
  await sql`create index claims_similar_context_idx on claims using gin (similar_context gin_trgm_ops)`.execute(db);
}

async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists claims_similar_context_idx`.execute(db);
  await sql`drop index if exists claims_similar_text_idx`.execute(db);
  await sql`alter table claims drop column if exists similar_text, drop column if exists similar_context`.execute(db);
}

export const migration0022: Migration = { up, down };
