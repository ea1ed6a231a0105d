import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createEventStore, migrateToLatest, openDatabase, type Database, type EventStore } from '@claimtrail/event-store';
import { migrations } from '@claimtrail/migrations';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { claimStreamId, type Actor } from '@claimtrail/domain';
import { ClaimService } from '../src/index.ts';

const pg = await requirePostgres();
const fc: Actor = { id: 'fc-1', role: 'fact_checker' };

/**
 * Two services on one database (two instances). A claim state cached by one goes stale when
 * the other writes the claim; `forgetStale` (called by whatever follows the store) drops it,
 * so the next write reads the claim first instead of trying the one-round-trip path with a
 * stale expected version and rolling it back (which would burn an identity value of `seq`).
 */
describe.skipIf(!pg)('ClaimService.forgetStale', () => {
  let testDb: TestDatabase;
  const databases: Database[] = [];
  const stores: EventStore[] = [];
  let a: ClaimService;
  let b: ClaimService;
  let paths: string[] = [];

  async function open(onPath?: (path: string) => void): Promise<ClaimService> {
    const database = await openDatabase({ databaseUrl: testDb.url });
    const store = createEventStore(database);
    databases.push(database);
    stores.push(store);
    return new ClaimService(store, { database, batch: { concurrency: 1, maxSize: 8 }, ...(onPath ? { onBatchWritten: onPath } : {}) });
  }

  /** The highest `seq` handed out so far in this database's event log. */
  async function lastSeq(): Promise<bigint> {
    const { rows } = await sql<{ seq: string }>`select coalesce(max(seq), 0)::text as seq from events`.execute(databases[0]!.db);
    return BigInt(rows[0]!.seq);
  }

  beforeAll(async () => {
    testDb = await createTestDatabase('claims_forget_stale');
    const setup = await openDatabase({ databaseUrl: testDb.url });
    await migrateToLatest(setup.db, migrations);
    await setup.close();
    a = await open((path) => paths.push(path));
    b = await open();
  });
  afterAll(async () => {
    for (const store of stores) await store.close();
    for (const database of databases) await database.close();
    await testDb?.drop();
  });
  beforeEach(() => {
    paths = [];
  });

  const note = (service: ClaimService, claimId: string, body: string) => service.execute({ claimId, command: { type: 'add_note', body }, actor: fc });

  it("keeps the state of the service's own write, drops one older than another writer's version", async () => {
    const id = randomUUID();
    await a.execute({ claimId: id, command: { type: 'submit_claim', text: 'a claim written by two instances' }, actor: fc });
    expect((await note(a, id, 'one')).view.version).toBe(2);
    // Its own write, seen by its follower: the cached state is that version, kept.
    a.forgetStale(id, 2);
    paths = [];
    expect((await note(a, id, 'two')).view.version).toBe(3);
    expect(paths).toEqual(['one_flight']);

    // The other instance writes version 4; this one hears of it and drops its version 3.
    expect((await note(b, id, 'elsewhere')).view.version).toBe(4);
    a.forgetStale(id, 4);
    for (const store of stores) await store.flush();
    paths = [];
    const before = await lastSeq();
    expect((await note(a, id, 'three')).view.version).toBe(5);
    expect(paths).toEqual(['read_first']);
    // Identity values are never given back: an insert that was rolled back (a one-round-trip
    // attempt on the stale version 3) would leave a gap before the new event's seq. Counted
    // in this test's own database, so other tests' transactions on the server do not count.
    const { rows } = await sql<{ seq: string }>`
      select seq::text from events where stream_id = ${claimStreamId(id)} and version = 5`.execute(databases[0]!.db);
    expect(BigInt(rows[0]!.seq)).toBe(before + 1n);
  });
});
