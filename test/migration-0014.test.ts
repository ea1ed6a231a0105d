/**
 * Migration 0014: no write transaction on `claims` sends a NOTIFY any more (0009's
 * statement triggers and their function are gone), and down puts exactly them back.
 */
import { migrateToLatest, openDatabase } from '@claimtrail/event-store';
import { migrations } from '@claimtrail/migrations';
import { createTestDatabase, requirePostgres } from '@claimtrail/testing';
import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';

// PostgreSQL when there is one (it spares the embedded database's start), else PGlite.
const pg = await requirePostgres();

async function notifyingParts(db: Kysely<any>): Promise<{ triggers: string[]; functions: number }> {
  const triggers = await sql<{ name: string }>`
    select tgname as name from pg_trigger where tgrelid = 'claims'::regclass and not tgisinternal and tgname like 'claims_changed_%' order by 1`.execute(db);
  const functions = await sql<{ n: number }>`select count(*)::int as n from pg_proc where proname = 'claims_changed_notify'`.execute(db);
  return { triggers: triggers.rows.map((row) => row.name), functions: functions.rows[0]!.n };
}

describe('migration 0014_claims_changed_by_subscription', () => {
  it('drops the claims-changed triggers and function; down re-creates them, up drops them again', async () => {
    const testDb = pg ? await createTestDatabase('migration_0014') : undefined;
    const database = await openDatabase(testDb ? { databaseUrl: testDb.url } : { dataDir: 'memory://' });
    try {
      await migrateToLatest(database.db, migrations);
      expect(await notifyingParts(database.db)).toEqual({ triggers: [], functions: 0 });
      const migration = migrations['0014_claims_changed_by_subscription']!;
      await migration.down!(database.db);
      expect(await notifyingParts(database.db)).toEqual({ triggers: ['claims_changed_insert', 'claims_changed_update'], functions: 1 });
      await migration.up(database.db);
      expect(await notifyingParts(database.db)).toEqual({ triggers: [], functions: 0 });
    } finally {
      await database.close();
      await testDb?.drop();
    }
  });
});
