import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Most writes (notes above all) change only unindexed columns of their claim row — the
 * view and card json, version, updated_at, head_hash — yet every one of them inserted new
 * entries into all eight indexes of `claims` (two of them GIN over the search vector and
 * tags) because `updated_at` was part of the board index: an index column changed, so
 * PostgreSQL could not do a heap-only (HOT) update. Measured with pgbench on this table
 * shape: HOT updates cost about half.
 *
 * - the board index becomes `(state)`: the board reads a state's rows and keeps the 50
 *   most recently changed (a top-N sort), instead of reading them in index order;
 * - fillfactor 75 leaves room on each page for the new row version a HOT update needs;
 * - view and card are compressed with lz4 where the server has it (several times cheaper
 *   than the default pglz to compress and to read; only new values are affected).
 */
async function lz4Available(db: Kysely<any>): Promise<boolean> {
  const result = await sql<{ ok: boolean }>`
    select coalesce((select 'lz4' = any(enumvals) from pg_settings where name = 'default_toast_compression'), false) as ok`.execute(db);
  return result.rows[0]?.ok === true;
}

async function up(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists claims_board_idx`.execute(db);
  await sql`create index claims_state_idx on claims (state)`.execute(db);
  await sql`alter table claims set (fillfactor = 75)`.execute(db);
  if (await lz4Available(db)) {
    await sql`alter table claims alter column view set compression lz4, alter column card set compression lz4`.execute(db);
  }
}

async function down(db: Kysely<any>): Promise<void> {
  if (await lz4Available(db)) {
    await sql`alter table claims alter column view set compression default, alter column card set compression default`.execute(db);
  }
  await sql`alter table claims reset (fillfactor)`.execute(db);
  await sql`drop index if exists claims_state_idx`.execute(db);
  await sql`create index claims_board_idx on claims (state, updated_at desc, id desc)`.execute(db);
}

export const migration0008: Migration = { up, down };
