import { sql, type Kysely, type Migration } from 'kysely';

/**
 * `claims_updated_idx (updated_at desc, id desc)` serves no query (the board reads
 * `claims_board_idx (state, updated_at desc, id desc)`, lists read `claims_created_idx`),
 * yet every write updates `updated_at` and so inserts into it: drop it.
 */
async function up(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists claims_updated_idx`.execute(db);
}

async function down(db: Kysely<any>): Promise<void> {
  await sql`create index if not exists claims_updated_idx on claims (updated_at desc, id desc)`.execute(db);
}

export const migration0005: Migration = { up, down };
