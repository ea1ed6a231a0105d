import { sql, type Kysely, type Migration } from 'kysely';

/**
 * The log's Merkle tree (RFC 6962 style, see @claimtrail/transparency) and its signed
 * checkpoints.
 *
 * `events_tree` keeps every complete subtree: (level, idx) covers the leaves
 * [idx·2^level, (idx+1)·2^level); level 0 are the leaf hashes (leaf i = the event at position
 * i+1). The tree of any size n is the concatenation of O(log n) of them, so a root or a proof
 * costs O(log n) point reads on the primary key. Rows are only ever added, by one extender at
 * a time (tree.ts, under an advisory lock), outside the write transactions.
 *
 * `events_checkpoints`: one signed note per tree size. `events_checkpoint_cosignatures`:
 * witnesses' cosignature lines over a checkpoint.
 *
 * All three are append-only like `events`: UPDATE, DELETE and TRUNCATE are refused.
 */
const up: string[] = [
  `create table events_tree (
     level  smallint not null check (level between 0 and 62),
     idx    bigint not null check (idx >= 0),
     hash   bytea not null check (length(hash) = 32),
     primary key (level, idx)
   )`,
  `create table events_checkpoints (
     tree_size   bigint primary key check (tree_size >= 0),
     root_hash   bytea not null check (length(root_hash) = 32),
     note        text not null,
     created_at  timestamptz not null default now()
   )`,
  `create table events_checkpoint_cosignatures (
     tree_size   bigint not null references events_checkpoints (tree_size),
     key_name    text not null,
     key_id      text not null,
     line        text not null,
     created_at  timestamptz not null default now(),
     primary key (tree_size, key_name, key_id)
   )`,
  `create function events_tree_append_only() returns trigger language plpgsql as $$
   begin
     raise exception '% is append-only: % refused', tg_table_name, tg_op
       using errcode = 'restrict_violation', table = tg_table_name;
   end $$`,
  ...['events_tree', 'events_checkpoints', 'events_checkpoint_cosignatures'].flatMap((table) => [
    `create trigger ${table}_append_only_rows before update or delete on ${table}
       for each row execute function events_tree_append_only()`,
    `create trigger ${table}_append_only_truncate before truncate on ${table}
       for each statement execute function events_tree_append_only()`,
  ]),
];

const down: string[] = [
  `drop table if exists events_checkpoint_cosignatures`,
  `drop table if exists events_checkpoints`,
  `drop table if exists events_tree`,
  `drop function if exists events_tree_append_only()`,
];

export const migration0019: Migration = {
  async up(db: Kysely<any>) {
    for (const statement of up) await sql.raw(statement).execute(db);
  },
  async down(db: Kysely<any>) {
    for (const statement of down) await sql.raw(statement).execute(db);
  },
};
