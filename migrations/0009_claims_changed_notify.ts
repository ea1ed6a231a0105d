import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Every statement that writes claim rows tells every instance which claims changed, at its
 * commit: NOTIFY `claimtrail_claims` with `id:version,…` (or `*` when too many rows changed
 * for one notification's 8000-byte payload). Instances keep recently read or written claim
 * views in memory (see ClaimViewCache); this is how they learn of writes made by other
 * instances, by operators in SQL or by any other writer, without asking the database on
 * every read. A trigger rather than code in each writer: nothing that writes the table can
 * forget it. Statement-level with a transition table: one notification per statement,
 * however many rows a group-commit batch writes.
 */
const up: string[] = [
  `create function claims_changed_notify() returns trigger language plpgsql as $$
   declare
     v_payload text;
   begin
     select case when count(*) > 150 then '*' else string_agg(c.id::text || ':' || c.version, ',') end
       into v_payload from changed c;
     if v_payload is not null then
       perform pg_notify('claimtrail_claims', v_payload);
     end if;
     return null;
   end $$`,
  `create trigger claims_changed_insert after insert on claims
     referencing new table as changed for each statement execute function claims_changed_notify()`,
  `create trigger claims_changed_update after update on claims
     referencing new table as changed for each statement execute function claims_changed_notify()`,
];

const down: string[] = [
  'drop trigger if exists claims_changed_update on claims',
  'drop trigger if exists claims_changed_insert on claims',
  'drop function if exists claims_changed_notify()',
];

export const migration0009: Migration = {
  async up(db: Kysely<any>) {
    for (const statement of up) await sql.raw(statement).execute(db);
  },
  async down(db: Kysely<any>) {
    for (const statement of down) await sql.raw(statement).execute(db);
  },
};
