import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Claim projections, users and tokens, idempotency keys. Everything here is derived
 * from the events or is access control: the events themselves live in 0001.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table users (
      id text primary key,
      name text,
      role text not null check (role in ('fact_checker', 'editor', 'auditor', 'admin')),
      disabled boolean not null default false,
      created_at timestamptz not null default now()
    )`.execute(db);

  // Only the sha256 of a token is stored: a leaked table does not leak credentials.
  await sql`
    create table api_tokens (
      token_hash text primary key,
      user_id text not null references users (id) on delete cascade,
      label text,
      created_at timestamptz not null default now(),
      revoked_at timestamptz
    )`.execute(db);
  await sql`create index api_tokens_user_idx on api_tokens (user_id)`.execute(db);

  // Written in the same transaction as the append it answers for: a crash cannot leave
  // events without their key (a retry would append twice) or a key without events.
  await sql`
    create table idempotency_keys (
      user_id text not null,
      key text not null,
      request_hash text not null,
      claim_id uuid,
      status_code integer not null,
      version integer,
      -- Text, not jsonb: the replay is byte-for-byte the first answer.
      response text not null,
      created_at timestamptz not null default now(),
      primary key (user_id, key)
    )`.execute(db);
  await sql`create index idempotency_keys_created_idx on idempotency_keys (created_at)`.execute(db);

  // The claim view projection: the view as served (json keeps the text as written, so a
  // read is byte-identical to the write's answer) plus columns to filter on, and the
  // domain state so a write loads one row instead of folding the whole stream.
  await sql`
    create table claims (
      id uuid primary key,
      seq bigserial not null unique,
      stream_id text not null unique,
      state text not null,
      assignee text,
      tags text[] not null default '{}',
      rating text,
      version integer not null,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      search tsvector not null,
      view json not null,
      snapshot jsonb not null
    )`.execute(db);
  await sql`create index claims_board_idx on claims (state, updated_at desc, id desc)`.execute(db);
  await sql`create index claims_updated_idx on claims (updated_at desc, id desc)`.execute(db);
  await sql`create index claims_assignee_idx on claims (assignee, seq)`.execute(db);
  await sql`create index claims_rating_idx on claims (rating, seq)`.execute(db);
  await sql`create index claims_tags_idx on claims using gin (tags)`.execute(db);
  await sql`create index claims_search_idx on claims using gin (search)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table if exists claims`.execute(db);
  await sql`drop table if exists idempotency_keys`.execute(db);
  await sql`drop table if exists api_tokens`.execute(db);
  await sql`drop table if exists users`.execute(db);
}

export const migration0002: Migration = { up, down };
