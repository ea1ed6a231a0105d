import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore, migrateToLatest, openDatabase, type Database, type EventStore } from '@claimtrail/event-store';
import { migrations } from '@claimtrail/migrations';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { initialClaimState, toClaimView, type Actor } from '@claimtrail/domain';
import {
  ClaimService,
  CommandError,
  compareProjections,
  decodeCursor,
  encodeCursor,
  getClaim,
  listClaims,
  searchDocument,
  toClaimCard,
} from '../src/index.ts';

const pg = await requirePostgres();

const fc: Actor = { id: 'fc-1', role: 'fact_checker' };
const ed: Actor = { id: 'ed-1', role: 'editor' };

async function refusal(promise: Promise<unknown>): Promise<CommandError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof CommandError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

// 'merged': the service gets the database, so on PostgreSQL BEGIN and COMMIT travel with
// the first and last statements of a write (as in the API service). 'batched': group
// commit (the default) or every command in its own transaction (also the fallback path).
for (const [backend, merged, batched] of [
  ['pglite', false, true],
  ['postgres', false, true],
  ['postgres', true, true],
  ['postgres', true, false],
] as const) {
  describe.skipIf(backend === 'postgres' && !pg)(`ClaimService on ${backend}${merged ? ' (BEGIN/COMMIT merged)' : ''}${batched ? '' : ' (no group commit)'}`, () => {
    let testDb: TestDatabase | undefined;
    let database: Database;
    let store: EventStore;
    let service: ClaimService;
    const count = async () => Number((await database.db.selectFrom('events').select((eb) => eb.fn.countAll<string>().as('n')).execute())[0]!.n);

    beforeAll(async () => {
      if (backend === 'postgres') testDb = await createTestDatabase('claims');
      database = await openDatabase(testDb ? { databaseUrl: testDb.url } : { dataDir: 'memory://' });
      await migrateToLatest(database.db, migrations);
      store = createEventStore(database);
      // Three batches in flight when merged (the library's default on 2 cores is one): the
      // tests keep exercising batches that race each other.
      service = new ClaimService(store, { ...(merged ? { database } : {}), ...(batched ? (merged ? { batch: { concurrency: 3 } } : {}) : { batch: false }) });
    });
    afterAll(async () => {
      await store?.close();
      await database?.close();
      await testDb?.drop();
    });

    it('appends and projects in one transaction; the projection equals the fold', async () => {
      const id = randomUUID();
      const created = await service.execute({ claimId: id, command: { type: 'submit_claim', text: 'The Legion holds Tyotkino' }, actor: fc });
      expect(created).toMatchObject({ replayed: false, view: { id, state: 'submitted', version: 1 } });
      expect(created.events).toHaveLength(1);
      await service.execute({ claimId: id, command: { type: 'triage' }, actor: ed });
      await service.execute({ claimId: id, command: { type: 'add_note', body: 'n' }, actor: fc });
      expect(await getClaim(database.db, id)).toMatchObject({ state: 'triaged', version: 3, notesCount: 1 });
      expect(await compareProjections(store)).toEqual([]);
    });

    it('refuses with the domain code and appends nothing', async () => {
      const id = randomUUID();
      await service.execute({ claimId: id, command: { type: 'submit_claim', text: 'x' }, actor: fc });
      const before = await count();
      expect((await refusal(service.execute({ claimId: id, command: { type: 'triage' }, actor: fc }))).code).toBe('forbidden_role');
      expect((await refusal(service.execute({ claimId: id, command: { type: 'publish' }, actor: ed }))).code).toBe('illegal_transition');
      expect((await refusal(service.execute({ claimId: randomUUID(), command: { type: 'triage' }, actor: ed }))).code).toBe('not_found');
      expect((await refusal(service.execute({ claimId: 'nope', command: { type: 'triage' }, actor: ed }))).code).toBe('not_found');
      const stale = await refusal(service.execute({ claimId: id, command: { type: 'triage' }, actor: ed, expectedVersion: 7 }));
      expect(stale).toMatchObject({ code: 'precondition_failed', currentVersion: 1 });
      const invalid = await refusal(service.execute({ claimId: id, command: { type: 'reject', reason: ' ' }, actor: ed }));
      expect(invalid).toMatchObject({ code: 'validation', field: 'reason' });
      expect(await count()).toBe(before);
    });

    it('idempotency keys: per user, same request → stored answer, different → idempotency_key_reuse', async () => {
      const id = randomUUID();
      const input = { claimId: id, command: { type: 'submit_claim' as const, text: 'once' }, actor: fc, idempotencyKey: 'k1' };
      const first = await service.execute(input);
      const before = await count();
      const again = await service.execute({ ...input, claimId: randomUUID() });
      expect(again.replayed).toBe(true);
      expect(again.view).toEqual(first.view);
      expect(again.events).toEqual([]);
      expect(await count()).toBe(before);
      const reuse = await refusal(service.execute({ ...input, command: { type: 'submit_claim', text: 'twice' } }));
      expect(reuse.code).toBe('idempotency_key_reuse');
      // The refused reuse left the key to its request: that one still replays, the other is still refused.
      const third = await service.execute({ ...input, claimId: randomUUID() });
      expect(third).toMatchObject({ replayed: true, view: first.view });
      expect((await refusal(service.execute({ ...input, command: { type: 'submit_claim', text: 'twice' } }))).code).toBe('idempotency_key_reuse');
      expect(await count()).toBe(before);
      // A refused command does not burn its key: the same key works once the request is valid.
      const bad = await refusal(service.execute({ claimId: id, command: { type: 'triage' }, actor: fc, idempotencyKey: 'k2' }));
      expect(bad.code).toBe('forbidden_role');
      const other = await service.execute({ ...input, claimId: randomUUID(), actor: ed });
      expect(other.replayed).toBe(false);
    });

    it('merge names claims in one spelling: its own id in upper case is refused, a target in upper case is recorded in lower case', async () => {
      const id = randomUUID();
      const target = randomUUID();
      await service.execute({ claimId: id, command: { type: 'submit_claim', text: 'the duplicate' }, actor: fc });
      await service.execute({ claimId: target, command: { type: 'submit_claim', text: 'the original' }, actor: fc });
      const before = await count();
      const self = await refusal(service.execute({ claimId: id.toUpperCase(), command: { type: 'merge', into: id.toUpperCase() }, actor: ed }));
      expect(self).toMatchObject({ code: 'validation', field: 'into' });
      expect(await count()).toBe(before);
      const merged = await service.execute({ claimId: id, command: { type: 'merge', into: target.toUpperCase() }, actor: ed });
      expect(merged.view.mergedInto).toBe(target);
      expect((await store.readStream(`claim-${id}`)).at(-1)!.data).toMatchObject({ into: target });
    });

    it('concurrent writers on one claim: all land, versions dense', async () => {
      const id = randomUUID();
      await service.execute({ claimId: id, command: { type: 'submit_claim', text: 'race' }, actor: fc });
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) => service.execute({ claimId: id, command: { type: 'add_note', body: `n${i}` }, actor: fc })),
      );
      expect(results.map((r) => r.view.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 2));
      expect((await store.readStream(`claim-${id}`)).map((e) => e.version)).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
    });

    it('recovers when the projection lags the stream (events written around the service)', async () => {
      const id = randomUUID();
      await service.execute({ claimId: id, command: { type: 'submit_claim', text: 'lagging' }, actor: fc });
      await store.append(`claim-${id}`, [{ type: 'NoteAdded', data: { noteId: 'x1', body: 'outside' }, metadata: { actor: 'fc-1' } }], { expectedVersion: 1 });
      const result = await service.execute({ claimId: id, command: { type: 'add_note', body: 'inside' }, actor: fc });
      expect(result.view).toMatchObject({ version: 3, notesCount: 2 });
    });

    it('lists with keyset pagination', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const id = randomUUID();
        ids.push(id);
        await service.execute({ claimId: id, command: { type: 'submit_claim', text: `paged ${i}`, tags: ['paged'] }, actor: fc });
      }
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await listClaims(database.db, { tag: 'paged', limit: 2, ...(cursor ? { cursor } : {}) });
        seen.push(...page.items.map((v) => v.id));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect(seen).toEqual([...ids].reverse());
    });
  });
}

