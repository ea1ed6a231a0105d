/**
 * Consumer groups on the embedded database (PGlite, the service's default): the same SQL
 * runs there — take-in, leases, per-stream order, nack, parking, replay, requeue.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsumerGroups, type EventStore, type EventStoreInternals } from '../src/index.ts';
import { event, openBackend, type Backend } from './helpers.ts';

describe('consumer groups on PGlite', () => {
  let backend: Backend;
  let store: EventStore & EventStoreInternals;
  let groups: ConsumerGroups;
  beforeAll(async () => {
    backend = await openBackend('pglite');
    store = backend.store() as EventStore & EventStoreInternals;
    groups = new ConsumerGroups(backend.database.db);
  });
  afterAll(async () => {
    await backend?.cleanup();
  });

  it('hands out in per-stream order, parks after maxAttempts, replays and requeues', async () => {
    await groups.create('g', { filter: { streamPrefix: 's-', eventTypes: ['A'] }, maxAttempts: 2 });
    await store.append('s-1', [event('A', { n: 1 }), event('B'), event('A', { n: 2 })]);
    await store.append('s-2', [event('A', { n: 3 })]);
    await store.append('t-1', [event('A', { n: 4 })]);
    await store.flush();
    const first = await groups.fetch('g', 'm');
    expect(first.map((d) => d.event.data.n)).toEqual([1, 3]);
    await groups.ack('g', [first[1]!.event.position]);
    for (let attempt = 1; attempt <= 2; attempt++) {
      const again = attempt === 1 ? first.slice(0, 1) : await groups.fetch('g', 'm');
      expect(again.map((d) => [d.event.data.n, d.attempt])).toEqual([[1, attempt]]);
      await groups.nack('g', [again[0]!.event.position], { member: 'm', error: 'no' });
    }
    expect((await groups.parked('g')).map((p) => p.event.data.n)).toEqual([1]);
    const next = await groups.fetch('g', 'm');
    expect(next.map((d) => d.event.data.n)).toEqual([2]);
    await groups.ack('g', [next[0]!.event.position]);
    expect(await groups.replayParked('g')).toBe(1);
    const replayed = await groups.fetch('g', 'm');
    expect(replayed.map((d) => d.event.data.n)).toEqual([1]);
    await groups.ack('g', [replayed[0]!.event.position]);
    expect(await groups.requeue('g', [next[0]!.event.position])).toEqual([next[0]!.event.position]);
    expect((await groups.fetch('g', 'm')).map((d) => d.event.data.n)).toEqual([2]);
    const info = await groups.get('g');
    expect(info).toMatchObject({ outstanding: 1, parked: 0 });
  });
});
