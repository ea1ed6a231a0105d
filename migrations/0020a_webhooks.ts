import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Integrations built on the event store's consumer groups (0020_consumer_groups):
 * - `claim_consumer_filters`: the claim-level part of a group's filter that the store
 *   cannot evaluate (a tag, states: checked against the claim's projection row when an
 *   event is handed out; services/api/src/integrations/claim-filter.ts).
 * - `webhooks`: one subscription each, consumed through the group `webhook:<id>`.
 * - `webhook_deliveries`: the delivery log, one row per attempt.
 */
async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table claim_consumer_filters (
      group_name text primary key references consumer_groups (name) on delete cascade,
      tag        text,
      states     text[]
    )`.execute(db);
  await sql`
    create table webhooks (
      id              uuid primary key,
      url             text not null,
      secret          text not null,
      filter          jsonb not null,
      description     text,
      enabled         boolean not null default true,
      disabled_reason text,
      disabled_at     timestamptz,
      failing_since   timestamptz,
      created_by      text not null,
      created_at      timestamptz not null default now()
    )`.execute(db);
  await sql`
    create table webhook_deliveries (
      id          bigint generated always as identity primary key,
      webhook_id  uuid not null references webhooks (id) on delete cascade,
      message_id  text not null,
      position    bigint not null,
      event_type  text not null,
      attempt     integer not null,
      status      integer,
      latency_ms  integer not null,
      error       text,
      at          timestamptz not null default now()
    )`.execute(db);
  await sql`create index webhook_deliveries_by_webhook on webhook_deliveries (webhook_id, id desc)`.execute(db);
}

async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table if exists webhook_deliveries`.execute(db);
  await sql`drop table if exists webhooks`.execute(db);
  await sql`drop table if exists claim_consumer_filters`.execute(db);
}

export const migration0020a: Migration = { up, down };
