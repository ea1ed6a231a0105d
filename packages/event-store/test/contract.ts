import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConcurrencyError, IdempotencyConflictError, InvalidEventError, type DatabaseConfig, type EventStore, type PositionedEvent } from '../src/index.ts';
import { event, openBackend, waitFor, type Backend } from './helpers.ts';

/** The same behavioural contract, run against PostgreSQL and PGlite (and PostgreSQL as a transaction pooler's client sees it). */
export function contractSuite(kind: 'postgres' | 'pglite', postgres: Omit<DatabaseConfig, 'databaseUrl' | 'poolSize'> = {}): void {
  let backend: Backend;
  let store: EventStore;
  const stream = () => `s-${randomUUID()}`;

  beforeAll(async () => {
    backend = await openBackend(kind, 10, postgres);
    store = backend.store();
  });
  afterAll(async () => {
    await backend?.cleanup();
  });

  describe('append and readStream', () => {
    it('appends with versions 1..n, hash chain and metadata', async () => {
      const id = stream();
      const result = await store.append(id, [event('A', { n: 1 }), event('B', { n: 2 })], { expectedVersion: 'no_stream' });
      expect(result.nextExpectedVersion).toBe(2);
      expect(result.replayed).toBe(false);
      const read = await store.readStream(id);
      expect(read.map((e) => [e.version, e.type, e.data])).toEqual([
        [1, 'A', { n: 1 }],
        [2, 'B', { n: 2 }],
      ]);
      expect(read[0]!.prevHash).toBeNull();
      expect(read[1]!.prevHash).toBe(read[0]!.hash);
      expect(read[0]!.hash).toMatch(/^[0-9a-f]{64}$/);
      expect(read.map((e) => e.hash)).toEqual(result.events.map((e) => e.hash));
      for (const e of read) {
        expect(e.metadata.actor).toBe('tester');
        expect(typeof e.metadata.correlationId).toBe('string');
        expect(typeof e.metadata.causationId).toBe('string');
        expect(e.recordedAt).toBeInstanceOf(Date);
      }
      expect(await store.streamVersion(id)).toBe(2);
      expect(await store.streamVersion(stream())).toBe(0);
    });

    it('keeps given correlation and causation ids', async () => {
      const id = stream();
      await store.append(id, [{ type: 'A', data: {}, metadata: { actor: 'x', correlationId: 'c1', causationId: 'k1', extra: 5 } }]);
      const [e] = await store.readStream(id);
      expect(e!.metadata).toEqual({ actor: 'x', correlationId: 'c1', causationId: 'k1', extra: 5 });
    });

    it('checks every kind of expected version', async () => {
      const id = stream();
      await expect(store.append(id, [event()], { expectedVersion: 'stream_exists' })).rejects.toBeInstanceOf(ConcurrencyError);
      await expect(store.append(id, [event()], { expectedVersion: 1 })).rejects.toMatchObject({ actual: 0, expected: 1 });
      await store.append(id, [event()], { expectedVersion: 'no_stream' });
      const stale = await store.append(id, [event()], { expectedVersion: 0 }).catch((error: unknown) => error);
      expect(stale).toBeInstanceOf(ConcurrencyError);
      expect(stale).toMatchObject({ streamId: id, expected: 0, actual: 1 });
      await expect(store.append(id, [event()], { expectedVersion: 'no_stream' })).rejects.toMatchObject({ actual: 1 });
      await store.append(id, [event()], { expectedVersion: 'stream_exists' });
      await store.append(id, [event()], { expectedVersion: 2 });
      await store.append(id, [event()], { expectedVersion: 'any' });
      await store.append(id, [event()]);
      expect(await store.streamVersion(id)).toBe(5);
      await expect(store.append(id, [event()], { expectedVersion: 4 })).rejects.toMatchObject({ actual: 5 });
    });

    it('sees appends made by another store instance (stale head cache)', async () => {
      const other = backend.store({ sequencer: false });
      const id = stream();
      await store.append(id, [event()], { expectedVersion: 'no_stream' });
      await other.append(id, [event()], { expectedVersion: 1 });
      await expect(store.append(id, [event()], { expectedVersion: 1 })).rejects.toMatchObject({ actual: 2 });
      await store.append(id, [event()], { expectedVersion: 2 });
      await store.append(id, [event()], { expectedVersion: 'any' });
      await other.append(id, [event()], { expectedVersion: 'any' });
      await store.append(id, [event()], { expectedVersion: 'any' });
      const read = await store.readStream(id);
      expect(read.map((e) => e.version)).toEqual([1, 2, 3, 4, 5, 6]);
      for (let i = 1; i < read.length; i++) expect(read[i]!.prevHash).toBe(read[i - 1]!.hash);
      expect((await store.verify({ streamId: id })).ok).toBe(true);
    });

    it('is atomic: a failing batch writes nothing', async () => {
      const id = stream();
      const taken = randomUUID();
      await store.append(stream(), [event('X', {}, taken)]);
      // The second event reuses an id of another stream: the whole batch is refused.
      await expect(store.append(id, [event('A'), event('X', {}, taken)])).rejects.toBeInstanceOf(IdempotencyConflictError);
      expect(await store.readStream(id)).toEqual([]);
    });

    it('is idempotent on event ids', async () => {
      const id = stream();
      const ids = [randomUUID(), randomUUID()];
      const first = await store.append(id, [event('A', { a: 1 }, ids[0]), event('B', { b: 2 }, ids[1])], { expectedVersion: 'no_stream' });
      const again = await store.append(id, [event('A', { a: 1 }, ids[0]), event('B', { b: 2 }, ids[1])], { expectedVersion: 'no_stream' });
      expect(again.replayed).toBe(true);
      expect(again.nextExpectedVersion).toBe(first.nextExpectedVersion);
      expect(again.events.map((e) => [e.id, e.version, e.hash])).toEqual(first.events.map((e) => [e.id, e.version, e.hash]));
      const withAny = await store.append(id, [event('A', { a: 1 }, ids[0]), event('B', { b: 2 }, ids[1])]);
      expect(withAny.replayed).toBe(true);
      expect(await store.streamVersion(id)).toBe(2);
      await expect(store.append(id, [event('A', { a: 99 }, ids[0])])).rejects.toBeInstanceOf(IdempotencyConflictError);
      await expect(store.append(stream(), [event('A', { a: 1 }, ids[0])])).rejects.toBeInstanceOf(IdempotencyConflictError);
      // Also inside a caller's transaction.
      const inTx = await store.transaction((tx) => store.append(id, [event('A', { a: 1 }, ids[0]), event('B', { b: 2 }, ids[1])], { tx, expectedVersion: 'no_stream' }));
      expect(inTx.replayed).toBe(true);
    });

    it('validates input', async () => {
      await expect(store.append('', [event()])).rejects.toBeInstanceOf(InvalidEventError);
      await expect(store.append(stream(), [{ type: 'A', data: {}, metadata: {} as never }])).rejects.toBeInstanceOf(InvalidEventError);
      await expect(store.append(stream(), [{ ...event(), id: 'nope' }])).rejects.toBeInstanceOf(InvalidEventError);
      await expect(store.append(stream(), [event('A'), event('B')].map((e) => ({ ...e, id: '8d5a4c4e-4b7a-4b0e-9c53-0e3cfb0d0a11' })))).rejects.toBeInstanceOf(InvalidEventError);
      const id = stream();
      const empty = await store.append(id, [], { expectedVersion: 'no_stream' });
      expect(empty).toMatchObject({ nextExpectedVersion: 0, events: [] });
    });

    it('reads stream ranges, limit and until', async () => {
      const id = stream();
      for (let i = 1; i <= 5; i++) await store.append(id, [event('N', { i })], { expectedVersion: i - 1 });
      const middle = await store.readStream(id, { fromVersion: 2, toVersion: 4 });
      expect(middle.map((e) => e.version)).toEqual([2, 3, 4]);
      expect((await store.readStream(id, { fromVersion: 3, limit: 1 })).map((e) => e.version)).toEqual([3]);
      const all = await store.readStream(id);
      const until = await store.readStream(id, { until: all[0]!.recordedAt });
      expect(until.length).toBeGreaterThanOrEqual(1);
      expect(until.every((e) => e.recordedAt <= all[0]!.recordedAt)).toBe(true);
    });
  });

  describe('positions, readAll, streamAll, subscribe', () => {
    it('assigns dense increasing positions; readAll pages; awaitPosition resolves them', async () => {
      const id = stream();
      const result = await store.append(id, [event(), event(), event()], { awaitPosition: true });
      const positions = result.events.map((e) => e.position);
      expect(positions.every((p) => typeof p === 'number' && p > 0)).toBe(true);
      expect(positions[1]).toBe(positions[0]! + 1);
      expect(positions[2]).toBe(positions[0]! + 2);
      const head = await store.headPosition();
      expect(head).toBeGreaterThanOrEqual(positions[2]!);
      const all: PositionedEvent[] = [];
      let after = 0;
      for (;;) {
        const page = await store.readAll({ after, limit: 7 });
        all.push(...page.events);
        if (page.events.length === 0) {
          expect(page.next).toBe(after);
          break;
        }
        after = page.next;
      }
      expect(all.map((e) => e.position)).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
      const streamed: number[] = [];
      for await (const e of store.streamAll({ batchSize: 5 })) streamed.push(e.position);
      expect(streamed.length).toBeGreaterThanOrEqual(all.length);
      expect(streamed.slice(0, all.length)).toEqual(all.map((e) => e.position));
    });

    it('positions events appended in a caller transaction after commit', async () => {
      const id = stream();
      const projection = await store.transaction(async (tx) => {
        const result = await store.append(id, [event('A')], { tx, expectedVersion: 'no_stream' });
        const version = await store.streamVersion(id, tx);
        return { result, version };
      });
      expect(projection.version).toBe(1);
      await store.flush();
      const [e] = await store.readStream(id);
      expect(e!.position).toBeGreaterThan(0);
    });

    it('rolls back an append in a failed transaction', async () => {
      const id = stream();
      await expect(
        store.transaction(async (tx) => {
          await store.append(id, [event('A')], { tx, expectedVersion: 'no_stream' });
          throw new Error('projection failed');
        }),
      ).rejects.toThrow('projection failed');
      expect(await store.streamVersion(id)).toBe(0);
      // A later append is not confused by anything cached from the rolled-back one.
      await store.append(id, [event('A')], { expectedVersion: 'no_stream' });
      expect(await store.streamVersion(id)).toBe(1);
    });

    it('a stale expected version inside a transaction does not abort it', async () => {
      const id = stream();
      await store.append(id, [event()], { expectedVersion: 'no_stream' });
      const outcome = await store.transaction(async (tx) => {
        const error = await store.append(id, [event()], { tx, expectedVersion: 0 }).catch((e: unknown) => e);
        await store.append(id, [event()], { tx, expectedVersion: 1 });
        return error;
      });
      expect(outcome).toBeInstanceOf(ConcurrencyError);
      expect(await store.streamVersion(id)).toBe(2);
    });

    it('a head given by the caller is used when real and refused when not', async () => {
      const id = stream();
      const first = await store.append(id, [event(), event()], { expectedVersion: 'no_stream' });
      const real = { version: 2, hash: first.events[1]!.hash };
      await expect(store.append(id, [event()], { head: real })).rejects.toBeInstanceOf(InvalidEventError);
      const outcome = await store.transaction(async (tx) => {
        // A wrong hash inserts nothing and leaves the transaction usable.
        const wrong = await store.append(id, [event()], { tx, expectedVersion: 2, head: { version: 2, hash: first.events[0]!.hash } }).catch((e: unknown) => e);
        // A head that does not meet the expectation: the real head decides (and reports).
        const stale = await store.append(id, [event()], { tx, expectedVersion: 1, head: real }).catch((e: unknown) => e);
        const ok = await store.append(id, [event('C')], { tx, expectedVersion: 2, head: real });
        return { wrong, stale, ok };
      });
      expect(outcome.wrong).toBeInstanceOf(ConcurrencyError);
      expect(outcome.stale).toMatchObject({ expected: 1, actual: 2 });
      expect(outcome.ok.events[0]!.prevHash).toBe(real.hash);
      expect(await store.streamVersion(id)).toBe(3);
      // A head behind the stream (version taken) is a lost race: ConcurrencyError.
      await expect(
        store.transaction((tx) => store.append(id, [event()], { tx, expectedVersion: 2, head: real })),
      ).rejects.toBeInstanceOf(ConcurrencyError);
      expect(await store.streamVersion(id)).toBe(3);
      expect((await store.verify({ streamId: id })).ok).toBe(true);
    });


    it('appendMany writes several streams in one statement, chained to the given heads, all or nothing', async () => {
      const [a, b, c] = [stream(), stream(), stream()];
      const first = await store.append(a, [event('A1')], { expectedVersion: 'no_stream' });
      const headA = { version: 1, hash: first.events[0]!.hash };
      const results = await store.transaction((tx) =>
        store.appendMany(
          [
            { streamId: a, events: [event('A2'), event('A3')], head: headA },
            { streamId: b, events: [event('B1')], head: { version: 0, hash: null } },
            { streamId: c, events: [], head: { version: 0, hash: null } },
          ],
          { tx },
        ),
      );
      expect(results.map((r) => [r.streamId, r.nextExpectedVersion, r.events.length])).toEqual([
        [a, 3, 2],
        [b, 1, 1],
        [c, 0, 0],
      ]);
      expect(results[0]!.events[0]!.prevHash).toBe(headA.hash);
      const streamA = await store.readStream(a);
      expect(streamA.map((e) => [e.version, e.type, e.hash])).toEqual([
        [1, 'A1', headA.hash],
        [2, 'A2', results[0]!.events[0]!.hash],
        [3, 'A3', results[0]!.events[1]!.hash],
      ]);
      await store.flush();
      // Positions follow the versions within each stream.
      const positions = (await store.readStream(a)).map((e) => e.position!);
      expect([...positions].sort((x, y) => x - y)).toEqual(positions);
      expect((await store.verify({ streamId: a })).ok).toBe(true);
      expect((await store.verify({ streamId: b })).ok).toBe(true);

      // A wrong hash writes nothing on any stream and leaves the transaction usable.
      const afterWrongHash = await store.transaction(async (tx) => {
        const error = await store
          .appendMany(
            [
              { streamId: a, events: [event('A4')], head: { version: 3, hash: streamA[2]!.hash } },
              { streamId: b, events: [event('B2')], head: { version: 1, hash: headA.hash } },
            ],
            { tx },
          )
          .catch((e: unknown) => e);
        return { error, version: await store.streamVersion(a, tx) };
      });
      expect(afterWrongHash.error).toMatchObject({ streamId: b, code: 'concurrency_conflict' });
      expect(afterWrongHash.version).toBe(3);

      // A stale head (its version taken) on one stream writes nothing on any: a lost race.
      const wrong = await store
        .transaction((tx) =>
          store.appendMany(
            [
              { streamId: b, events: [event('B2')], head: { version: 1, hash: results[1]!.events[0]!.hash } },
              { streamId: a, events: [event('A4')], head: headA },
            ],
            { tx },
          ),
        )
        .catch((e: unknown) => e);
      expect(wrong).toBeInstanceOf(ConcurrencyError);
      expect(wrong).toMatchObject({ streamId: a, expected: 1 });
      expect((wrong as ConcurrencyError).actual).toBeGreaterThan(1);
      expect([await store.streamVersion(a), await store.streamVersion(b)]).toEqual([3, 1]);

      // A new stream that already exists (version taken): a lost race, nothing written.
      const taken = await store
        .transaction((tx) => store.appendMany([{ streamId: b, events: [event('B1 again')], head: { version: 0, hash: null } }], { tx }))
        .catch((e: unknown) => e);
      expect(taken).toBeInstanceOf(ConcurrencyError);
      expect(await store.streamVersion(b)).toBe(1);

      // Invalid input is refused before anything is sent.
      await expect(store.transaction((tx) => store.appendMany([{ streamId: a, events: [{ type: '', data: {}, metadata: { actor: 'x' } }], head: { version: 3, hash: streamA[2]!.hash } }], { tx }))).rejects.toBeInstanceOf(InvalidEventError);
      await expect(
        store.transaction((tx) =>
          store.appendMany(
            [
              { streamId: b, events: [event()], head: { version: 1, hash: results[1]!.events[0]!.hash } },
              { streamId: b, events: [event()], head: { version: 1, hash: results[1]!.events[0]!.hash } },
            ],
            { tx },
          ),
        ),
      ).rejects.toBeInstanceOf(InvalidEventError);
      expect(await store.streamVersion(b)).toBe(1);
    });
    it('subscribe catches up then goes live, in order, exactly once', async () => {
      const head = await store.headPosition();
      const seen: PositionedEvent[] = [];
      const subscription = store.subscribe({ after: 0, batchSize: 3 }, (e) => {
        seen.push(e);
      });
      await subscription.caughtUp;
      expect(seen.length).toBeGreaterThanOrEqual(head);
      const id = stream();
      for (let i = 0; i < 10; i++) await store.append(id, [event('L', { i })]);
      await store.flush();
      const target = await store.headPosition();
      await waitFor(() => subscription.position >= target, 'subscriber to reach head');
      expect(seen.map((e) => e.position)).toEqual(Array.from({ length: seen.length }, (_, i) => i + 1));
      expect(seen.filter((e) => e.streamId === id).map((e) => e.data['i'])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      await subscription.close();
    });

    it("subscribe({after: 'end'}) delivers only new events; async handlers are awaited in order", async () => {
      const seen: number[] = [];
      let inHandler = 0;
      let overlap = false;
      const subscription = store.subscribe({ after: 'end' }, async (e) => {
        inHandler++;
        if (inHandler > 1) overlap = true;
        await new Promise((resolve) => setTimeout(resolve, 1));
        seen.push(e.position);
        inHandler--;
      });
      await subscription.caughtUp;
      const start = subscription.position;
      expect(seen).toEqual([]);
      await store.append(stream(), [event(), event()], { awaitPosition: true });
      await waitFor(() => seen.length >= 2, 'live events');
      expect(seen).toEqual([start + 1, start + 2]);
      expect(overlap).toBe(false);
      await subscription.close();
    });

    it('a failing handler stops the subscription at the failed event', async () => {
      const errors: unknown[] = [];
      const local = backend.store({ onError: (error) => errors.push(error) });
      const subscription = local.subscribe({ after: 0 }, () => {
        throw new Error('boom');
      });
      await expect(subscription.caughtUp).rejects.toThrow('boom');
      expect(subscription.position).toBe(0);
      expect(errors.length).toBe(1);
    });
  });

  describe('append-only and tamper evidence', () => {
    it('refuses UPDATE, DELETE and TRUNCATE', async () => {
      const id = stream();
      await store.append(id, [event('A', { v: 1 })], { awaitPosition: true });
      const exec = (text: string) => backend.database.db.executeQuery({ sql: text, parameters: [], query: undefined as never, queryId: undefined as never });
      await expect(exec(`update events set data = '{"v":2}' where stream_id = '${id}'`)).rejects.toThrow(/append-only/);
      await expect(exec(`update events set position = position + 1000000 where stream_id = '${id}'`)).rejects.toThrow(/append-only/);
      await expect(exec(`delete from events where stream_id = '${id}'`)).rejects.toThrow(/append-only/);
      await expect(exec('truncate events')).rejects.toThrow(/append-only/);
      expect((await store.readStream(id))[0]!.data).toEqual({ v: 1 });
    });

    it('verify() passes on an intact log', async () => {
      const result = await store.verify();
      expect(result.ok).toBe(true);
      expect(result.checked).toBeGreaterThan(0);
    });
  });

  describe('properties', () => {
    // PostgreSQL text cannot hold NUL; everything else JSON can express must round-trip.
    const jsonString = fc.string({ unit: 'grapheme', maxLength: 12 }).filter((s) => !s.includes('\u0000'));
    const jsonValue = fc.letrec<{ value: unknown }>((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        jsonString,
        fc.integer(),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('value'), { maxLength: 4 }),
        fc.dictionary(jsonString, tie('value'), { maxKeys: 4 }),
      ),
    })).value;
    const newEvent = fc.record({
      type: fc.string({ minLength: 1, maxLength: 10 }).filter((s) => !s.includes('\u0000')),
      data: fc.dictionary(jsonString, jsonValue, { maxKeys: 5 }),
      actor: fc.string({ minLength: 1, maxLength: 8 }).filter((s) => !s.includes('\u0000')),
    });

    it('append → readStream/readAll round-trips data, order and hashes', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.array(newEvent, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 4 }), async (batches) => {
          const id = stream();
          const appended = [];
          let version = 0;
          for (const batch of batches) {
            const result = await store.append(
              id,
              batch.map((e) => ({ type: e.type, data: e.data as never, metadata: { actor: e.actor } })),
              { expectedVersion: version === 0 ? 'no_stream' : version },
            );
            version = result.nextExpectedVersion;
            appended.push(...result.events);
          }
          const expectedData = batches.flat().map((e) => JSON.parse(JSON.stringify(e.data)));
          const read = await store.readStream(id);
          expect(read.map((e) => e.version)).toEqual(read.map((_, i) => i + 1));
          expect(read.map((e) => e.data)).toEqual(expectedData);
          expect(read.map((e) => e.hash)).toEqual(appended.map((e) => e.hash));
          expect((await store.verify({ streamId: id })).ok).toBe(true);
          await store.flush();
          const positioned = await store.readStream(id);
          const positions = positioned.map((e) => e.position!);
          for (let i = 1; i < positions.length; i++) expect(positions[i]).toBeGreaterThan(positions[i - 1]!);
          const fromAll = await store.readAll({ after: positions[0]! - 1, limit: 10_000 });
          const mine = fromAll.events.filter((e) => e.streamId === id);
          expect(mine.map((e) => e.data)).toEqual(expectedData);
        }),
        { numRuns: kind === 'postgres' ? 40 : 25 },
      );
    });

    it('canonical hashing is independent of key order', async () => {
      await fc.assert(
        fc.asyncProperty(fc.dictionary(jsonString, fc.integer(), { minKeys: 2, maxKeys: 6 }), async (data) => {
          const reversed = Object.fromEntries(Object.entries(data).reverse());
          const a = stream();
          const ids = [randomUUID()];
          await store.append(a, [event('K', data, ids[0])], { expectedVersion: 'no_stream' });
          const replay = await store.append(a, [event('K', reversed, ids[0])], { expectedVersion: 'no_stream' });
          expect(replay.replayed).toBe(true);
        }),
        { numRuns: 15 },
      );
    });
  });
}
