import { randomUUID } from 'node:crypto';
import { CompiledQuery } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { writeTransaction, type EventStore, type WriteSession } from '../src/index.ts';
import { event, openBackend, type Backend } from './helpers.ts';

const available = await requirePostgres();

const select = (text: string) => CompiledQuery.raw(text);

/**
 * Write transactions as a command pipeline runs them (src/postgres/): on PostgreSQL, BEGIN
 * and COMMIT ride with statements, or the whole transaction — an append between the
 * caller's statements — goes out in one round trip. On a one-connection pool, so a
 * transaction left open would show.
 */
describe.skipIf(!available)('write sessions (PostgreSQL, BEGIN/COMMIT pipelined)', () => {
  let backend: Backend;
  let store: EventStore;
  const count = async (streamId: string) =>
    Number((await backend.database.db.executeQuery<{ n: number }>(CompiledQuery.raw('select count(*)::int as n from events where stream_id = $1', [streamId]))).rows[0]!.n);
  const openTransactions = async () =>
    Number(
      (
        await backend.database.db.executeQuery<{ n: number }>(
          select(`select count(*)::int as n from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'`),
        )
      ).rows[0]!.n,
    );

  beforeAll(async () => {
    backend = await openBackend('postgres', 1);
    store = backend.store();
  });
  afterAll(async () => {
    await backend?.cleanup();
  });

  it('statements carry BEGIN and COMMIT; an append joins the transaction and gets its position after the commit', async () => {
    const streamId = `s-${randomUUID()}`;
    let seen: WriteSession | undefined;
    const appended = await writeTransaction(
      store,
      backend.database,
      async (session) => {
        seen = session;
        expect(session).toMatchObject({ pipelined: true, begun: false });
        expect(await session.run(select('select 1 as one'))).toEqual([{ one: 1 }]);
        expect(session.begun).toBe(true);
        const [result] = await store.appendMany([{ streamId, events: [event('A'), event('B')], head: { version: 0, hash: null } }], { tx: session.tx });
        await session.run(select('select 2 as two'), { commit: true });
        return result!;
      },
      (result) => result.events.length > 0,
    );
    expect(seen?.committed).toBe(true);
    expect(appended.events.map((e) => e.version)).toEqual([1, 2]);
    await store.flush();
    expect((await store.readStream(streamId)).map((e) => e.position === null)).toEqual([false, false]);
    expect(await openTransactions()).toBe(0);
  });

  it('one flight: BEGIN, the statements before, the append, those after and COMMIT in one round trip', async () => {
    const streamId = `s-${randomUUID()}`;
    const committed = await writeTransaction(
      store,
      backend.database,
      (session) =>
        session.appendInOneFlight(store.prepareAppendMany([{ streamId, events: [event('A')], head: { version: 0, hash: null } }]), {
          before: [select('select 1')],
          after: [select('select 2'), select('select 3')],
        }),
      (ok) => ok,
    );
    expect(committed).toBe(true);
    expect(await count(streamId)).toBe(1);
    expect(await openTransactions()).toBe(0);
  });

  it('a head that is no longer the stream’s latest writes nothing; the session starts over', async () => {
    const streamId = `s-${randomUUID()}`;
    await store.append(streamId, [event('First')]);
    const [head] = await store.readStream(streamId);
    await store.append(streamId, [event('Second')], { expectedVersion: 1 });
    const outcome = await writeTransaction(
      store,
      backend.database,
      async (session) => {
        // Version 2 is taken: the flight fails on the unique index and is rolled back.
        const moved = await session.appendInOneFlight(
          store.prepareAppendMany([{ streamId, events: [event('Stale')], head: { version: 1, hash: head!.hash } }]),
          { before: [select('select 1')], after: [] },
        );
        // A head that is no event at all: the guard inserts nothing, the COMMIT commits nothing.
        const invented = await session.appendInOneFlight(
          store.prepareAppendMany([{ streamId, events: [event('Invented')], head: { version: 2, hash: 'f'.repeat(64) } }]),
          { before: [select('select 1')], after: [] },
        );
        expect(session.begun).toBe(false);
        // The session is as new: the next statement begins another transaction.
        const rows = await session.run(select('select 1 as one'), { commit: true });
        return { moved, invented, rows };
      },
      () => false,
    );
    expect(outcome).toEqual({ moved: false, invented: false, rows: [{ one: 1 }] });
    expect((await store.readStream(streamId)).map((e) => e.type)).toEqual(['First', 'Second']);
    expect(await openTransactions()).toBe(0);
  });

  it('a failing statement in the flight: nothing written, the error thrown, the connection clean', async () => {
    const streamId = `s-${randomUUID()}`;
    const failing = writeTransaction(
      store,
      backend.database,
      (session) =>
        session.appendInOneFlight(store.prepareAppendMany([{ streamId, events: [event('A')], head: { version: 0, hash: null } }]), {
          before: [select('select 1')],
          after: [select('select 1 / 0')],
        }),
      (ok) => ok,
    );
    await expect(failing).rejects.toThrow(/division by zero/);
    expect(await count(streamId)).toBe(0);
    expect(await openTransactions()).toBe(0);
    // The same statements parse again on the connection (their names moved to a new generation).
    const retried = await writeTransaction(
      store,
      backend.database,
      (session) =>
        session.appendInOneFlight(store.prepareAppendMany([{ streamId, events: [event('A')], head: { version: 0, hash: null } }]), {
          before: [select('select 1')],
          after: [select('select 2')],
        }),
      (ok) => ok,
    );
    expect(retried).toBe(true);
    expect(await count(streamId)).toBe(1);
  });
});

describe('write sessions without a PostgreSQL database (PGlite): store.transaction', () => {
  let backend: Backend;
  let store: EventStore;

  beforeAll(async () => {
    backend = await openBackend('pglite');
    store = backend.store();
  });
  afterAll(async () => {
    await backend?.cleanup();
  });

  it('statements run in the open transaction; one flight is refused', async () => {
    const streamId = `s-${randomUUID()}`;
    await writeTransaction(
      store,
      backend.database,
      async (session) => {
        expect(session).toMatchObject({ pipelined: false, begun: true });
        await expect(
          session.appendInOneFlight(store.prepareAppendMany([{ streamId, events: [event('A')], head: { version: 0, hash: null } }]), { before: [], after: [] }),
        ).rejects.toThrow(/pipelined/);
        await store.appendMany([{ streamId, events: [event('A')], head: { version: 0, hash: null } }], { tx: session.tx });
        expect(await session.run(select('select 1 as one'), { commit: true })).toEqual([{ one: 1 }]);
      },
      () => true,
    );
    expect((await store.readStream(streamId)).map((e) => e.type)).toEqual(['A']);
  });
});
