/**
 * The store's own schema: its migrations, their recorded names, and the helper that merges
 * them with an application's into the one name-ordered set Kysely runs.
 */
import { sql, type Migration } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventStoreMigrations, migrateToLatest, migrationsByName, openDatabase, type Database } from '../src/index.ts';

const noop: Migration = { async up() {} };

describe('the event store schema', () => {
  // Opened in a hook: starting PGlite takes seconds on a busy machine.
  let database: Database;
  beforeAll(async () => {
    database = await openDatabase({ dataDir: 'memory://' });
  });
  afterAll(() => database?.close());

  it('keeps the names databases have recorded, in order', () => {
    expect(eventStoreMigrations.map((entry) => entry.name)).toEqual(['0001_event_store', '0010_events_sequence_index_join', '0019_event_tree', '0020_consumer_groups', '0024_event_tree_tiles']);
  });

  it('creates the events table, the sequencer, the Merkle tree and the consumer-group tables alone, once', async () => {
    expect(await migrateToLatest(database.db, eventStoreMigrations)).toEqual(['0001_event_store', '0010_events_sequence_index_join', '0019_event_tree', '0020_consumer_groups', '0024_event_tree_tiles']);
    // The same migrations keyed by name are the same migrations: nothing new to apply.
    expect(await migrateToLatest(database.db, migrationsByName(eventStoreMigrations))).toEqual([]);
    const recorded = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(database.db);
    expect(recorded.rows.map((row) => row.name)).toEqual(['0001_event_store', '0010_events_sequence_index_join', '0019_event_tree', '0020_consumer_groups', '0024_event_tree_tiles']);
    const pass = await sql<{ busy: boolean; sequenced: number }>`select busy, sequenced from events_sequence(10, null::text)`.execute(database.db);
    expect(pass.rows).toEqual([{ busy: false, sequenced: 0 }]);
  });

  it('merges lists into one set in name order', () => {
    const merged = migrationsByName(eventStoreMigrations, [
      { name: '0002_app', migration: noop },
      { name: '0011_app', migration: noop },
    ]);
    expect(Object.keys(merged)).toEqual(['0001_event_store', '0002_app', '0010_events_sequence_index_join', '0011_app', '0019_event_tree', '0020_consumer_groups', '0024_event_tree_tiles']);
    expect(merged['0001_event_store']).toBe(eventStoreMigrations[0]!.migration);
  });

  it('refuses a list out of name order and a name given twice', () => {
    expect(() => migrationsByName([{ name: '0003_b', migration: noop }, { name: '0002_a', migration: noop }])).toThrow(
      /0002_a is listed after 0003_b/,
    );
    expect(() => migrationsByName(eventStoreMigrations, [{ name: '0001_event_store', migration: noop }])).toThrow(
      /0001_event_store is given twice/,
    );
  });
});
