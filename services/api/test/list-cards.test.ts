/**
 * `GET /claims?view=card`: the same page as the default (claim views, as Contract v1's
 * ClaimList says) with board cards as items; and the board's paging, on both backends
 * (PostgreSQL and the embedded PGlite, whose SQL must run the same statements).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { call, createClaim, must, startApp, type TestApp } from './helpers.ts';

const pg = await requirePostgres();

for (const backend of ['postgres', 'pglite'] as const) {
  describe.skipIf(backend === 'postgres' && !pg)(`view=card and board pages (${backend})`, () => {
    let t: TestApp;
    let ids: string[];

    beforeAll(async () => {
      t = await startApp({ postgres: backend === 'postgres' });
      ids = [];
      for (let i = 0; i < 5; i++) {
        const claim = await createClaim(t, t.as.fact_checker, { text: `A card claim number ${i} about the ferry`, tags: ['ferry'] });
        await must(t, claim.id, 'notes', t.as.fact_checker, { body: `note on ${i}` });
        ids.push(claim.id);
      }
    }, 180_000);
    afterAll(async () => {
      await t?.close();
    });

    it('items are views by default and with view=full, cards with view=card: same claims, same order, same cursor', async () => {
      const full = await call(t.app, { method: 'GET', url: '/claims?tag=ferry&limit=3', headers: t.as.editor });
      const explicit = await call(t.app, { method: 'GET', url: '/claims?tag=ferry&limit=3&view=full', headers: t.as.editor });
      const cards = await call(t.app, { method: 'GET', url: '/claims?tag=ferry&limit=3&view=card', headers: t.as.editor });
      for (const res of [full, explicit, cards]) expect(res.statusCode, res.body).toBe(200);
      expect(explicit.json).toEqual(full.json);
      expect(cards.json.items.map((c: { id: string }) => c.id)).toEqual(full.json.items.map((v: { id: string }) => v.id));
      expect(cards.json.nextCursor).toBe(full.json.nextCursor);
      for (const view of full.json.items) expect(view.notes).toHaveLength(1);
      for (const card of cards.json.items) {
        expect(card).toMatchObject({ notesCount: 1, evidenceCount: 0, appearancesCount: 0, tags: ['ferry'] });
        expect(card).not.toHaveProperty('notes');
        expect(card).not.toHaveProperty('evidence');
        expect(card).not.toHaveProperty('appearances');
      }
      // The next page of cards continues where the first ended.
      const next = await call(t.app, { method: 'GET', url: `/claims?tag=ferry&limit=3&view=card&cursor=${cards.json.nextCursor}`, headers: t.as.editor });
      expect(next.json.items.map((c: { id: string }) => c.id)).toEqual([ids[1], ids[0]]);
      const search = await call(t.app, { method: 'GET', url: '/claims?q=ferry&view=card', headers: t.as.editor });
      expect(search.json.items).toHaveLength(5);
    });

    it('view= other than full or card is a 400 naming it', async () => {
      const res = await call(t.app, { method: 'GET', url: '/claims?view=everything', headers: t.as.editor });
      expect(res.statusCode).toBe(400);
      expect(res.body).toContain('view');
    });

    it('the board pages a column to its end with exact counts', async () => {
      const first = await call(t.app, { method: 'GET', url: '/board?limit=2&state=submitted', headers: t.as.editor });
      expect(first.statusCode, first.body).toBe(200);
      const seen: string[] = first.json.states[0].claims.map((c: { id: string }) => c.id);
      expect(first.json.states[0].count).toBe(5);
      let cursor: string | null = first.json.states[0].nextCursor;
      while (cursor !== null) {
        const page = await call(t.app, { method: 'GET', url: `/board?limit=2&state=submitted&cursor=${cursor}`, headers: t.as.editor });
        expect(page.json.states[0].count).toBe(5);
        seen.push(...page.json.states[0].claims.map((c: { id: string }) => c.id));
        cursor = page.json.states[0].nextCursor;
      }
      // Most recently changed first: the last claim noted comes first.
      expect(seen).toEqual([...ids].reverse());
    });
  });
}
