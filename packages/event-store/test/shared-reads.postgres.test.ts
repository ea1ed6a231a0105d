import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { createEventStore, openDatabase, type Database, type EventStore, type PositionedEvent, type ReadAllOptions } from '../src/index.ts';
import { event, openBackend, waitFor, type Backend } from './helpers.ts';

const available = await requirePostgres();

/**
 * An instance follows the store with more than one subscription (its caches, its live
 * fan-out). Woken by the same notification, at the same position, they share each page read.
 */
describe.skipIf(!available)('subscriptions of one store share their reads', () => {
  let backend: Backend;
  let writer: EventStore;
  let readerDatabase: Database;
  let reader: EventStore;
  const readsAfter: number[] = [];

  beforeAll(async () => {
    backend = await openBackend('postgres', 6);
    writer = backend.store();
    // The following instance: its own pool and LISTEN connection, no sequencer, no polls in
    // the test's time, so its subscriptions are woken only by the writer's notifications.
    readerDatabase = await openDatabase({ databaseUrl: backend.url!, poolSize: 4 });
    reader = createEventStore(readerDatabase, { sequencer: false, subscriptionPollMs: 60_000, onError: () => undefined });
    // Counts the queries the subscriptions send (the store's subscriptions read through readAll).
    const readAll = reader.readAll.bind(reader);
    reader.readAll = (options?: ReadAllOptions) => {
      readsAfter.push(options?.after ?? 0);
      return readAll(options);
    };
  });
  afterAll(async () => {
    await reader?.close();
    await readerDatabase?.close();
    await backend?.cleanup();
  });

  it('two subscriptions at the head read each new page once, and each gets every event once, in order', async () => {
    const start = await writer.headPosition();
    const seen: PositionedEvent[][] = [[], []];
    const first = reader.subscribe({ after: start }, (e) => void seen[0]!.push(e));
    const second = reader.subscribe({ after: start }, async (e) => {
      await new Promise((resolve) => setImmediate(resolve));
      seen[1]!.push(e);
    });
    await Promise.all([first.caughtUp, second.caughtUp]);
    readsAfter.length = 0;
    const appends = 20;
    for (let i = 0; i < appends; i++) {
      await writer.append(`s-${randomUUID()}`, [event('Happened', { i }), event('Happened', { i })]);
      await writer.flush();
      const head = await writer.headPosition();
      await waitFor(() => first.position >= head && second.position >= head, 'both subscriptions to reach the head');
    }
    for (const events of seen) {
      expect(events.map((e) => e.position)).toEqual(Array.from({ length: appends * 2 }, (_, i) => start + i + 1));
    }
    // One notification per pass, one shared read per notification (two without sharing).
    expect(readsAfter.length).toBeLessThanOrEqual(appends + 2);
    await Promise.all([first.close(), second.close()]);
  });
});
