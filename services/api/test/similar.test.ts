import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedClaimId } from '@claimtrail/seeds';
import { call, createClaim, startApp, type TestApp } from './helpers.ts';

/**
 * Duplicate suggestions over the seed case: the claims naming the village in each of its
 * spellings (the seed's Tyotkino and Tetkino claims, and a Tjotkino and a Тёткино claim
 * submitted here as a desk would) rank each other above every claim that does not name it.
 */
const HOLDS = seedClaimId('legion-holds-tyotkino');
const BELGOROD = seedClaimId('tyotkino-in-belgorod-region');
const TETKINO_MERGED = seedClaimId('legion-controls-tetkino');
/**
 * "Russian volunteer units … have taken control of the village of Lozova Rudka in Russia's
 * Belgorod region": the same wording as the Belgorod claim and the merged Tetkino claim but
 * another village. It may rank among the village claims; no other claim may.
 */
const LOZOVA = seedClaimId('lozova-rudka-taken');
const nearWording = (item: { claim: { id: string } }) => item.claim.id === LOZOVA;

async function similar(t: TestApp, id: string, headers = t.as.auditor, query = '') {
  return call(t.app, { method: 'GET', url: `/claims/${id}/similar${query}`, headers });
}

type Item = { claim: { id: string; text: string }; score: number };

/**
 * The other village claims (the merged one is no candidate) come first, except claims
 * `alsoNear` lets through: those may rank among them.
 */
function villageRanksFirst(items: Item[], village: Set<string>, self: string, alsoNear: (item: Item) => boolean = () => false) {
  const expected = [...village].filter((id) => id !== self && id !== TETKINO_MERGED);
  const ranked = items.filter((i) => !alsoNear(i) || village.has(i.claim.id));
  const detail = JSON.stringify(items.map((i) => [i.claim.text.slice(0, 40), i.score]));
  expect(new Set(ranked.slice(0, expected.length).map((i) => i.claim.id)), detail).toEqual(new Set(expected));
  for (let i = 1; i < items.length; i++) expect(items[i - 1]!.score).toBeGreaterThanOrEqual(items[i]!.score);
}

for (const mode of ['postgres', 'pglite'] as const) {
  describe(`GET /claims/:id/similar (${mode})`, () => {
    let t: TestApp;
    let tjotkino: string;
    let cyrillic: string;
    const village = new Set<string>();

    beforeAll(async () => {
      t = await startApp({ seed: true, postgres: mode === 'postgres' });
      tjotkino = (
        await createClaim(t, t.as.fact_checker, {
          text: 'The Legion says its fighters hold Tjotkino, a border village in the Kursk region.',
          claimant: 'Freedom of Russia Legion',
          tags: ['legion'],
          appearances: [{ outlet: 'Baza', title: 'Fighting near Tjotkino', excerpt: 'Tjotkino was attacked at dawn' }],
        })
      ).id;
      cyrillic = (
        await createClaim(t, t.as.fact_checker, {
          text: 'The Freedom of Russia Legion says it captured and holds the village of Тёткино in the Kursk region.',
          claimant: 'Легион «Свобода России»',
          tags: [],
        })
      ).id;
      for (const id of [HOLDS, BELGOROD, TETKINO_MERGED, tjotkino, cyrillic]) village.add(id);
    }, 120_000);
    afterAll(async () => t?.close());

    it('ranks the claims naming the village in any spelling above every other claim', async () => {
      for (const self of [HOLDS, tjotkino, cyrillic]) {
        const response = await similar(t, self);
        expect(response.statusCode, response.body).toBe(200);
        villageRanksFirst(response.json.items, village, self);
      }
    });

    it('ranks them first for the Belgorod and the merged Tetkino claim too, beside the one claim of the same wording', async () => {
      for (const self of [BELGOROD, TETKINO_MERGED]) {
        const response = await similar(t, self);
        expect(response.statusCode, response.body).toBe(200);
        villageRanksFirst(response.json.items, village, self, nearWording);
      }
    });

    it('suggests only open and published claims, never the claim itself', async () => {
      const response = await similar(t, HOLDS, t.as.fact_checker, '?limit=50');
      expect(response.statusCode).toBe(200);
      for (const item of response.json.items as { claim: { id: string; state: string } }[]) {
        expect(item.claim.id).not.toBe(HOLDS);
        expect(['submitted', 'triaged', 'in_research', 'in_review', 'published']).toContain(item.claim.state);
      }
      expect(response.json.items.map((i: { claim: { id: string } }) => i.claim.id)).not.toContain(TETKINO_MERGED);
    });

    it('leaves a claim with nothing near it without suggestions', async () => {
      const lonely = await createClaim(t, t.as.fact_checker, { text: 'Zebras quietly qualify quantum xylophones.', tags: [] });
      const response = await similar(t, lonely.id);
      expect(response.statusCode).toBe(200);
      expect(response.json.items).toEqual([]);
    });

    it('answers 401 without a token, 404 for unknown or malformed ids, 400 for a bad limit', async () => {
      expect((await call(t.app, { method: 'GET', url: `/claims/${HOLDS}/similar` })).statusCode).toBe(401);
      const unknown = await similar(t, '00000000-0000-4000-8000-000000000000');
      expect(unknown.statusCode).toBe(404);
      expect(unknown.headers['content-type']).toMatch(/application\/problem\+json/);
      expect((await similar(t, 'not-a-uuid')).statusCode).toBe(404);
      for (const q of ['?limit=0', '?limit=51', '?limit=abc', '?limit=1.5', '?other=1']) {
        const bad = await similar(t, HOLDS, t.as.auditor, q);
        expect(bad.statusCode, q).toBe(400);
        expect(bad.headers['content-type']).toMatch(/application\/problem\+json/);
      }
    });
  });
}
