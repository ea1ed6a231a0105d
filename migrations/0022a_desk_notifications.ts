import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Desk operations (docs/desk-operations.md): the desk follower's checkpoint and the
 * in-app notifications it derives from the events (packages/claims/src/desk/). Whether a
 * notification was read is kept apart (`notification_reads`): it is the user's doing, and
 * a rebuild of the notifications leaves it alone.
 */
async function up(db: Kysely<any>): Promise<void> {
  await sql`create table desk_followers (name text primary key, position bigint not null)`.execute(db);
  await sql`
    create table notifications (
      seq bigint primary key,
      id text not null unique,
      recipient text not null,
      kind text not null,
      claim_id uuid not null,
      actor text not null,
      created_at timestamptz not null,
      data jsonb not null
    )`.execute(db);
  await sql`create index notifications_recipient_idx on notifications (recipient, seq desc)`.execute(db);
  await sql`create table notification_reads (id text primary key, read_at timestamptz not null)`.execute(db);
}

async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table if exists notification_reads`.execute(db);
  await sql`drop table if exists notifications`.execute(db);
  await sql`drop table if exists desk_followers`.execute(db);
}

export const migration0022a: Migration = { up, down };
