import { sql, type Kysely, type Migration } from 'kysely';

/**
 * The checkpoint signer key of a PostgreSQL deployment that names no CHECKPOINT_KEY_FILE
 * (docs/transparency.md, "Keys"): one row, made by the first instance to start, so every
 * instance on the database signs with the same key. Readable by whoever can read the
 * database, so weaker than a key file the database cannot reach; the service says so at start.
 */
async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table checkpoint_signer (
      id boolean primary key default true check (id),
      signer_key text not null,
      created_at timestamptz not null default now()
    )`.execute(db);
}

async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table if exists checkpoint_signer`.execute(db);
}

export const migration0023: Migration = { up, down };
