import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import {
  ConcurrencyError,
  createShardedEventStore,
  decodeFeedCursor,
  encodeFeedCursor,
  InvalidCursorError,
  isAppendConflict,
  jumpConsistentHash,
  shardOf,
  type EventStore,
  type FeedCursor,
  type FeedEvent,
  type ShardedEventStore,
} from '../src/index.ts';
import { event, openBackend, waitFor, type Backend } from './helpers.ts';

const available = await requirePostgres();
const SHARDS = 4;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const randomInt = (below: number) => Math.floor(Math.random() * below);

describe('shard routing and cursors (no database)', () => {
  it('jump consistent hash gives the published reference buckets', () => {
    // Values from the paper's C++ code as other implementations test it.
    expect(jumpConsistentHash(1n, 10)).toBe(6);
    expect(jumpConsistentHash(1n, 100)).toBe(55);
    expect(jumpConsistentHash(2n, 100)).toBe(62);
    expect(jumpConsistentHash(0xdeadbeefn, 1000)).toBe(285);
    expect(jumpConsistentHash(256n, 1024)).toBe(520);
    expect(jumpConsistentHash(2016238256797177309n, 11)).toBe(3);
  });

  it('routes a stream to the same shard forever, spreads streams evenly, and moves only the new share when a shard is added', () => {
    // Where existing streams live: these values must never change.
    expect([1, 2, 3, 4, 5, 8, 16].map((n) => shardOf('claim-00000000-0000-4000-8000-000000000001', n))).toEqual([0, 0, 2, 2, 4, 4, 9]);
    expect([1, 2, 3, 4, 5, 8, 16].map((n) => shardOf('claim-3f2b8c1e-9a4d-4e7b-b1c2-5d6e7f809102', n))).toEqual([0, 1, 1, 1, 1, 1, 10]);
    expect([1, 2, 3, 4, 5, 8, 16].map((n) => shardOf('tokens', n))).toEqual([0, 1, 1, 3, 3, 3, 3]);
    const counts = new Array<number>(SHARDS).fill(0);
    let moved = 0;
    for (let i = 0; i < 8000; i++) {
      const streamId = `claim-${i}`;
      const before = shardOf(streamId, SHARDS);
      const after = shardOf(streamId, SHARDS + 1);
      counts[before]!++;
      if (after !== before) {
        moved++;
        expect(after).toBe(SHARDS); // a stream only ever moves to the new shard
      }
    }
    for (const count of counts) expect(Math.abs(count - 2000)).toBeLessThan(200);
    expect(Math.abs(moved - 8000 / (SHARDS + 1))).toBeLessThan(250);
    expect(() => shardOf('x', 0)).toThrow(RangeError);
  });

  it('a cursor is one position per shard; with one shard its text is the plain position', () => {
    expect(encodeFeedCursor([120, 0, 143, 77])).toBe('120.0.143.77');
    expect(decodeFeedCursor('120.0.143.77', 4)).toEqual([120, 0, 143, 77]);
    expect(encodeFeedCursor([42])).toBe('42');
    expect(decodeFeedCursor('42', 1)).toEqual([42]);
    for (const bad of ['1.2.3', '1.2.3.4.5', '1.2.-3.4', '1.2.03.4', '1.2.x.4', '1.2..4', '1.2.3.99999999999999999', '', ' 1.2.3.4']) {
      expect(() => decodeFeedCursor(bad, 4), bad).toThrow(InvalidCursorError);
    }
  });
});

/** What one consumer of the merged feed saw, checked as it goes. */
class Consumer {
  /** Deliveries per event id (1 each when nothing is duplicated). */
  readonly seen = new Map<string, number>();
  readonly violations: string[] = [];
  deliveries = 0;
  resumes = 0;
  private readonly last: number[];
  private readonly streamVersions = new Map<string, number>();

  constructor(
    readonly name: string,
    start: FeedCursor,
    private readonly sharded: ShardedEventStore,
  ) {
    this.last = [...start];
  }

  get cursor(): FeedCursor {
    return [...this.last];
  }

  see(event: FeedEvent): void {
    this.deliveries++;
    const last = this.last[event.shard]!;
    // Dense per shard: anything but last + 1 is a skip (greater) or a regression/duplicate (smaller).
    if (event.position !== last + 1) this.violations.push(`${this.name}: shard ${event.shard} position ${event.position} after ${last}`);
    if (event.shard !== this.sharded.shardOf(event.streamId)) this.violations.push(`${this.name}: ${event.streamId} came from shard ${event.shard}`);
    const version = this.streamVersions.get(event.streamId) ?? 0;
    if (event.version !== version + 1) this.violations.push(`${this.name}: ${event.streamId} version ${event.version} after ${version}`);
    this.streamVersions.set(event.streamId, event.version);
    this.last[event.shard] = Math.max(last, event.position);
    this.seen.set(event.id, (this.seen.get(event.id) ?? 0) + 1);
  }
}

