import { sql, type Kysely, type Migration } from 'kysely';

/**
 * The event table, its append-only triggers and the sequencer function.
 * See packages/event-store/README.md for the design (post-commit sequencer).
 * Statements run one by one: PGlite's extended protocol takes one statement per query.
 */
const up: string[] = [
  `create table events (
     seq          bigint generated always as identity,
     id           uuid not null primary key,
     stream_id    text not null,
     version      integer not null check (version > 0),
     type         text not null,
     data         jsonb not null,
     metadata     jsonb not null,
     recorded_at  timestamptz not null,
     hash         text not null,
     prev_hash    text,
     position     bigint,
     constraint events_stream_version unique (stream_id, version)
   )`,
  // Partial: rows waiting for the sequencer are not indexed, so an insert touches one index less.
  `create unique index events_position on events (position) where position is not null`,
  // The sequencer's work queue: small, because rows leave it within milliseconds.
  `create index events_unsequenced on events (seq) where position is null`,
  `create function events_append_only() returns trigger language plpgsql as $$
   begin
     raise exception 'events are append-only: % refused', tg_op
       using errcode = 'restrict_violation', table = 'events';
   end $$`,
  // The only UPDATE allowed is the sequencer's: position NULL -> value, every other column
  // unchanged. Checked in the WHEN clause (plain expression, no PL/pgSQL call per row), so
  // a sequencer pass pays almost nothing for it. A column added later must be added here.
  `create trigger events_append_only_rows before update on events
     for each row
     when (not (old.position is null and new.position is not null
                and new.seq = old.seq and new.id = old.id and new.stream_id = old.stream_id
                and new.version = old.version and new.type = old.type
                and new.data = old.data and new.metadata = old.metadata
                and new.recorded_at = old.recorded_at and new.hash = old.hash
                and new.prev_hash is not distinct from old.prev_hash))
     execute function events_append_only()`,
  `create trigger events_append_only_delete before delete on events
     for each statement execute function events_append_only()`,
  `create trigger events_append_only_truncate before truncate on events
     for each statement execute function events_append_only()`,
  // One sequencer pass. Must be called outside an explicit transaction (autocommit) so the
  // advisory lock is released at its commit. Each statement of a volatile plpgsql
  // function takes a fresh READ COMMITTED snapshot, so the statements after the lock see
  // every pass that committed before it: positions only ever become visible in order.
  `create function events_sequence(p_batch integer, p_channel text)
     returns table (busy boolean, sequenced integer, head bigint)
     language plpgsql volatile as $$
   declare
     v_head bigint;
     v_count integer;
   begin
     if current_setting('transaction_isolation') <> 'read committed' then
       raise exception 'events_sequence must run in READ COMMITTED';
     end if;
     if not pg_try_advisory_xact_lock(4242001, 1) then
       return query select true, 0, null::bigint;
       return;
     end if;
     select coalesce(max(e.position), 0) into v_head from events e where e.position is not null;
     update events e set position = v_head + t.rn
       from (select s.seq, row_number() over (order by s.seq) as rn
               from (select u.seq from events u where u.position is null order by u.seq limit p_batch) s) t
      where e.seq = t.seq;
     get diagnostics v_count = row_count;
     if v_count > 0 and p_channel is not null then
       perform pg_notify(p_channel, (v_head + v_count)::text);
     end if;
     return query select false, v_count, v_head + v_count;
   end $$`,
];

const down: string[] = [
  `drop function if exists events_sequence(integer, text)`,
  `drop table if exists events`,
  `drop function if exists events_append_only()`,
];

export const migration0001: Migration = {
  async up(db: Kysely<any>) {
    for (const statement of up) await sql.raw(statement).execute(db);
  },
  async down(db: Kysely<any>) {
    for (const statement of down) await sql.raw(statement).execute(db);
  },
};
