import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { createEventStore, openDatabase, type Database, type EventStore, type PositionedEvent } from '../src/index.ts';
import { event, openBackend, waitFor, type Backend } from './helpers.ts';

const available = await requirePostgres();

/**
 * Three instances' sequencers contending for the one advisory lock: a pass that finds it
 * taken waits for the holder's notification instead of retrying on a short timer. Positions
 * must still come out gap-free and in commit order, and every writer's flush must see its
 * events positioned.
 */
describe.skipIf(!available)('sequencers of three instances on one database', () => {
  let backend: Backend;
  const databases: Database[] = [];
  const stores: EventStore[] = [];

  beforeAll(async () => {
    backend = await openBackend('postgres', 4);
    for (let i = 0; i < 3; i++) {
      const database = await openDatabase({ databaseUrl: backend.url!, poolSize: 8 });
      databases.push(database);
      stores.push(createEventStore(database, { onError: () => undefined }));
    }
  });
  afterAll(async () => {
    for (const store of stores) await store.close();
    for (const database of databases) await database.close();
    await backend?.cleanup();
  });

  it('gap-free, commit-ordered positions; every head a writer is given covers its events', async () => {
    const start = await stores[0]!.headPosition();
    // A subscription per instance: each listens for the others' passes (as the API's follower does).
    const seen: PositionedEvent[][] = [[], [], []];
    const subscriptions = stores.map((store, i) => store.subscribe({ after: start }, (e) => void seen[i]!.push(e)));
    /** What each writer knew had committed (its own events) when it started a later append. */
    const committedBefore = new Map<string, Set<string>>();
    const committed = new Set<string>();
    const heads: { ids: string[]; head: number }[] = [];
    const writers = Array.from({ length: 24 }, async (_, w) => {
      const store = stores[w % 3]!;
      for (let round = 0; round < 15; round++) {
        const ids = [randomUUID(), randomUUID()];
        committedBefore.set(ids[0]!, new Set(committed));
        await store.append(`c-${w}-${round % 4}`, ids.map((id) => event('Happened', { w, round }, id)));
        for (const id of ids) committed.add(id);
        heads.push({ ids, head: await store.flushCommitted() });
      }
    });
    await Promise.all(writers);
    const total = 24 * 15 * 2;
    const head = await stores[0]!.flush();
    await waitFor(() => subscriptions.every((s) => s.position >= head), 'every instance to follow to the head');

    const { events } = await stores[0]!.readAll({ after: start, limit: total + 10 });
    expect(events.map((e) => e.position)).toEqual(Array.from({ length: total }, (_, i) => start + i + 1));
    const positionOf = new Map(events.map((e) => [e.id, e.position]));
    // Commit order: an append that started after another had committed is positioned after it.
    for (const [first, before] of committedBefore) {
      for (const id of before) expect(positionOf.get(id)!).toBeLessThan(positionOf.get(first)!);
    }
    for (const { ids, head: covering } of heads) {
      for (const id of ids) expect(positionOf.get(id)!).toBeLessThanOrEqual(covering);
    }
    for (const list of seen) expect(list.map((e) => e.id)).toEqual(events.map((e) => e.id));
    await Promise.all(subscriptions.map((s) => s.close()));
  });
});