interface CommittedTx {
  shard: number;
  /** Ticks of one counter shared by all writers: when the rows were inserted, when the commit returned. */
  inserted: number;
  committed: number;
}

describe.skipIf(!available)('the merged feed over 4 PostgreSQL databases', () => {
  let backends: Backend[];
  let sharded: ShardedEventStore;

  beforeAll(async () => {
    backends = await Promise.all(Array.from({ length: SHARDS }, () => openBackend('postgres', 8)));
    sharded = createShardedEventStore(backends.map((backend) => backend.store()), { onError: () => undefined });
  });

  afterAll(async () => {
    await sharded?.close();
    await Promise.all((backends ?? []).map((backend) => backend.cleanup()));
  });

  /** `count` stream ids on each shard, with a recognisable prefix. */
  function streamsPerShard(prefix: string, count: number): string[][] {
    const byShard: string[][] = Array.from({ length: SHARDS }, () => []);
    while (byShard.some((streams) => streams.length < count)) {
      const streamId = `${prefix}-${randomUUID()}`;
      const streams = byShard[sharded.shardOf(streamId)]!;
      if (streams.length < count) streams.push(streamId);
    }
    return byShard;
  }

  it('routes appends and stream reads to the stream\'s shard, each with its own positions and hash chain', async () => {
    const [onShard0, onShard3] = [streamsPerShard('route', 1)[0]![0]!, streamsPerShard('route', 1)[3]![0]!];
    await sharded.append(onShard0, [event('A'), event('B')], { expectedVersion: 'no_stream', awaitPosition: true });
    const appended = await sharded.append(onShard3, [event('C')], { expectedVersion: 'no_stream', awaitPosition: true });
    expect(await sharded.shards[0]!.streamVersion(onShard0)).toBe(2);
    expect(await sharded.shards[3]!.streamVersion(onShard0)).toBe(0);
    expect(await sharded.streamVersion(onShard3)).toBe(1);
    expect((await sharded.readStream(onShard0)).map((e) => e.type)).toEqual(['A', 'B']);
    expect(appended.events[0]!.position).toBe(await sharded.shards[3]!.headPosition());
    await expect(sharded.append(onShard3, [event('D')], { expectedVersion: 'no_stream' })).rejects.toBeInstanceOf(ConcurrencyError);
    const verified = await sharded.verify();
    expect(verified.ok).toBe(true);
    expect(verified.checked).toBe(3);
  });

  it('concurrent writers, out-of-order commits on every shard, resuming readers: every event exactly once, no skip, no regression', async () => {
    await sharded.flush();
    const start = await sharded.head();
    const startText = encodeFeedCursor(start);
    const consumers: Consumer[] = [];
    const consumer = (name: string) => {
      const created = new Consumer(name, start, sharded);
      consumers.push(created);
      return created;
    };
    let stopped = false;
    let stop!: () => void;
    const stopping = new Promise<void>((resolve) => (stop = resolve));

    // A subscriber that never stops (small catch-up pages).
    const steady = consumer('steady subscriber');
    const steadySubscription = sharded.subscribe({ after: startText, batchSize: 5 }, (e) => steady.see(e));

    // Subscribers that close after a random number of events and resume from the saved cursor text.
    const resuming = async (reader: Consumer): Promise<void> => {
      let saved = startText;
      while (!stopped) {
        const quota = 5 + randomInt(60);
        let got = 0;
        let quotaReached!: () => void;
        const reached = new Promise<void>((resolve) => (quotaReached = resolve));
        const subscription = sharded.subscribe({ after: saved, batchSize: 1 + randomInt(20) }, async (e) => {
          reader.see(e);
          if (++got >= quota) quotaReached();
          if (Math.random() < 0.05) await sleep(1);
        });
        await Promise.race([reached, stopping]);
        await subscription.close();
        saved = encodeFeedCursor(subscription.cursor);
        if (saved !== encodeFeedCursor(reader.cursor)) reader.violations.push(`${reader.name}: cursor ${saved} but saw up to ${encodeFeedCursor(reader.cursor)}`);
        reader.resumes++;
      }
    };

    // Pollers of readFeed with random page sizes, resuming from the page's cursor text; now and then "restarted".
    const polling = async (reader: Consumer): Promise<void> => {
      let saved = startText;
      while (!stopped) {
        const page = await sharded.readFeed({ after: saved, limit: 1 + randomInt(40) });
        for (const e of page.events) reader.see(e);
        if (page.cursor !== encodeFeedCursor(reader.cursor)) reader.violations.push(`${reader.name}: page cursor ${page.cursor} but saw up to ${encodeFeedCursor(reader.cursor)}`);
        saved = page.cursor;
        if (Math.random() < 0.1) reader.resumes++;
        if (page.events.length === 0) await sleep(2 + randomInt(5));
      }
    };
    const readers = [
      resuming(consumer('resuming subscriber 1')),
      resuming(consumer('resuming subscriber 2')),
      polling(consumer('poller 1')),
      polling(consumer('poller 2')),
    ];

    let tick = 0;
    const committedIds = new Set<string>();
    const rolledBackIds = new Set<string>();
    const transactions: CommittedTx[] = [];

    // 1. A forced out-of-order commit on every shard: A inserts first, B inserts and commits,
    // every reader sees B, and only then A commits (it gets the later position).
    const forced = streamsPerShard('forced', 2);
    await Promise.all(
      forced.map(async ([streamA, streamB], shard) => {
        const store = sharded.shards[shard]!;
        const eventA = event('InsertedFirst', {}, randomUUID());
        const eventB = event('CommittedFirst', {}, randomUUID());
        let insertedA!: () => void;
        const aInserted = new Promise<void>((resolve) => (insertedA = resolve));
        let releaseA!: () => void;
        const aReleased = new Promise<void>((resolve) => (releaseA = resolve));
        const a = store.transaction(async (tx) => {
          await store.append(streamA!, [eventA], { tx, expectedVersion: 'no_stream' });
          insertedA();
          await aReleased;
        });
        await aInserted;
        await store.append(streamB!, [eventB], { expectedVersion: 'no_stream' });
        committedIds.add(eventB.id!);
        await waitFor(() => consumers.every((c) => c.seen.has(eventB.id!)), `every reader to see shard ${shard}'s early commit`);
        releaseA();
        await a;
        committedIds.add(eventA.id!);
      }),
    );

    // 2. Random writers: transactions that hold their rows uncommitted for a random time
    // (out-of-order commits on every shard), autocommitted appends, and rolled-back transactions.
    const streams = streamsPerShard('sim', 10).flat();
    const writer = async (): Promise<void> => {
      for (let i = 0; i < 30; i++) {
        const streamId = streams[randomInt(streams.length)]!;
        const shard = sharded.shardOf(streamId);
        const store: EventStore = sharded.shardFor(streamId);
        const events = Array.from({ length: 1 + randomInt(3) }, () => event('Simulated', { i }, randomUUID()));
        const ids = events.map((e) => e.id!);
        const kind = Math.random();
        if (kind < 0.2) {
          await sharded.append(streamId, events, { expectedVersion: 'any' });
          const now = ++tick;
          transactions.push({ shard, inserted: now, committed: now });
          for (const id of ids) committedIds.add(id);
          continue;
        }
        const rollBack = kind > 0.93;
        for (let attempt = 0; ; attempt++) {
          let inserted = 0;
          try {
            await store.transaction(async (tx) => {
              await store.append(streamId, events, { tx, expectedVersion: 'any' });
              inserted = ++tick;
              await sleep(randomInt(25));
              if (rollBack) throw new Error('rolled back on purpose');
            });
            transactions.push({ shard, inserted, committed: ++tick });
            for (const id of ids) committedIds.add(id);
            break;
          } catch (error) {
            if (rollBack && (error as Error).message === 'rolled back on purpose') {
              for (const id of ids) rolledBackIds.add(id);
              break;
            }
            // Two transactions appended to one stream at once: the loser retries, as a caller must.
            if (!(error instanceof ConcurrencyError || isAppendConflict(error)) || attempt > 50) throw error;
          }
        }
      }
    };
    await Promise.all(Array.from({ length: 14 }, () => writer()));
    await sharded.flush();

    const total = committedIds.size;
    await waitFor(() => consumers.every((c) => c.seen.size >= total), 'every reader to reach the head', 25_000);
    stopped = true;
    stop();
    await Promise.all(readers);
    await steadySubscription.close();

    // Out-of-order commits happened on every shard: the forced one, and random ones (counted for the record).
    const inversions = new Array<number>(SHARDS).fill(0);
    for (const a of transactions)
      for (const b of transactions) if (a.shard === b.shard && a.inserted < b.inserted && a.committed > b.committed) inversions[a.shard]!++;
    console.info(`sharded feed: ${total} events, random out-of-order commits per shard: ${inversions.join(', ')}; resumes: ${consumers.map((c) => c.resumes).join(', ')}`);

    expect(rolledBackIds.size + total).toBeGreaterThan(300);
    for (const c of consumers) {
      expect(c.violations, c.name).toEqual([]);
      const missing = [...committedIds].filter((id) => !c.seen.has(id));
      const duplicated = [...c.seen].filter(([, times]) => times > 1);
      const rolledBackSeen = [...rolledBackIds].filter((id) => c.seen.has(id));
      expect({ consumer: c.name, missing: missing.length, duplicated: duplicated.length, rolledBackSeen: rolledBackSeen.length }).toEqual({
        consumer: c.name,
        missing: 0,
        duplicated: 0,
        rolledBackSeen: 0,
      });
      expect(c.deliveries).toBe(total);
      expect(c.cursor).toEqual(await sharded.head());
    }
    const verified = await sharded.verify();
    expect(verified.ok).toBe(true);
  });

  it('over a quiet log the merged order is the same whatever the page size, and keeps each shard\'s position order', async () => {
    await sharded.flush();
    const walk = async (limit: number): Promise<FeedEvent[]> => {
      const events: FeedEvent[] = [];
      let after: FeedCursor = new Array<number>(SHARDS).fill(0);
      for (;;) {
        const page = await sharded.readFeed({ after, limit });
        events.push(...page.events);
        after = page.next;
        if (page.caughtUp) return events;
        expect(page.events.length).toBe(limit);
      }
    };
    const whole = await walk(10_000);
    const head = await sharded.head();
    expect(whole.length).toBe(head.reduce((sum, position) => sum + position, 0));
    for (const limit of [2, 7, 250]) {
      const paged = await walk(limit);
      expect(paged.map((e) => `${e.shard}:${e.position}`)).toEqual(whole.map((e) => `${e.shard}:${e.position}`));
    }
    const perShard = new Array<number>(SHARDS).fill(0);
    for (const e of whole) {
      expect(e.position).toBe(perShard[e.shard]! + 1);
      perShard[e.shard] = e.position;
    }
    expect(perShard).toEqual(head);
  });

  it('a throwing handler stops the merged subscription at that event; resuming from its cursor delivers it first', async () => {
    await sharded.flush();
    const start = await sharded.head();
    const streamId = streamsPerShard('fail', 1)[2]![0]!;
    await sharded.append(streamId, [event('One'), event('Two'), event('Three')], { awaitPosition: true });
    const failure = new Error('handler failed');
    const delivered: string[] = [];
    const failing = sharded.subscribe({ after: start }, (e) => {
      if (e.type === 'Two') throw failure;
      delivered.push(e.type);
    });
    await expect(failing.caughtUp).rejects.toBe(failure);
    await failing.close();
    expect(delivered).toEqual(['One']);
    expect(failing.cursor).toEqual(start.map((position, shard) => (shard === 2 ? position + 1 : position)));
    const resumed: string[] = [];
    const again = sharded.subscribe({ after: encodeFeedCursor(failing.cursor) }, (e) => {
      resumed.push(e.type);
    });
    await again.caughtUp;
    await again.close();
    expect(resumed).toEqual(['Two', 'Three']);
    await expect(sharded.readFeed({ after: '1.2.3' })).rejects.toBeInstanceOf(InvalidCursorError);
    expect(() => sharded.subscribe({ after: [1, 2, 3, -4] }, () => undefined)).toThrow(InvalidCursorError);
  });

  it('over one shard the merged feed is the store\'s own feed, and its cursor is the integer position', async () => {
    const single = createShardedEventStore([backends[0]!.store()]);
    try {
      const page = await single.readFeed({ after: '0', limit: 10_000 });
      const own = await backends[0]!.database.db.selectFrom('events').select('position').where('position', 'is not', null).orderBy('position').execute();
      expect(page.events.map((e) => e.position)).toEqual(own.map((row) => Number(row.position)));
      expect(page.cursor).toBe(String(page.events[page.events.length - 1]!.position));
      expect(page.events.every((e) => e.shard === 0)).toBe(true);
    } finally {
      await single.close();
    }
  });
});
