import type { Migration } from 'kysely';
import { migration0001 } from './0001_event_store.ts';
import { migration0010 } from './0010_events_sequence_index_join.ts';
import { migration0019 } from './0019_event_tree.ts';
import { migration0020 } from './0020_consumer_groups.ts';
import { migration0024 } from './0024_event_tree_tiles.ts';

/** A Kysely migration with the name a database records it under (`kysely_migration`). */
export interface NamedMigration {
  readonly name: string;
  readonly migration: Migration;
}

/**
 * The store's schema: the `events` table, its append-only triggers, the sequencer function
 * `events_sequence`; the log's Merkle tree and its signed checkpoints (`0019`, stored from 64-leaf subtrees up
 * since `0024`). In execution order. The names are recorded in every database that ran
 * them, so they never change. They share one numbering with the migrations of the
 * application built on the store (it composes both lists with `migrationsByName`; Kysely
 * runs them all in name order): `0002`–`0009` are the application's.
 */
export const eventStoreMigrations: readonly NamedMigration[] = [
  { name: '0001_event_store', migration: migration0001 },
  { name: '0010_events_sequence_index_join', migration: migration0010 },
  { name: '0019_event_tree', migration: migration0019 },
  { name: '0020_consumer_groups', migration: migration0020 },
  { name: '0024_event_tree_tiles', migration: migration0024 },
];
