import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { createEventStore, openDatabase, type Database, type EventStore } from '../src/index.ts';
import { event, openBackend, type Backend } from './helpers.ts';

const available = await requirePostgres();

/** The head a flush resolves with covers the writes it waited for (a write's consistency token). */
describe.skipIf(!available)('flush and flushCommitted resolve with a covering head', () => {
  let backend: Backend;
  let store: EventStore;
  let otherDatabase: Database;
  let other: EventStore;

  beforeAll(async () => {
    backend = await openBackend('postgres', 12);
    store = backend.store();
    otherDatabase = await openDatabase({ databaseUrl: backend.url!, poolSize: 4 });
    other = createEventStore(otherDatabase, { onError: () => undefined });
  });
  afterAll(async () => {
    await other?.close();
    await otherDatabase?.close();
    await backend?.cleanup();
  });

  async function positionsOf(streamId: string): Promise<number[]> {
    const events = await store.readStream(streamId);
    return events.map((e) => {
      if (e.position === null) throw new Error(`event ${e.id} has no position`);
      return e.position;
    });
  }

  it('many concurrent writers, each asking right after its commit: the head covers its own events', async () => {
    const writers = Array.from({ length: 40 }, async (_, i) => {
      const streamId = `w-${randomUUID()}`;
      if (i % 2 === 0) await store.append(streamId, [event('A', { i }), event('B', { i })]);
      else await store.transaction((tx) => store.append(streamId, [event('A', { i })], { tx }));
      const head = await store.flushCommitted();
      return { streamId, head };
    });
    for (const { streamId, head } of await Promise.all(writers)) {
      for (const position of await positionsOf(streamId)) expect(position).toBeLessThanOrEqual(head);
    }
  });

  it("flush covers another instance's committed events", async () => {
    const streamId = `o-${randomUUID()}`;
    // The other store commits; its sequencer may or may not have positioned the event yet.
    await other.append(streamId, [event('A')]);
    const head = await store.flush();
    for (const position of await positionsOf(streamId)) expect(position).toBeLessThanOrEqual(head);
    expect(head).toBe(await store.headPosition());
  });
});
