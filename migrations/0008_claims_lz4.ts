import { sql, type Kysely, type Migration } from 'kysely';

/**
 * The projection's view and card json (a few kB per row, rewritten by every write and by
 * every row of a rebuild) are compressed with lz4 where the server has it: several times
 * cheaper than the default pglz to compress and to read. Only new values are affected.
 *
 * (Tried and left out: making note-only writes heap-only updates by taking `updated_at`
 * out of the board index, with fillfactor 75. With group commit in place it measured no
 * clear gain, and the board then had to sort every claim of a state per request.)
 */
async function lz4Available(db: Kysely<any>): Promise<boolean> {
  const result = await sql<{ ok: boolean }>`
    select coalesce((select 'lz4' = any(enumvals) from pg_settings where name = 'default_toast_compression'), false) as ok`.execute(db);
  return result.rows[0]?.ok === true;
}

async function up(db: Kysely<any>): Promise<void> {
  if (await lz4Available(db)) {
    await sql`alter table claims alter column view set compression lz4, alter column card set compression lz4`.execute(db);
  }
}

async function down(db: Kysely<any>): Promise<void> {
  if (await lz4Available(db)) {
    await sql`alter table claims alter column view set compression default, alter column card set compression default`.execute(db);
  }
}

export const migration0008: Migration = { up, down };
