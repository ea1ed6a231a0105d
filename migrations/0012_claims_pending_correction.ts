import { sql, type Kysely, type Migration, type RawBuilder } from 'kysely';

/**
 * Two-person corrections: the claim view and the board card gained `pendingCorrection`
 * (a proposed change of the published verdict) and each recorded correction `proposedBy`.
 * Rows written before have neither; a response schema requires them and a rebuild would
 * report every such row as different. Both are null for every row written before (no
 * proposal existed, every correction was recorded at once), so they are filled in place,
 * without a fold. Rows that already have the field (written by the new service) are left.
 */
/**
 * The document with every correction of its published verdict rewritten by `correction`
 * (an expression over `c`, one correction), order kept; documents without a published
 * verdict unchanged.
 */
function withCorrections(column: 'view' | 'card', correction: RawBuilder<unknown>) {
  const doc = sql.ref(column);
  return sql`case
      when jsonb_typeof(${doc}::jsonb -> 'publishedVerdict') = 'object' then jsonb_set(
        ${doc}::jsonb,
        '{publishedVerdict,corrections}',
        coalesce(
          (select jsonb_agg(${correction} order by i)
             from jsonb_array_elements(${doc}::jsonb -> 'publishedVerdict' -> 'corrections') with ordinality as t(c, i)),
          '[]'::jsonb))
      else ${doc}::jsonb
    end`;
}

function upgraded(column: 'view' | 'card') {
  const correction = sql`case when c ? 'proposedBy' then c else c || '{"proposedBy":null}'::jsonb end`;
  return sql`(${withCorrections(column, correction)} || '{"pendingCorrection":null}'::jsonb)::json`;
}

function downgraded(column: 'view' | 'card') {
  return sql`(${withCorrections(column, sql`c - 'proposedBy'`)} - 'pendingCorrection')::json`;
}

async function up(db: Kysely<any>): Promise<void> {
  await sql`update claims set view = ${upgraded('view')} where not (view::jsonb ? 'pendingCorrection')`.execute(db);
  await sql`update claims set card = ${upgraded('card')} where not (card::jsonb ? 'pendingCorrection')`.execute(db);
}

async function down(db: Kysely<any>): Promise<void> {
  await sql`update claims set view = ${downgraded('view')}, card = ${downgraded('card')}`.execute(db);
}

export const migration0012: Migration = { up, down };
