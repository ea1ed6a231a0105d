import { randomUUID } from 'node:crypto';
import { CompiledQuery } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { writeTransaction, type EventStore } from '../src/index.ts';
import { contractSuite } from './contract.ts';
import { event, openBackend, type Backend } from './helpers.ts';

/**
 * The store as the client of a transaction pooler sees PostgreSQL (`pooler: 'transaction'`,
 * src/postgres/pooled-client.ts), here over a direct connection so the server session can be
 * looked into: no named statement is ever prepared on it, no startup parameter is sent, and
 * the statement timeout holds in every transaction. test/pgbouncer.test.ts runs the service
 * through a real PgBouncer.
 */
const available = await requirePostgres();

const select = (text: string, parameters: unknown[] = []) => CompiledQuery.raw(text, parameters);

describe.skipIf(!available)('event store contract (PostgreSQL as a transaction pooler’s client)', () => {
  contractSuite('postgres', { pooler: 'transaction' });
});

describe.skipIf(!available)('a transaction pooler’s client (one pooled connection, looked into)', () => {
  let backend: Backend;
  let store: EventStore;
  const one = async <R>(text: string, parameters: unknown[] = []) => (await backend.database.db.executeQuery<R>(select(text, parameters))).rows[0]!;

  beforeAll(async () => {
    backend = await openBackend('postgres', 1, { pooler: 'transaction', statementTimeoutMs: 1000 });
    store = backend.store();
  });
  afterAll(async () => {
    await backend?.cleanup();
  });

  it('prepares no named statement: appends, write sessions in one flight, the sequencer', async () => {
    const streamId = `s-${randomUUID()}`;
    await store.append(streamId, [event('A')]);
    await store.append(streamId, [event('B')], { expectedVersion: 1 });
    const [head] = (await store.readStream(streamId)).slice(-1);
    const committed = await writeTransaction(
      store,
      backend.database,
      (session) =>
        session.appendInOneFlight(store.prepareAppendMany([{ streamId, events: [event('C')], head: { version: 2, hash: head!.hash } }]), {
          before: [select('select $1::int as n', [1])],
          after: [select('select $1::text as t', ['after']), select('select 3')],
        }),
      (ok) => ok,
    );
    expect(committed).toBe(true);
    const third = (await store.readStream(streamId))[2]!;
    const piped = await writeTransaction(
      store,
      backend.database,
      async (session) => {
        const first = await session.run(select('select 1 as one'));
        const [result] = await store.appendMany([{ streamId, events: [event('D')], head: { version: 3, hash: third.hash } }], { tx: session.tx });
        await session.run(select('select 2 as two'), { commit: true });
        return { first, versions: result!.events.map((e) => e.version) };
      },
      () => true,
    );
    expect(piped).toEqual({ first: [{ one: 1 }], versions: [4] });
    await store.flush();
    expect((await store.readStream(streamId)).map((e) => [e.type, e.position !== null])).toEqual([
      ['A', true],
      ['B', true],
      ['C', true],
      ['D', true],
    ]);
    expect(await one<{ n: number }>('select count(*)::int as n from pg_prepared_statements')).toEqual({ n: 0 });
  });

  it('sends no statement_timeout at start-up; every statement and transaction runs with it', async () => {
    // reset_val: the session's own value (what a startup parameter would have set).
    expect(await one('select reset_val from pg_settings where name = $1', ['statement_timeout'])).toEqual({ reset_val: '0' });
    expect(await one('show statement_timeout')).toEqual({ statement_timeout: '1s' });
    const inTransaction = await backend.database.db.transaction().execute(async (tx) => {
      await tx.executeQuery(select('select 1'));
      return (await tx.executeQuery(select('show statement_timeout'))).rows[0];
    });
    expect(inTransaction).toEqual({ statement_timeout: '1s' });
    await expect(backend.database.db.executeQuery(select('select pg_sleep(5)'))).rejects.toMatchObject({ code: '57014' });
    await expect(
      backend.database.db.transaction().execute(async (tx) => {
        await tx.executeQuery(select('select 1'));
        await tx.executeQuery(select('select pg_sleep(5)'));
      }),
    ).rejects.toMatchObject({ code: '57014' });
  });

  it('a failed transaction rolls back and leaves the connection usable', async () => {
    await expect(
      backend.database.db.transaction().execute(async (tx) => {
        await tx.executeQuery(select('select 1'));
        await tx.executeQuery(select('select 1 / 0'));
      }),
    ).rejects.toThrow(/division by zero/);
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
    expect(await one('select count(*)::int as n from events where stream_id = $1', [streamId])).toEqual({ n: 0 });
    expect(await one(`select count(*)::int as n from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'`)).toEqual({
      n: 0,
    });
    expect(await one('select 1 as one')).toEqual({ one: 1 });
  });
});

describe.skipIf(!available)('a transaction pooler that keeps prepared statements (namedStatements)', () => {
  let backend: Backend;

  beforeAll(async () => {
    backend = await openBackend('postgres', 1, { pooler: 'transaction', namedStatements: true, statementTimeoutMs: 2000 });
  });
  afterAll(async () => {
    await backend?.cleanup();
  });

  it('keeps the store’s named statements and still sets the timeout per transaction', async () => {
    const store = backend.store();
    await store.append(`s-${randomUUID()}`, [event('A')]);
    await store.flush();
    const { rows } = await backend.database.db.executeQuery<{ name: string }>(select('select name from pg_prepared_statements order by name'));
    expect(rows.map((r) => r.name)).toEqual(expect.arrayContaining([expect.stringMatching(/^es_/)]));
    expect((await backend.database.db.executeQuery(select('show statement_timeout'))).rows[0]).toEqual({ statement_timeout: '2s' });
  });
});
