import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Durable consumer groups (src/consumers/): a named group with its filter and its
 * checkpoint, and the group's outstanding events — taken in from the log, not yet
 * acknowledged — with their leases, attempt counts and whether they are parked.
 * Every piece of state lives here, none in a process: members in any number of processes
 * share a group through row locks (`for update skip locked`).
 */
const up: string[] = [
  `create table consumer_groups (
     name           text primary key check (length(name) between 1 and 200),
     event_types    text[],
     stream_prefix  text,
     streams        text[],
     max_attempts   integer not null check (max_attempts between 1 and 1000),
     lease_ms       integer not null check (lease_ms between 100 and 86400000),
     checkpoint     bigint not null default 0 check (checkpoint >= 0),
     created_at     timestamptz not null default now()
   )`,
  // One row per event of the group not acknowledged yet. lease_until: not handed out
  // before then (a member's lease, or the delay before a retry after a nack).
  `create table consumer_pending (
     group_name   text not null references consumer_groups (name) on delete cascade,
     position     bigint not null,
     stream_id    text not null,
     attempts     integer not null default 0,
     parked       boolean not null default false,
     leased_by    text,
     lease_until  timestamptz,
     last_error   text,
     parked_at    timestamptz,
     primary key (group_name, position)
   )`,
  // "Is there an earlier outstanding event of this stream?": the per-stream order check.
  `create index consumer_pending_stream on consumer_pending (group_name, stream_id, position) where not parked`,
  `create index consumer_pending_parked on consumer_pending (group_name, position) where parked`,
];

const down: string[] = [`drop table if exists consumer_pending`, `drop table if exists consumer_groups`];

export const migration0020: Migration = {
  async up(db: Kysely<any>) {
    for (const statement of up) await sql.raw(statement).execute(db);
  },
  async down(db: Kysely<any>) {
    for (const statement of down) await sql.raw(statement).execute(db);
  },
};