describe('pure helpers', () => {
  it('cursor round trip; foreign cursors are validation errors', () => {
    const id = randomUUID();
    expect(decodeCursor(encodeCursor('2024-03-12T10:00:00.123456Z', id))).toEqual({ createdAt: '2024-03-12T10:00:00.123456Z', id });
    for (const bad of ['', 'x', 'eyJzIjoiMSJ9', Buffer.from('{"c":"2024","i":"x"}').toString('base64url')]) {
      expect(() => decodeCursor(bad)).toThrow(CommandError);
    }
  });

  it('indexes every spelling of the village under all of them', () => {
    const view = { text: 'Fighting near Tetkino', claimant: null, tags: [], appearances: [], evidence: [] } as never;
    expect(searchDocument(view).secondary).toContain('tyotkino');
  });

  it('a card drops the long lists and keeps their counts', () => {
    const card = toClaimCard({ id: 'x', notes: [{}], evidence: [{}, {}], appearances: [], notesCount: 1 } as never);
    expect(card).toEqual({ id: 'x', notesCount: 1, evidenceCount: 2, appearancesCount: 0, pendingCorrection: null });
  });

  it("a card's JSON is the view's JSON without the lists, keys in the view's order, counts last", () => {
    const view = toClaimView({
      ...initialClaimState,
      id: 'c-1',
      status: 'in_review',
      text: 'claim',
      tags: ['t'],
      notes: [{ id: 'n', body: 'b', author: 'a', at: '2024-01-01T00:00:00.000Z' }],
      version: 3,
      createdAt: '2024-01-01T00:00:00.000Z',
      createdBy: 'a',
    } as never);
    const { notes: _n, evidence, appearances, ...rest } = view;
    expect(JSON.stringify(toClaimCard(view))).toBe(JSON.stringify({ ...rest, evidenceCount: evidence.length, appearancesCount: appearances.length }));
  });
});
