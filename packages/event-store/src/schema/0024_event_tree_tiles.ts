import { sql, type Kysely, type Migration } from 'kysely';

/**
 * The stored tree keeps only subtrees of 16 leaves and up (level ≥ 4, `TREE_STORED_LEVEL` in
 * tree.ts); the levels below are computed from the events when a proof needs them, as a
 * tiled transparency log serves its partial tiles. Storing every node wrote two tree rows per
 * event, as many rows again as the log itself; this writes one per 8 events.
 *
 * The tree's size cannot be read from those nodes (the last 0–15 leaves are in no stored
 * node), so every extension records the size it reached in `events_tree_sizes`, append-only
 * like the tree. The nodes below level 4 that an earlier version stored are removed: they are
 * derived data, recomputed from the events exactly as before, and the signed checkpoints,
 * which are the binding part, are untouched.
 */
const up: string[] = [
  `create table events_tree_sizes (
     size         bigint primary key check (size >= 0),
     extended_at  timestamptz not null default now()
   )`,
  `create trigger events_tree_sizes_append_only_rows before update or delete on events_tree_sizes
     for each row execute function events_tree_append_only()`,
  `create trigger events_tree_sizes_append_only_truncate before truncate on events_tree_sizes
     for each statement execute function events_tree_append_only()`,
  `insert into events_tree_sizes (size)
     select max(idx) + 1 from events_tree where level = 0 having count(*) > 0`,
  `alter table events_tree disable trigger events_tree_append_only_rows`,
  `delete from events_tree where level < 4`,
  `alter table events_tree enable trigger events_tree_append_only_rows`,
  `alter table events_tree add constraint events_tree_stored_levels check (level >= 4)`,
];

const down: string[] = [
  `alter table events_tree drop constraint if exists events_tree_stored_levels`,
  `drop table if exists events_tree_sizes`,
];

export const migration0024: Migration = {
  async up(db: Kysely<any>) {
    for (const statement of up) await sql.raw(statement).execute(db);
  },
  async down(db: Kysely<any>) {
    for (const statement of down) await sql.raw(statement).execute(db);
  },
};
