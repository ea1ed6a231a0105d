import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { ConcurrencyError, createEventStore, openDatabase, type Database, type EventStore, type PositionedEvent } from '../src/index.ts';
import { event, openBackend, waitFor, type Backend } from './helpers.ts';

const available = await requirePostgres();

/** Collects what one reader saw and checks the reader-side guarantees as it goes. */
class Reader {
  readonly positions: number[] = [];
  readonly ids = new Set<string>();
  readonly violations: string[] = [];
  see(event: PositionedEvent): void {
    const last = this.positions[this.positions.length - 1] ?? 0;
    if (event.position <= last) this.violations.push(`position ${event.position} after ${last}`);
    if (this.ids.has(event.id)) this.violations.push(`duplicate ${event.id}`);
    this.ids.add(event.id);
    this.positions.push(event.position);
  }
}

/** A readAll poller: the "reader that saw P" of the guarantee. */
function poll(store: EventStore, reader: Reader): { stop: () => Promise<void> } {
  let stopped = false;
  const done = (async () => {
    let after = 0;
    while (!stopped) {
      const page = await store.readAll({ after, limit: 50 });
      for (const e of page.events) reader.see(e);
      after = page.next;
      if (page.events.length === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}

describe.skipIf(!available)('concurrency on PostgreSQL', () => {
  let backend: Backend;
  let store: EventStore;
  let second: Database;
  let secondStore: EventStore;

  beforeAll(async () => {
    backend = await openBackend('postgres', 20);
    store = backend.store();
    // A second "instance": its own pool, LISTEN connection and sequencer.
    second = await openDatabase({ databaseUrl: backend.url, poolSize: 6 });
    secondStore = createEventStore(second, { onError: () => undefined });
  });
  afterAll(async () => {
    await secondStore?.close();
    await second?.close();
    await backend?.cleanup();
  });

  it('16 concurrent appenders at the same expected version: exactly one wins per version', async () => {
    const id = `race-${randomUUID()}`;
    for (let version = 0; version < 8; version++) {
      const outcomes = await Promise.allSettled(
        Array.from({ length: 16 }, (_, i) =>
          (i % 2 ? store : secondStore).append(id, [event('Raced', { i, version })], { expectedVersion: version === 0 ? 'no_stream' : version }),
        ),
      );
      const won = outcomes.filter((o) => o.status === 'fulfilled');
      const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(15);
      for (const failure of lost) {
        expect(failure.reason).toBeInstanceOf(ConcurrencyError);
        expect((failure.reason as ConcurrencyError).actual).toBe(version + 1);
      }
    }
    const events = await store.readStream(id);
    expect(events.map((e) => e.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect((await store.verify({ streamId: id })).ok).toBe(true);
  });

  it("16 concurrent 'any' appenders on one stream all succeed, gap-free", async () => {
    const id = `any-${randomUUID()}`;
    await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 ? store : secondStore).append(id, [event('Any', { i })])));
    const events = await store.readStream(id);
    expect(events.map((e) => e.version)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect((await store.verify({ streamId: id })).ok).toBe(true);
  });

  it('a head cached by one instance never chains to a stale prevHash after another instance appended', async () => {
    const id = `stale-${randomUUID()}`;
    await store.append(id, [event('A')], { expectedVersion: 'no_stream' }); // store caches v1
    await secondStore.append(id, [event('B'), event('C')], { expectedVersion: 1 }); // other pool, other cache
    // Exact expectation equal to the stale cached version: refused, with the real version.
    await expect(store.append(id, [event('D')], { expectedVersion: 1 })).rejects.toMatchObject({ expected: 1, actual: 3 });
    await secondStore.append(id, [event('E')], { expectedVersion: 3 });
    // 'any' and 'stream_exists' on a stale cache: the insert collides, the head is re-read, the chain is right.
    await store.append(id, [event('F'), event('G')], { expectedVersion: 'any' });
    await secondStore.append(id, [event('H')], { expectedVersion: 'stream_exists' });
    // A rolled-back append of the other instance: the waiting append then succeeds on the real head.
    const pending = secondStore.transaction(async (tx) => {
      await secondStore.append(id, [event('X')], { tx, expectedVersion: 7 });
      await new Promise((resolve) => setTimeout(resolve, 200));
      throw new Error('roll back');
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const [appended] = await Promise.all([
      store.append(id, [event('I')], { expectedVersion: 'any' }),
      expect(pending).rejects.toThrow('roll back'),
    ]);
    expect(appended.nextExpectedVersion).toBe(8);
    const events = await secondStore.readStream(id);
    expect(events.map((e) => e.type)).toEqual(['A', 'B', 'C', 'E', 'F', 'G', 'H', 'I']);
    for (let i = 1; i < events.length; i++) expect(events[i]!.prevHash).toBe(events[i - 1]!.hash);
    expect(appended.events[0]!.prevHash).toBe(events[6]!.hash);
    expect((await store.verify({ streamId: id })).ok).toBe(true);
  });

  it('out-of-order commit: an event committed late never appears behind a seen position', async () => {
    await store.flush();
    const start = await store.headPosition();
    const subscriberA = new Reader();
    const subscriberB = new Reader();
    const poller = new Reader();
    const subA = store.subscribe({ after: start }, (e) => subscriberA.see(e));
    const subB = secondStore.subscribe({ after: start }, (e) => subscriberB.see(e));
    const polling = poll(store, poller);
    // Pollers start at 0; only look at what happens after `start`.

    // A raw client holds a transaction open after its insert took an earlier seq.
    const client = new pg.Client({ connectionString: backend.url });
    await client.connect();
    let slowId = '';
    try {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let appended!: () => void;
      const isAppended = new Promise<void>((resolve) => (appended = resolve));
      const slow = store.transaction(async (tx) => {
        const result = await store.append(`slow-${randomUUID()}`, [event('Slow')], { tx });
        slowId = result.events[0]!.id;
        appended();
        await released;
      });
      await isAppended;
      const fast: string[] = [];
      for (let i = 0; i < 10; i++) {
        const result = await (i % 2 ? store : secondStore).append(`fast-${randomUUID()}`, [event('Fast', { i })], { awaitPosition: true });
        fast.push(result.events[0]!.id);
      }
      await waitFor(() => subscriberA.ids.size >= 10 && subscriberB.ids.size >= 10, 'fast events to reach subscribers');
      release();
      await slow;
      await store.flush();
      const head = await store.headPosition();
      await waitFor(() => subA.position >= head && subB.position >= head, 'subscribers to reach head');
      await waitFor(() => (poller.positions.at(-1) ?? 0) >= head, 'poller to reach head');
      const [slowEvent] = (await store.readAll({ after: start, limit: 100 })).events.filter((e) => e.id === slowId);
      // The late commit was positioned after everything that committed before it.
      expect(slowEvent!.position).toBe(head);
      for (const reader of [subscriberA, subscriberB]) {
        expect(reader.violations).toEqual([]);
        expect(reader.positions).toEqual(Array.from({ length: head - start }, (_, i) => start + i + 1));
        expect(reader.ids.has(slowId)).toBe(true);
        for (const id of fast) expect(reader.ids.has(id)).toBe(true);
      }
      expect(poller.violations).toEqual([]);
      expect(poller.positions).toEqual(Array.from({ length: head }, (_, i) => i + 1));
    } finally {
      await polling.stop();
      await subA.close();
      await subB.close();
      await client.end();
    }
  });

  it('randomized: many writers, random commit delays, two instances: every reader sees every event once, in order', async () => {
    await store.flush();
    const start = await store.headPosition();
    const readers = [new Reader(), new Reader(), new Reader()];
    const pollers = [new Reader(), new Reader()];
    const subs = [
      store.subscribe({ after: start, batchSize: 7 }, (e) => readers[0]!.see(e)),
      secondStore.subscribe({ after: start }, (e) => readers[1]!.see(e)),
      store.subscribe({ after: start }, async (e) => {
        if (Math.random() < 0.05) await new Promise((resolve) => setTimeout(resolve, 1));
        readers[2]!.see(e);
      }),
    ];
    const polls = [poll(store, pollers[0]!), poll(secondStore, pollers[1]!)];
    const streams = Array.from({ length: 5 }, () => `rnd-${randomUUID()}`);
    let written = 0;
    const delay = () => new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 15)));
    const writer = async (w: number) => {
      const target = w % 2 ? store : secondStore;
      for (let i = 0; i < 12; i++) {
        const stream = streams[Math.floor(Math.random() * streams.length)]!;
        const count = 1 + Math.floor(Math.random() * 3);
        const batch = Array.from({ length: count }, (_, k) => event('Rnd', { w, i, k }));
        for (let attempt = 0; ; attempt++) {
          try {
            if (Math.random() < 0.5) {
              await target.transaction(async (tx) => {
                await target.append(stream, batch, { tx });
                await delay();
              });
            } else {
              await target.append(stream, batch);
            }
            written += count;
            break;
          } catch (error) {
            if (!(error instanceof ConcurrencyError) || attempt > 50) throw error;
          }
        }
        await delay();
      }
    };
    try {
      await Promise.all(Array.from({ length: 12 }, (_, w) => writer(w)));
      await store.flush();
      await secondStore.flush();
      const head = await store.headPosition();
      expect(head - start).toBe(written);
      await waitFor(() => subs.every((s) => s.position >= head), 'subscribers to reach head');
      await waitFor(() => pollers.every((p) => (p.positions.at(-1) ?? 0) >= head), 'pollers to reach head');
      for (const reader of readers) {
        expect(reader.violations).toEqual([]);
        expect(reader.positions).toEqual(Array.from({ length: written }, (_, i) => start + i + 1));
      }
      for (const poller of pollers) {
        expect(poller.violations).toEqual([]);
        expect(poller.positions).toEqual(Array.from({ length: head }, (_, i) => i + 1));
      }
      const versions = await Promise.all(streams.map((s) => store.readStream(s)));
      for (const events of versions) expect(events.map((e) => e.version)).toEqual(events.map((_, i) => i + 1));
      expect((await store.verify()).ok).toBe(true);
    } finally {
      for (const p of polls) await p.stop();
      for (const s of subs) await s.close();
    }
  });

  it('a subscriber on an instance without a sequencer keeps receiving after its LISTEN connection is killed', async () => {
    const third = await openDatabase({ databaseUrl: backend.url, poolSize: 2, onError: () => undefined });
    // Long poll: delivery must come from NOTIFY, or from the re-read after reconnect.
    const listener = createEventStore(third, { sequencer: false, subscriptionPollMs: 60_000, onError: () => undefined });
    try {
      const reader = new Reader();
      const sub = listener.subscribe({ after: 'end' }, (e) => reader.see(e));
      await sub.caughtUp;
      await store.append(`live-${randomUUID()}`, [event('Live', { n: 1 })]);
      await waitFor(() => reader.ids.size === 1, 'notification-driven delivery');
      const admin = new pg.Client({ connectionString: backend.url });
      await admin.connect();
      await admin.query(
        `select pg_terminate_backend(pid) from pg_stat_activity
          where datname = current_database() and application_name = 'claimtrail-listen' and pid <> pg_backend_pid()`,
      );
      await admin.end();
      // Events appended while the listener is down are found by the re-read after reconnect.
      await store.append(`live-${randomUUID()}`, [event('Live', { n: 2 })], { awaitPosition: true });
      await waitFor(() => reader.ids.size === 2, 'delivery after LISTEN reconnect');
      await store.append(`live-${randomUUID()}`, [event('Live', { n: 3 })]);
      await waitFor(() => reader.ids.size === 3, 'delivery after reconnect');
      expect(reader.violations).toEqual([]);
      await sub.close();
    } finally {
      await listener.close();
      await third.close();
    }
  });
});
