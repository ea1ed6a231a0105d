import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Board cards: the claim view without its long lists (notes, evidence, appearances), so
 * GET /board does not ship every note of every claim. The snapshot becomes `json`: it is
 * only ever written and read whole, and json input is cheaper than jsonb on every write.
 */
async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table claims add column card json`.execute(db);
  await sql`
    update claims set card = ((view::jsonb - 'notes' - 'evidence' - 'appearances')
      || jsonb_build_object(
           'evidenceCount', jsonb_array_length(coalesce(view::jsonb -> 'evidence', '[]'::jsonb)),
           'appearancesCount', jsonb_array_length(coalesce(view::jsonb -> 'appearances', '[]'::jsonb))))::json`.execute(db);
  await sql`alter table claims alter column card set not null`.execute(db);
  await sql`alter table claims alter column snapshot type json using snapshot::json`.execute(db);
  // GET /claims order (newest first, keyset on created_at, id): derived from the events,
  // so a rebuilt projection lists in the same order.
  await sql`create index claims_created_idx on claims (created_at desc, id desc)`.execute(db);
}

async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists claims_created_idx`.execute(db);
  await sql`alter table claims alter column snapshot type jsonb using snapshot::jsonb`.execute(db);
  await sql`alter table claims drop column card`.execute(db);
}

export const migration0003: Migration = { up, down };
