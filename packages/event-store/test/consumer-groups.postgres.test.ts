/**
 * Durable consumer groups on a real PostgreSQL: filters, at-least-once with ack, leases
 * that run out, per-stream order across members sharing a group, parking and replay,
 * and the late-positioned event that must not be skipped.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import {
  ConsumerGroupExistsError,
  ConsumerGroupNotFoundError,
  ConsumerGroups,
  createEventStore,
  openDatabase,
  type Database,
  type EventStore,
  type EventStoreInternals,
} from '../src/index.ts';
import { event, openBackend, type Backend } from './helpers.ts';

const available = await requirePostgres();

describe.skipIf(!available)('consumer groups', () => {
  let backend: Backend;
  let store: EventStore & EventStoreInternals;
  let groups: ConsumerGroups;
  /** A second pool: "another process" sharing the groups. */
  let otherDatabase: Database;
  let otherGroups: ConsumerGroups;

  beforeAll(async () => {
    backend = await openBackend('postgres', 12);
    store = backend.store() as EventStore & EventStoreInternals;
    groups = new ConsumerGroups(backend.database.db);
    otherDatabase = await openDatabase({ databaseUrl: backend.url!, poolSize: 6 });
    otherGroups = new ConsumerGroups(otherDatabase.db);
  });
  afterAll(async () => {
    await otherDatabase?.close();
    await backend?.cleanup();
  });

  const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}-`;

  it('hands out only matching events, in position order, until acknowledged', async () => {
    const prefix = unique('f');
    const head = await store.flush();
    await groups.create(`g-${prefix}`, { filter: { streamPrefix: prefix, eventTypes: ['Wanted'] }, startAfter: head });
    await store.append(`${prefix}a`, [event('Wanted', { n: 1 }), event('Other'), event('Wanted', { n: 2 })]);
    await store.append(`${prefix}b`, [event('Wanted', { n: 3 })]);
    await store.append(`x${prefix}c`, [event('Wanted', { n: 4 })]);
    await store.flush();

    const first = await groups.fetch(`g-${prefix}`, 'm1', { limit: 10 });
    // One per stream: a's second Wanted waits for its first.
    expect(first.map((d) => d.event.data.n)).toEqual([1, 3]);
    expect(first.every((d) => d.attempt === 1)).toBe(true);
    expect(await groups.fetch(`g-${prefix}`, 'm1')).toEqual([]);
    expect(await groups.ack(`g-${prefix}`, first.map((d) => d.event.position))).toBe(2);
    const second = await groups.fetch(`g-${prefix}`, 'm1');
    expect(second.map((d) => d.event.data.n)).toEqual([2]);
    await groups.ack(`g-${prefix}`, [second[0]!.event.position]);
    const info = await groups.get(`g-${prefix}`);
    expect(info.outstanding).toBe(0);
    expect(info.acknowledgedThrough).toBe(info.checkpoint);
    expect(info.checkpoint).toBeGreaterThanOrEqual(second[0]!.event.position);
  });

  it('filters by exact streams too, and refuses an unknown or duplicate group', async () => {
    const prefix = unique('s');
    const head = await store.flush();
    await groups.create(`g-${prefix}`, { filter: { streams: [`${prefix}keep`] }, startAfter: head });
    await expect(groups.create(`g-${prefix}`)).rejects.toBeInstanceOf(ConsumerGroupExistsError);
    await expect(groups.fetch(`nope-${prefix}`, 'm')).rejects.toBeInstanceOf(ConsumerGroupNotFoundError);
    await store.append(`${prefix}keep`, [event('A')]);
    await store.append(`${prefix}drop`, [event('A')]);
    await store.flush();
    const got = await groups.fetch(`g-${prefix}`, 'm');
    expect(got.map((d) => d.event.streamId)).toEqual([`${prefix}keep`]);
  });

  it('hands an event out again when its lease runs out (a member that died), to another member', async () => {
    const prefix = unique('l');
    const head = await store.flush();
    await groups.create(`g-${prefix}`, { filter: { streamPrefix: prefix }, leaseMs: 300, startAfter: head });
    await store.append(`${prefix}a`, [event('A', { n: 1 }), event('A', { n: 2 })]);
    await store.flush();
    const dead = await groups.fetch(`g-${prefix}`, 'dies', { leaseMs: 5000 });
    expect(dead.map((d) => d.event.data.n)).toEqual([1]);
    // While the lease holds, nobody gets the stream (not even its next event).
    expect(await otherGroups.fetch(`g-${prefix}`, 'survivor')).toEqual([]);
    let again = await otherGroups.fetch(`g-${prefix}`, 'survivor');
    while (again.length === 0) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      again = await otherGroups.fetch(`g-${prefix}`, 'survivor');
    }
    expect(again.map((d) => [d.event.data.n, d.attempt])).toEqual([[1, 2]]);
    // A stale nack of the dead member changes nothing.
    expect((await groups.nack(`g-${prefix}`, [again[0]!.event.position], { member: 'dies' })).changed).toBe(0);
    await otherGroups.ack(`g-${prefix}`, [again[0]!.event.position]);
    expect((await otherGroups.fetch(`g-${prefix}`, 'survivor')).map((d) => d.event.data.n)).toEqual([2]);
  });

  it('parks a poison event after maxAttempts nacks, lets the stream go on, and replays it', async () => {
    const prefix = unique('p');
    const head = await store.flush();
    const name = `g-${prefix}`;
    await groups.create(name, { filter: { streamPrefix: prefix }, maxAttempts: 3, startAfter: head });
    await store.append(`${prefix}a`, [event('A', { poison: true }), event('A', { poison: false })]);
    await store.flush();
    for (let attempt = 1; attempt <= 3; attempt++) {
      const got = await groups.fetch(name, 'm');
      expect(got.map((d) => [d.event.data.poison, d.attempt])).toEqual([[true, attempt]]);
      const result = await groups.nack(name, [got[0]!.event.position], { member: 'm', error: `boom ${attempt}` });
      expect(result.parked.length).toBe(attempt === 3 ? 1 : 0);
    }
    const parked = await groups.parked(name);
    expect(parked.map((p) => [p.event.data.poison, p.attempts, p.lastError])).toEqual([[true, 3, 'boom 3']]);
    const next = await groups.fetch(name, 'm');
    expect(next.map((d) => d.event.data.poison)).toEqual([false]);
    await groups.ack(name, [next[0]!.event.position]);
    // The handler is fixed: replay hands the parked event out again.
    expect(await groups.replayParked(name)).toBe(1);
    const replayed = await groups.fetch(name, 'm');
    expect(replayed.map((d) => [d.event.data.poison, d.attempt])).toEqual([[true, 1]]);
    await groups.ack(name, [replayed[0]!.event.position]);
    expect((await groups.get(name)).parked).toBe(0);
    expect(await groups.parked(name)).toEqual([]);
  });

  it('parks an event whose lease ran out maxAttempts times', async () => {
    const prefix = unique('t');
    const head = await store.flush();
    const name = `g-${prefix}`;
    await groups.create(name, { filter: { streamPrefix: prefix }, maxAttempts: 2, leaseMs: 150, startAfter: head });
    await store.append(`${prefix}a`, [event('A')]);
    await store.flush();
    expect((await groups.fetch(name, 'm')).length).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await groups.fetch(name, 'm')).map((d) => d.attempt)).toEqual([2]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await groups.fetch(name, 'm')).toEqual([]);
    expect((await groups.parked(name)).map((p) => p.lastError)).toEqual(['lease expired without acknowledgement']);
  });

  it('never skips an event that gets its position after a later commit', async () => {
    const prefix = unique('g');
    const head = await store.flush();
    const name = `g-${prefix}`;
    await groups.create(name, { filter: { streamPrefix: prefix }, startAfter: head });
    // An open transaction appends first but commits last.
    let commitSlow!: () => void;
    const slowGate = new Promise<void>((resolve) => (commitSlow = resolve));
    const slow = store.transaction(async (tx) => {
      await store.append(`${prefix}slow`, [event('A', { which: 'slow' })], { tx });
      await slowGate;
    });
    await store.append(`${prefix}fast`, [event('A', { which: 'fast' })]);
    await store.flush();
    const first = await groups.fetch(name, 'm');
    expect(first.map((d) => d.event.data.which)).toEqual(['fast']);
    await groups.ack(name, [first[0]!.event.position]);
    commitSlow();
    await slow;
    await store.flush();
    const second = await groups.fetch(name, 'm');
    expect(second.map((d) => d.event.data.which)).toEqual(['slow']);
  });

  it('members in two pools share the work: every event once acked, per-stream order kept, while writers append', async () => {
    const prefix = unique('c');
    const head = await store.flush();
    const name = `g-${prefix}`;
    await groups.create(name, { filter: { streamPrefix: prefix }, startAfter: head });
    const streams = Array.from({ length: 8 }, (_, i) => `${prefix}${i}`);
    const perStream = 15;
    const writer = (async () => {
      for (let n = 0; n < perStream; n++) {
        await Promise.all(streams.map((stream) => store.append(stream, [event('A', { n })])));
      }
      await store.flush();
    })();
    const seen = new Map<string, number[]>();
    let writing = true;
    void writer.then(() => (writing = false));
    const member = async (pool: ConsumerGroups, id: string) => {
      let idle = 0;
      while (writing || idle < 3) {
        const batch = await pool.fetch(name, id, { limit: 5 });
        if (batch.length === 0) {
          idle++;
          await new Promise((resolve) => setTimeout(resolve, 20));
          continue;
        }
        idle = 0;
        for (const delivery of batch) {
          const list = seen.get(delivery.event.streamId) ?? [];
          list.push(delivery.event.data.n as number);
          seen.set(delivery.event.streamId, list);
        }
        await pool.ack(name, batch.map((d) => d.event.position));
      }
    };
    await Promise.all([writer, member(groups, 'a'), member(otherGroups, 'b'), member(groups, 'c')]);
    for (const stream of streams) expect(seen.get(stream)).toEqual(Array.from({ length: perStream }, (_, n) => n));
    const info = await groups.get(name);
    expect(info.outstanding).toBe(0);
  });

  it('a second store process sees the same group state (nothing kept in memory)', async () => {
    const prefix = unique('x');
    const head = await store.flush();
    const name = `g-${prefix}`;
    await groups.create(name, { filter: { streamPrefix: prefix }, startAfter: head });
    const other = createEventStore(otherDatabase, { onError: () => undefined });
    try {
      await other.append(`${prefix}a`, [event('A')]);
      await store.flush();
      const got = await otherGroups.fetch(name, 'm');
      expect(got.length).toBe(1);
      expect((await groups.get(name)).outstanding).toBe(1);
      expect(await groups.delete(name)).toBe(true);
      expect(await groups.delete(name)).toBe(false);
    } finally {
      await other.close();
    }
  });
});
