import { randomUUID } from 'node:crypto';
import { CompiledQuery } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventStore, migrateToLatest, openDatabase, type Database, type EventStore } from '@claimtrail/event-store';
import { migrations } from '@claimtrail/migrations';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import type { Actor, ClaimCommand } from '@claimtrail/domain';
import { ensureUsers } from '@claimtrail/identity';
import { ClaimService, compareProjections, getClaim, listClaims } from '../src/index.ts';

/**
 * Two-person corrections through the service and its projection: the pending correction is
 * part of the stored view and card (a rebuild folds it the same way), the published rating
 * a list filters on does not move until the approval, and rows stored before the field
 * existed are brought up to date by their migration.
 */

const pg = await requirePostgres();

const fc: Actor = { id: 'fc-pc', role: 'fact_checker' };
const ed1: Actor = { id: 'ed-pc-1', role: 'editor' };
const ed2: Actor = { id: 'ed-pc-2', role: 'editor' };

for (const backend of ['pglite', 'postgres'] as const) {
  describe.skipIf(backend === 'postgres' && !pg)(`pending corrections on ${backend}`, () => {
    let testDb: TestDatabase | undefined;
    let database: Database;
    let store: EventStore;
    let service: ClaimService;
    const raw = (text: string) => database.db.executeQuery<Record<string, unknown>>(CompiledQuery.raw(text));
    const run = (claimId: string, command: ClaimCommand, actor: Actor) => service.execute({ claimId, command, actor });

    beforeAll(async () => {
      if (backend === 'postgres') testDb = await createTestDatabase('pending_correction');
      database = await openDatabase(testDb ? { databaseUrl: testDb.url } : { dataDir: 'memory://' });
      await migrateToLatest(database.db, migrations);
      await ensureUsers(database.db, [fc, ed1, ed2].map((a) => ({ id: a.id, name: a.id, role: a.role })));
      store = createEventStore(database);
      service = new ClaimService(store);
    });
    afterAll(async () => {
      await store?.close();
      await database?.close();
      await testDb?.drop();
    });

    async function published(): Promise<string> {
      const id = randomUUID();
      await run(id, { type: 'submit_claim', text: 'The Legion holds Tyotkino' }, fc);
      await run(id, { type: 'triage' }, ed1);
      await run(id, { type: 'assign', assignee: fc.id }, ed1);
      await run(id, { type: 'add_evidence', summary: 'Governor denies', stance: 'refutes' }, fc);
      await run(id, { type: 'draft_verdict', rating: 'false', rationale: 'denied' }, fc);
      await run(id, { type: 'submit_for_review' }, fc);
      await run(id, { type: 'publish' }, ed1);
      return id;
    }

    it('stores the pending correction in view and card; the published rating moves only on approval; rebuild equals live', async () => {
      const id = await published();
      await run(id, { type: 'correct', note: 'new footage', rating: 'true' }, ed1);
      const pending = await getClaim(database.db, id);
      expect(pending).toMatchObject({
        state: 'published',
        publishedVerdict: { rating: 'false', corrections: [] },
        pendingCorrection: { rating: 'true', note: 'new footage', proposedBy: ed1.id },
      });
      const card = (await raw(`select card::text as card from claims where id = '${id}'`)).rows[0]!.card as string;
      expect(JSON.parse(card)).toMatchObject({ pendingCorrection: { rating: 'true' } });
      expect((await listClaims(database.db, { rating: 'false' })).items.map((c) => c.id)).toContain(id);
      expect((await listClaims(database.db, { rating: 'true' })).items.map((c) => c.id)).not.toContain(id);
      expect(await compareProjections(store)).toEqual([]);

      await run(id, { type: 'approve_correction', correctionId: pending!.pendingCorrection!.id }, ed2);
      const approved = await getClaim(database.db, id);
      expect(approved).toMatchObject({ publishedVerdict: { rating: 'true' }, pendingCorrection: null });
      expect(approved!.publishedVerdict!.corrections).toEqual([
        expect.objectContaining({ rating: 'true', previousRating: 'false', proposedBy: ed1.id, correctedBy: ed2.id }),
      ]);
      expect((await listClaims(database.db, { rating: 'true' })).items.map((c) => c.id)).toContain(id);
      expect(await compareProjections(store)).toEqual([]);
    });

    it('migration 0012 gives rows stored before two-person corrections the fields a rebuild writes', async () => {
      const withCorrection = await published();
      await run(withCorrection, { type: 'correct', note: 'typo in the note' }, ed2);
      const plain = randomUUID();
      await run(plain, { type: 'submit_claim', text: 'Six tanks destroyed' }, fc);
      // As a service without the fields stored them: no pendingCorrection, corrections without proposedBy.
      for (const column of ['view', 'card']) {
        await raw(`
          update claims set ${column} = (case
            when jsonb_typeof(${column}::jsonb -> 'publishedVerdict') = 'object' then jsonb_set(${column}::jsonb,
              '{publishedVerdict,corrections}',
              (select coalesce(jsonb_agg(c - 'proposedBy'), '[]'::jsonb)
                 from jsonb_array_elements(${column}::jsonb -> 'publishedVerdict' -> 'corrections') c))
            else ${column}::jsonb end - 'pendingCorrection')::json
          where id in ('${withCorrection}', '${plain}')`);
      }
      const stale = await getClaim(database.db, withCorrection);
      expect(stale).not.toHaveProperty('pendingCorrection');
      expect(stale!.publishedVerdict!.corrections[0]).not.toHaveProperty('proposedBy');
      const before = await compareProjections(store);
      expect(before.map((d) => d.claimId).sort()).toEqual([withCorrection, plain].sort());

      await migrations['0012_claims_pending_correction']!.up(database.db);
      expect(await compareProjections(store)).toEqual([]);
      expect(await getClaim(database.db, withCorrection)).toMatchObject({
        pendingCorrection: null,
        publishedVerdict: { corrections: [expect.objectContaining({ note: 'typo in the note', proposedBy: null, correctedBy: ed2.id })] },
      });
      // A write loads such a row back as a state (stateFromView) and keeps working.
      await run(withCorrection, { type: 'correct', note: 'rate it mixed', rating: 'mixed' }, ed2);
      expect(await getClaim(database.db, withCorrection)).toMatchObject({ pendingCorrection: { rating: 'mixed', proposedBy: ed2.id } });
      expect(await compareProjections(store)).toEqual([]);
    });
  });
}
