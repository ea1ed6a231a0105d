import { sql, type Kysely, type Migration } from 'kysely';

/**
 * The sequencer pass joined the events it numbers back to `events` on `seq` alone, and no
 * index covers `seq` for every row (only `events_unsequenced (seq) where position is null`),
 * so each pass read the whole table: a hash join over a sequential scan, its cost growing
 * with the log (pg_stat_user_tables under the notes bench: ≈ 4,900 scans reading 13.7 M
 * rows for 17 k appended events). Saying `e.position is null` in the join lets both sides
 * come from the partial index (a merge join over the unsequenced rows only). Same rows, same
 * numbering, same locking: the pass still runs under its advisory lock.
 */
const PASS = (join: string) => `create or replace function events_sequence(p_batch integer, p_channel text)
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
      where ${join};
     get diagnostics v_count = row_count;
     if v_count > 0 and p_channel is not null then
       perform pg_notify(p_channel, (v_head + v_count)::text);
     end if;
     return query select false, v_count, v_head + v_count;
   end $$`;

export const migration0010: Migration = {
  async up(db: Kysely<any>) {
    await sql.raw(PASS('e.seq = t.seq and e.position is null')).execute(db);
  },
  async down(db: Kysely<any>) {
    await sql.raw(PASS('e.seq = t.seq')).execute(db);
  },
};
