/**
 * The migrations of a claimtrail database: the event store's own (from its package) and
 * the application's (migrations/), composed into one set. Databases record each migration's
 * name, so the composed set must keep every name and the order it has always had: an
 * existing database then finds nothing new to apply.
 */
import { eventStoreMigrations, migrateToLatest, openDatabase, type Database } from '@claimtrail/event-store';
import { applicationMigrations, migrations } from '@claimtrail/migrations';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** The names existing databases hold; later migrations only ever sort after them. */
const RECORDED = [
  '0001_event_store',
  '0002_claims',
  '0003_claims_card',
  '0004_token_expiry',
  '0005_claims_unused_index',
  '0006_claims_head_hash',
  '0007_claims_view_only',
  '0008_claims_lz4',
  '0009_claims_changed_notify',
  '0010_events_sequence_index_join',
  '0011_claims_published_rating',
  '0012_claims_pending_correction',
  '0013_shared_limits',
  '0014_claims_changed_by_subscription',
];

describe('migrations', () => {
  // Opened in a hook: starting PGlite takes seconds on a busy machine.
  let database: Database;
  beforeAll(async () => {
    database = await openDatabase({ dataDir: 'memory://' });
  });
  afterAll(() => database?.close());

  it('keep the recorded names in their execution order', () => {
    const names = Object.keys(migrations);
    expect(names.slice(0, RECORDED.length)).toEqual(RECORDED);
    expect(names).toEqual([...names].sort());
  });

  it('take the events table and the sequencer from the event store, the rest from migrations/', () => {
    for (const { name, migration } of eventStoreMigrations) expect(migrations[name]).toBe(migration);
    for (const { name, migration } of applicationMigrations) expect(migrations[name]).toBe(migration);
    expect(eventStoreMigrations.length + applicationMigrations.length).toBe(Object.keys(migrations).length);
  });

  it('bring an empty database to the schema, then find nothing new', async () => {
    const names = Object.keys(migrations);
    expect(await migrateToLatest(database.db, migrations)).toEqual(names);
    expect(await migrateToLatest(database.db, migrations)).toEqual([]);
    const recorded = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(database.db);
    expect(recorded.rows.map((row) => row.name)).toEqual(names);
  });
});
