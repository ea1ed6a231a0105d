import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Desk analytics (docs/desk-operations.md): one fact per event — when, who, the claim's
 * state before and after, its assignee after, who drafted a published verdict — kept by
 * the desk follower (packages/claims/src/desk/analytics.ts); `GET /stats` aggregates them.
 */
async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table desk_facts (
      position bigint primary key,
      claim_id uuid not null,
      type text not null,
      at timestamptz not null,
      actor text not null,
      from_state text,
      to_state text,
      assignee text,
      drafted_by text
    )`.execute(db);
  await sql`create index desk_facts_claim_idx on desk_facts (claim_id, position)`.execute(db);
  await sql`create index desk_facts_type_at_idx on desk_facts (type, at)`.execute(db);
}

async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table if exists desk_facts`.execute(db);
}

export const migration0022c: Migration = { up, down };
