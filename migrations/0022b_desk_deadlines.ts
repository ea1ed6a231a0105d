import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Deadlines (docs/desk-operations.md): each claim's current period — its state, when it
 * entered it or was last assigned, the version that began it — and the period the
 * deadline watcher escalated. Kept by the desk follower (packages/claims/src/desk/deadlines.ts).
 */
async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table desk_claim_ages (
      claim_id uuid primary key,
      state text not null,
      since timestamptz not null,
      period_version integer not null,
      escalated_version integer
    )`.execute(db);
  await sql`create index desk_claim_ages_since_idx on desk_claim_ages (state, since)`.execute(db);
}

async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table if exists desk_claim_ages`.execute(db);
}

export const migration0022b: Migration = { up, down };
