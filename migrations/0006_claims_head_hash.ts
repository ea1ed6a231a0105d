import { sql, type Kysely, type Migration } from 'kysely';

/**
 * `claims.head_hash`: the hash of the claim stream's last event (the one at `version`).
 * A write already holds the claim row FOR UPDATE; with the head's hash there too it hands
 * the store the stream head (`append({ head })`) instead of the store reading it: one
 * round trip fewer per write. The store's guarded INSERT checks the head is real, so a
 * stale or wrong value costs a retry, never a wrong chain. Derived from the events like
 * every other column (a rebuild writes and compares it).
 */
async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table claims add column head_hash text`.execute(db);
  await sql`
    update claims c set head_hash = e.hash
      from events e
     where e.stream_id = c.stream_id and e.version = c.version`.execute(db);
}

async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table claims drop column head_hash`.execute(db);
}

export const migration0006: Migration = { up, down };
