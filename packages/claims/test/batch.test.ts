import { randomUUID } from 'node:crypto';
import pgLib from 'pg';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createEventStore, migrateToLatest, openDatabase, type Database, type EventStore } from '@claimtrail/event-store';
import { migrations } from '@claimtrail/migrations';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import type { Actor, ClaimCommand } from '@claimtrail/domain';
import { ClaimService, CommandError, compareProjections, getClaim, type ExecuteInput, type ExecuteResult } from '../src/index.ts';

const pg = await requirePostgres();

const fc: Actor = { id: 'fc-1', role: 'fact_checker' };
const ed: Actor = { id: 'ed-1', role: 'editor' };

type Settled = { ok: true; result: ExecuteResult } | { ok: false; error: unknown };

/**
 * Group commit through real transactions on PostgreSQL. With concurrency 1 the first
 * command of a burst is written alone and every command issued while it is in flight waits
 * and leaves in the next batch: `burst` makes exactly that happen and reports the batch
 * sizes the service saw.
 */
describe.skipIf(!pg)('ClaimService group commit (PostgreSQL)', () => {
  let testDb: TestDatabase;
  let database: Database;
  let store: EventStore;
  let service: ClaimService;
  let batches: number[] = [];
  let paths: string[] = [];
  const eventCount = async () => Number((await database.db.selectFrom('events').select((eb) => eb.fn.countAll<string>().as('n')).execute())[0]!.n);

  beforeAll(async () => {
    testDb = await createTestDatabase('claims_batch');
    database = await openDatabase({ databaseUrl: testDb.url });
    await migrateToLatest(database.db, migrations);
    store = createEventStore(database);
    service = new ClaimService(store, { database, batch: { concurrency: 1, maxSize: 64 }, onBatch: (size) => batches.push(size), onBatchWritten: (path) => paths.push(path) });
  });
  afterAll(async () => {
    await store?.close();
    await database?.close();
    await testDb?.drop();
  });
  beforeEach(() => {
    batches = [];
    paths = [];
  });

  async function submit(text = 'a claim'): Promise<string> {
    const id = randomUUID();
    await service.execute({ claimId: id, command: { type: 'submit_claim', text }, actor: fc });
    return id;
  }

  /** A lead command written alone, then `inputs` issued while it is in flight: one batch. */
  async function burst(inputs: ExecuteInput[], via: ClaimService = service): Promise<Settled[]> {
    const lead = via.execute({ claimId: await submit(), command: { type: 'add_note', body: 'lead' }, actor: fc });
    batches = [];
    const settled = inputs.map((input) =>
      via.execute(input).then(
        (result): Settled => ({ ok: true, result }),
        (error: unknown): Settled => ({ ok: false, error }),
      ),
    );
    await lead;
    return Promise.all(settled);
  }

  const note = (claimId: string, body: string, extra: Partial<ExecuteInput> = {}): ExecuteInput => ({
    claimId,
    command: { type: 'add_note', body },
    actor: fc,
    ...extra,
  });
  const codeOf = (s: Settled) => (s.ok ? 'ok' : s.error instanceof CommandError ? s.error.code : String(s.error));

  it('writes a burst of commands to many claims in one transaction, each with its own outcome', async () => {
    const ids = await Promise.all(Array.from({ length: 12 }, () => submit()));
    const before = await eventCount();
    const inputs: ExecuteInput[] = [
      ...ids.map((id, i) => note(id, `note ${i}`)),
      { claimId: ids[0]!, command: { type: 'publish' }, actor: ed }, // same claim: a later batch
      { claimId: ids[1]!, command: { type: 'triage' }, actor: fc }, // a later batch (same claim), then forbidden_role
      note(ids[2]!, 'stale', { expectedVersion: 9 }), // a later batch (same claim), then precondition_failed
      { claimId: randomUUID(), command: { type: 'triage' }, actor: ed }, // not_found
    ];
    const settled = await burst(inputs);
    expect(settled.map(codeOf)).toEqual([...ids.map(() => 'ok'), 'illegal_transition', 'forbidden_role', 'precondition_failed', 'not_found']);
    // One batch for the 12 notes and the command on an unknown claim; the second command
    // on a claim waited for the next batch.
    expect(batches).toEqual([13, 3]);
    for (const [i, s] of settled.slice(0, 12).entries()) {
      expect(s.ok && s.result.view).toMatchObject({ id: ids[i], version: 2, notesCount: 1 });
      expect(s.ok && JSON.parse(s.result.viewJson)).toEqual(s.ok && s.result.view);
      expect(s.ok && s.result.events.map((e) => [e.streamId, e.version, e.type])).toEqual([[`claim-${ids[i]}`, 2, 'NoteAdded']]);
    }
    expect(await eventCount()).toBe(before + 2 + 12); // + the lead claim and its note
    const stale = settled[14]!;
    expect(!stale.ok && (stale.error as CommandError).currentVersion).toBe(2);
    expect(await compareProjections(store)).toEqual([]);
    expect((await store.verify()).ok).toBe(true);
  });

  it('a command the database refuses fails alone: its batch is retried one by one', async () => {
    const ids = await Promise.all(Array.from({ length: 5 }, () => submit()));
    const before = await eventCount();
    // NUL cannot be stored in PostgreSQL json: the append refuses the whole batch.
    const settled = await burst([note(ids[0]!, 'fine'), note(ids[1]!, 'bad \u0000 byte'), note(ids[2]!, 'fine'), note(ids[3]!, 'fine')]);
    expect(batches[0]).toBe(4);
    expect(settled.map((s) => s.ok)).toEqual([true, false, true, true]);
    expect(await eventCount()).toBe(before + 2 + 3); // + the lead claim and its note
    expect((await getClaim(database.db, ids[1]!))?.version).toBe(1);
    expect(await compareProjections(store)).toEqual([]);
  });

  it('a projection behind its stream (an append around the service) is caught up by the single-command path', async () => {
    const [lagging, other] = [await submit(), await submit()];
    await store.append(`claim-${lagging}`, [{ type: 'NoteAdded', data: { body: 'around', noteId: randomUUID() }, metadata: { actor: fc.id, actorRole: 'fact_checker' } }], {
      expectedVersion: 1,
    });
    const settled = await burst([note(lagging, 'after'), note(other, 'after')]);
    expect(settled.map(codeOf)).toEqual(['ok', 'ok']);
    expect(settled[0]!.ok && settled[0]!.result.view).toMatchObject({ version: 3, notesCount: 2 });
    expect(await getClaim(database.db, lagging)).toMatchObject({ version: 3, notesCount: 2 });
  });

  it('idempotency keys in a batch: first answer stored, repeats replayed, reuse refused, refusals not stored', async () => {
    const [a, b] = [await submit(), await submit()];
    const settled = await burst([
      note(a, 'keyed', { idempotencyKey: 'k-a' }),
      note(a, 'keyed', { idempotencyKey: 'k-a' }), // same key in flight: waits, then the stored answer
      { claimId: b, command: { type: 'publish' }, actor: ed, idempotencyKey: 'k-b' }, // refused: key released
      note(b, 'other body', { idempotencyKey: 'k-a' }), // same key, different request
    ]);
    expect(settled.map(codeOf)).toEqual(['ok', 'ok', 'illegal_transition', 'idempotency_key_reuse']);
    const [first, replay] = settled as [Extract<Settled, { ok: true }>, Extract<Settled, { ok: true }>];
    expect(first.result.replayed).toBe(false);
    expect(replay.result).toMatchObject({ replayed: true, events: [] });
    expect(replay.result.viewJson).toBe(first.result.viewJson);
    // The refused key was not kept: the same key now carries a command that is allowed.
    const retried = await service.execute({ claimId: b, command: { type: 'triage' }, actor: ed, idempotencyKey: 'k-b' });
    expect(retried).toMatchObject({ replayed: false, view: { state: 'triaged' } });
    expect((await getClaim(database.db, a))?.notesCount).toBe(1);
  });

  it('a merge and a write to its target never share a batch', async () => {
    const [source, target] = [await submit('source'), await submit('target')];
    await service.execute({ claimId: source, command: { type: 'triage' }, actor: ed });
    await service.execute({ claimId: target, command: { type: 'triage' }, actor: ed });
    const settled = await burst([
      { claimId: source, command: { type: 'merge', into: target } as ClaimCommand, actor: ed },
      { claimId: target, command: { type: 'reject', reason: 'duplicate of another' } as ClaimCommand, actor: ed },
    ]);
    expect(batches.length).toBe(2);
    expect(settled.map(codeOf)).toEqual(['ok', 'ok']);
    expect(await getClaim(database.db, source)).toMatchObject({ state: 'merged', mergedInto: target });
    expect(await compareProjections(store)).toEqual([]);
  });

  it('a claim locked by another transaction does not hold up its batch: its command waits alone', async () => {
    const [locked, free] = [await submit(), await submit()];
    const holder = new pgLib.Client({ connectionString: testDb.url });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query('select id from claims where id = $1 for update', [locked]);
      const lead = service.execute({ claimId: await submit(), command: { type: 'add_note', body: 'lead' }, actor: fc });
      batches = [];
      const waiting = service.execute(note(locked, 'waits', { idempotencyKey: 'locked-1' }));
      const through = service.execute(note(free, 'goes through'));
      await lead;
      // The free claim's note commits while the other claim is still locked.
      expect((await through).view).toMatchObject({ id: free, version: 2 });
      expect(batches[0]).toBe(2);
      let done = false;
      void waiting.then(() => (done = true));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(done).toBe(false);
      await holder.query('commit');
      expect((await waiting).view).toMatchObject({ id: locked, version: 2, notesCount: 1 });
      // The batch released the key; the single-command path claimed it and stored the answer.
      const again = await service.execute(note(locked, 'waits', { idempotencyKey: 'locked-1' }));
      expect(again).toMatchObject({ replayed: true, view: { version: 2 } });
    } finally {
      await holder.end();
    }
  });

  it('states cached by one service stay right when another service writes the same claims', async () => {
    const other = new ClaimService(store, { database, batch: false });
    const id = await submit();
    await service.execute(note(id, 'one'));
    await other.execute(note(id, 'two (elsewhere)'));
    const third = await service.execute(note(id, 'three'));
    expect(third.view).toMatchObject({ version: 4, notesCount: 3 });
    expect(third.view.notes.map((n) => n.body)).toEqual(['one', 'two (elsewhere)', 'three']);
    expect(await compareProjections(store)).toEqual([]);
  });

  it('a burst to claims this service wrote goes out in one round trip, decided on the cached states', async () => {
    const ids = await Promise.all(Array.from({ length: 8 }, () => submit()));
    const before = await eventCount();
    paths = [];
    const settled = await burst([...ids.map((id, i) => note(id, `flight ${i}`)), { claimId: ids[0]!, command: { type: 'publish' }, actor: ed }]);
    expect(settled.map(codeOf)).toEqual([...ids.map(() => 'ok'), 'illegal_transition']);
    // The publish waits for the next batch (same claim as a note).
    expect(batches).toEqual([8, 1]);
    // The notes in one flight; the refused publish is checked against the locked row.
    expect(paths.slice(-2)).toEqual(['one_flight', 'read_first']);
    expect(await eventCount()).toBe(before + 8 + 2); // the notes, and the lead claim (submitted, noted)
    for (const [i, id] of ids.entries()) {
      expect((await getClaim(database.db, id))!).toMatchObject({ version: 2, notesCount: 1 });
      expect((settled[i] as { result: ExecuteResult }).result.view.version).toBe(2);
    }
    expect(await compareProjections(store)).toEqual([]);
  });

  it('a cached state another service made stale is found by the append, and the batch is written from the locked rows', async () => {
    const other = new ClaimService(store, { database, batch: false });
    const id = await submit();
    await service.execute(note(id, 'one'));
    await other.execute(note(id, 'two (elsewhere)'));
    paths = [];
    const third = await service.execute(note(id, 'three'));
    expect(paths).toEqual(['read_first']);
    expect(third.view).toMatchObject({ version: 4, notesCount: 3 });
    // Now cached again: the next write goes out in one flight.
    paths = [];
    expect((await service.execute(note(id, 'four'))).view.version).toBe(5);
    expect(paths).toEqual(['one_flight']);
    const versions = (await store.readStream(`claim-${id}`)).map((e) => e.version);
    expect(versions).toEqual([1, 2, 3, 4, 5]);
    // A refusal is never decided on a stale cache: If-Match of the real version succeeds,
    // the stale one is refused with the real version.
    await other.execute(note(id, 'six (elsewhere)'));
    const ifMatch = await service.execute(note(id, 'seven', { expectedVersion: 6 }));
    expect(ifMatch.view.version).toBe(7);
    await other.execute(note(id, 'eight (elsewhere)'));
    await expect(service.execute(note(id, 'nine', { expectedVersion: 7 }))).rejects.toMatchObject({ code: 'precondition_failed', currentVersion: 8 });
    expect(await compareProjections(store)).toEqual([]);
  });

  it('a cached head that is not an event in the log writes nothing in one flight: the batch is written from the locked rows', async () => {
    const id = await submit();
    await service.execute(note(id, 'one'));
    const states = (service as unknown as { states: { get(id: string): { headHash: string } | undefined; set(id: string, e: unknown): void } }).states;
    const entry = states.get(id)!;
    states.set(id, { ...entry, headHash: 'f'.repeat(64) });
    const before = await eventCount();
    paths = [];
    const second = await service.execute(note(id, 'two'));
    expect(paths).toEqual(['read_first']);
    expect(second.view).toMatchObject({ version: 3, notesCount: 2 });
    expect(await eventCount()).toBe(before + 1);
    expect((await getClaim(database.db, id))!.version).toBe(3);
    expect((await store.verify({ streamId: `claim-${id}` })).ok).toBe(true);
    expect(await compareProjections(store)).toEqual([]);
  });

  it('writes with Idempotency-Keys go out in one flight too; a repeated key is answered the read-first way (replay or reuse refusal)', async () => {
    const ids = await Promise.all(Array.from({ length: 4 }, () => submit()));
    const keyed = (id: string, body: string, key: string): ExecuteInput => ({ ...note(id, body), idempotencyKey: key });
    paths = [];
    const settled = await burst(ids.map((id, i) => keyed(id, `keyed ${i}`, `flight-key-${id}`)));
    expect(settled.map(codeOf)).toEqual(ids.map(() => 'ok'));
    expect(paths.at(-1)).toBe('one_flight');
    const stored = await sql<{ key: string; status_code: number; version: number; response: string }>`
      select key, status_code, version, response from idempotency_keys where key = any(${ids.map((id) => `flight-key-${id}`)}::text[])`.execute(database.db);
    expect(stored.rows).toHaveLength(4);
    for (const [i, id] of ids.entries()) {
      const row = stored.rows.find((r) => r.key === `flight-key-${id}`)!;
      const answer = (settled[i] as { result: ExecuteResult }).result;
      expect(row).toMatchObject({ status_code: 200, version: 2 });
      expect(row.response).toBe(answer.viewJson);
    }
    // The same request again: the flight's INSERT meets the key, the read-first way replays.
    const before = await eventCount();
    paths = [];
    const again = await service.execute(keyed(ids[0]!, 'keyed 0', `flight-key-${ids[0]}`));
    expect(again.replayed).toBe(true);
    expect(again.viewJson).toBe((settled[0] as { result: ExecuteResult }).result.viewJson);
    await expect(service.execute(keyed(ids[1]!, 'another body', `flight-key-${ids[1]}`))).rejects.toMatchObject({ code: 'idempotency_key_reuse' });
    expect(await eventCount()).toBe(before);
    expect(await compareProjections(store)).toEqual([]);
  });

  it('a keyed write whose cached head is not an event stores no answer in the flight: the key answers the real write', async () => {
    const id = await submit();
    await service.execute(note(id, 'one'));
    const states = (service as unknown as { states: { get(id: string): { headHash: string } | undefined; set(id: string, e: unknown): void } }).states;
    states.set(id, { ...states.get(id)!, headHash: 'e'.repeat(64) });
    paths = [];
    const written = await service.execute({ ...note(id, 'two'), idempotencyKey: `stale-head-${id}` });
    expect(paths).toEqual(['read_first']);
    expect(written.view).toMatchObject({ version: 3, notesCount: 2 });
    const replay = await service.execute({ ...note(id, 'two'), idempotencyKey: `stale-head-${id}` });
    expect(replay.replayed).toBe(true);
    expect(replay.viewJson).toBe(written.viewJson);
    expect((await store.readStream(`claim-${id}`)).map((e) => e.version)).toEqual([1, 2, 3]);
    expect(await compareProjections(store)).toEqual([]);
  });

  it('many concurrent writers over few claims: every acknowledged write lands once, versions dense, projections equal a rebuild', async () => {
    const busy = new ClaimService(store, { database, batch: { concurrency: 3, maxSize: 16 }, onBatch: (size) => batches.push(size) });
    const ids = await Promise.all(Array.from({ length: 6 }, () => submit()));
    const before = await eventCount();
    const writers = Array.from({ length: 24 }, (_, w) =>
      (async () => {
        let ok = 0;
        for (let i = 0; i < 15; i++) {
          await busy.execute(note(ids[(w + i) % ids.length]!, `w${w}-${i}`, { idempotencyKey: `w${w}-${i}` }));
          ok++;
        }
        return ok;
      })(),
    );
    const written = (await Promise.all(writers)).reduce((a, b) => a + b, 0);
    expect(written).toBe(360);
    expect(Math.max(...batches)).toBeGreaterThan(1);
    expect(await eventCount()).toBe(before + 360);
    for (const id of ids) {
      const events = await store.readStream(`claim-${id}`);
      expect(events.map((e) => e.version)).toEqual(events.map((_, i) => i + 1));
      expect(new Set(events.slice(1).map((e) => (e.data as { body: string }).body)).size).toBe(events.length - 1);
    }
    expect(await compareProjections(store)).toEqual([]);
    expect((await store.verify()).ok).toBe(true);
  });
});
