import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore, migrateToLatest, openDatabase, type Database, type EventStore } from '@claimtrail/event-store';
import { migrations } from '@claimtrail/migrations';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import type { Actor } from '@claimtrail/domain';
import { ClaimService, CommandError, getClaim } from '../src/index.ts';

const pg = await requirePostgres();
const fc: Actor = { id: 'fc-1', role: 'fact_checker' };

/**
 * The write path with BEGIN sent along with the first statement and COMMIT with the last:
 * a failure anywhere leaves nothing behind, and the (only) pooled connection is clean for
 * the next write.
 */
describe.skipIf(!pg)('ClaimService: BEGIN/COMMIT merged into statements (PostgreSQL)', () => {
  let testDb: TestDatabase;
  let database: Database;
  let store: EventStore;
  let service: ClaimService;
  const events = async (id: string) =>
    Number((await sql<{ n: number }>`select count(*)::int as n from events where stream_id = ${`claim-${id}`}`.execute(database.db)).rows[0]!.n);
  const inTransaction = async () =>
    (await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'`.execute(database.db)).rows[0]!.n;

  beforeAll(async () => {
    testDb = await createTestDatabase('claims_merged');
    // One connection: every write reuses it, so a transaction left open would show.
    database = await openDatabase({ databaseUrl: testDb.url, poolSize: 1 });
    await migrateToLatest(database.db, migrations);
    store = createEventStore(database);
    // Three batches in flight on the one connection: they queue for it, none may leave a transaction open.
    service = new ClaimService(store, { database, batch: { concurrency: 3 } });
  });
  afterAll(async () => {
    await store?.close();
    await database?.close();
    await testDb?.drop();
  });

  it('writes, refuses (If-Match, domain) and keeps writing on the same connection', async () => {
    const id = randomUUID();
    await service.execute({ claimId: id, command: { type: 'submit_claim', text: "O'Brien \\ quotes \"and\" backslashes" }, actor: fc });
    await service.execute({ claimId: id, command: { type: 'add_note', body: "it's \\ fine" }, actor: fc });
    const stale = await service.execute({ claimId: id, command: { type: 'add_note', body: 'x' }, actor: fc, expectedVersion: 1 }).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(CommandError);
    expect((stale as CommandError).code).toBe('precondition_failed');
    const refused = await service.execute({ claimId: id, command: { type: 'add_note', body: '   ' }, actor: fc }).catch((e: unknown) => e);
    expect((refused as CommandError).code).toBe('validation');
    await service.execute({ claimId: id, command: { type: 'add_note', body: 'after' }, actor: fc, expectedVersion: 2 });
    expect(await events(id)).toBe(3);
    const view = await getClaim(database.db, id);
    expect(view).toMatchObject({ version: 3, text: "O'Brien \\ quotes \"and\" backslashes" });
    expect(await inTransaction()).toBe(0);
  });

  it('a failing last statement (projection write) appends nothing and the connection recovers', async () => {
    const id = randomUUID();
    await service.execute({ claimId: id, command: { type: 'submit_claim', text: 'fails at version 2' }, actor: fc });
    await sql`create or replace function claims_fail_v2() returns trigger language plpgsql as $$
      begin if new.version = 2 then raise exception 'projection write refused (test)'; end if; return new; end $$`.execute(database.db);
    await sql`create trigger claims_fail_v2 before update on claims for each row execute function claims_fail_v2()`.execute(database.db);
    try {
      await expect(service.execute({ claimId: id, command: { type: 'add_note', body: 'lost' }, actor: fc })).rejects.toThrow(/projection write refused/);
      await expect(service.execute({ claimId: id, command: { type: 'add_note', body: 'lost' }, actor: fc, idempotencyKey: 'k-1' })).rejects.toThrow(
        /projection write refused/,
      );
    } finally {
      await sql`drop trigger claims_fail_v2 on claims`.execute(database.db);
    }
    expect(await events(id)).toBe(1);
    expect((await sql<{ n: number }>`select count(*)::int as n from idempotency_keys where key = 'k-1'`.execute(database.db)).rows[0]!.n).toBe(0);
    expect(await inTransaction()).toBe(0);
    // The same key works once the request can succeed; a replay answers the same view.
    const first = await service.execute({ claimId: id, command: { type: 'add_note', body: 'kept' }, actor: fc, idempotencyKey: 'k-1' });
    const replay = await service.execute({ claimId: id, command: { type: 'add_note', body: 'kept' }, actor: fc, idempotencyKey: 'k-1' });
    expect(first.view.version).toBe(2);
    expect(replay).toMatchObject({ replayed: true, view: first.view });
    expect(await events(id)).toBe(2);
  });
});
