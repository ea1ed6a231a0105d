import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Token expiry and a public token id. `expires_at` null = never expires. The id lets an
 * admin list and revoke tokens without ever handling the token (only its hash is stored).
 */
async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table api_tokens add column if not exists expires_at timestamptz`.execute(db);
  await sql`alter table api_tokens add column if not exists id uuid not null default gen_random_uuid()`.execute(db);
  await sql`create unique index if not exists api_tokens_id_idx on api_tokens (id)`.execute(db);
}

async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists api_tokens_id_idx`.execute(db);
  await sql`alter table api_tokens drop column if exists id`.execute(db);
  await sql`alter table api_tokens drop column if exists expires_at`.execute(db);
}

export const migration0004: Migration = { up, down };
