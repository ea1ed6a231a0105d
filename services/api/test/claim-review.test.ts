/**
 * GET /claims/:id/claim-review and GET /claim-reviews over HTTP on a real PostgreSQL:
 * the JSON-LD is expanded with `jsonld` against the schema.org context shipped in
 * fixtures/ (offline) and checked for Google's required and recommended fields.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RATINGS, type Rating } from '@claimtrail/domain';
import { SEED_CLAIMS, runSeed } from '@claimtrail/seeds';
import { requirePostgres } from '@claimtrail/testing';
import { call, must, startApp, type TestApp } from './helpers.ts';
import { claimReviewProblems, expandClaimReview, literal, nodeOf } from './fixtures/schema-org.ts';

const pg = await requirePostgres();

const claimBody = {
  text:
    'The Freedom of Russia Legion says its fighters have taken full control of the village of Tyotkino in the Kursk region, ' +
    'and that Russian forces retreated from the border area after a night of heavy fighting on 12 March 2024, according to ' +
    'statements posted by the Legion and repeated by several outlets in the following hours.',
  claimant: 'Freedom of Russia Legion',
  language: 'en',
  tags: ['kursk'],
  appearances: [
    { url: 'https://example.org/later', outlet: 'Later Outlet', title: 'Legion claims Tyotkino', publishedAt: '2024-03-12T18:00:00Z' },
    { url: 'https://example.org/first', outlet: 'First Outlet', title: 'Raid across the border', publishedAt: '2024-03-12T07:30:00Z' },
  ],
};

async function publishedClaim(t: TestApp, rating: Rating = 'false'): Promise<string> {
  const created = await call(t.app, { method: 'POST', url: '/claims', headers: t.as.fact_checker, payload: claimBody });
  expect(created.statusCode).toBe(201);
  const id = created.json.id as string;
  await must(t, id, 'triage', t.as.editor);
  await must(t, id, 'assign', t.as.editor, { assignee: 'demo-fact-checker' });
  await must(t, id, 'evidence', t.as.fact_checker, { summary: 'The Kursk governor denies it', stance: 'refutes', url: 'https://example.org/governor' });
  await must(t, id, 'verdict', t.as.fact_checker, { rating, rationale: 'No independent confirmation; the governor and the FSB deny it.' });
  await must(t, id, 'submit', t.as.fact_checker);
  await must(t, id, 'publish', t.as.editor);
  return id;
}

describe.skipIf(!pg)('ClaimReview over HTTP', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startApp({ config: { orgName: 'Test Desk', orgUrl: 'https://desk.example/', publicUrl: 'https://api.example' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('404 not_found for an unknown claim, 404 not_published before publication (problem+json)', async () => {
    const unknown = await call(t.app, { url: '/claims/00000000-0000-4000-8000-000000000000/claim-review', headers: t.as.auditor });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(unknown.json.code).toBe('not_found');

    const created = await call(t.app, { method: 'POST', url: '/claims', headers: t.as.fact_checker, payload: claimBody });
    const early = await call(t.app, { url: `/claims/${created.json.id}/claim-review`, headers: t.as.auditor });
    expect(early.statusCode).toBe(404);
    expect(early.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(early.json.code).toBe('not_published');
  });

  it('401 without a token', async () => {
    const id = await publishedClaim(t);
    const anonymous = await call(t.app, { url: `/claims/${id}/claim-review` });
    expect(anonymous.statusCode).toBe(401);
  });

  it('a published verdict is a valid ClaimReview, readable by every role', async () => {
    const id = await publishedClaim(t, 'false');
    for (const role of ['auditor', 'fact_checker', 'editor', 'admin'] as const) {
      const r = await call(t.app, { url: `/claims/${id}/claim-review`, headers: t.as[role] });
      expect(r.statusCode).toBe(200);
    }
    const response = await call(t.app, { url: `/claims/${id}/claim-review`, headers: t.as.auditor });
    expect(response.headers['content-type']).toMatch(/^application\/ld\+json/);
    const doc = response.json;
    expect(doc.url).toBe(`https://api.example/claims/${id}/claim-review`);
    expect(doc.author).toMatchObject({ '@type': 'Organization', name: 'Test Desk', url: 'https://desk.example/' });
    expect(doc.claimReviewed.length).toBeLessThanOrEqual(280);
    expect(doc.claimReviewed.endsWith('…')).toBe(true);
    expect(doc.itemReviewed.author).toEqual({ '@type': 'Organization', name: 'Freedom of Russia Legion' });
    expect(doc.itemReviewed.datePublished).toBe('2024-03-12T07:30:00.000Z');
    expect(doc.itemReviewed.firstAppearance).toMatchObject({ url: 'https://example.org/first', headline: 'Raid across the border' });
    expect(doc.itemReviewed.appearance).toHaveLength(2);
    expect(doc.dateModified).toBeUndefined();

    const expanded = await expandClaimReview(doc);
    expect(claimReviewProblems(expanded, RATINGS.false.alternateName)).toEqual([]);
  });

  it('a correction updates the rating and sets dateModified once approved; a pending one is not public', async () => {
    const id = await publishedClaim(t, 'false');
    const before = (await call(t.app, { url: `/claims/${id}/claim-review`, headers: t.as.auditor })).json;
    const proposed = await must(t, id, 'correct', t.as.editor, {
      note: 'New footage shows partial control',
      rating: 'mostly_false',
      rationale: 'Partly confirmed by footage.',
    });
    const pending = await call(t.app, { url: `/claims/${id}/claim-review`, headers: t.as.auditor });
    expect(pending.json).toEqual(before);
    await must(t, id, 'approve-correction', t.as.admin, { correctionId: proposed.pendingCorrection.id });
    const after = await call(t.app, { url: `/claims/${id}/claim-review`, headers: t.as.auditor });
    expect(after.statusCode).toBe(200);
    const doc = after.json;
    expect(doc.reviewRating.alternateName).toBe(RATINGS.mostly_false.alternateName);
    expect(doc.reviewRating.ratingValue).toBe(RATINGS.mostly_false.ratingValue);
    expect(doc.datePublished).toBe(before.datePublished);
    expect(typeof doc.dateModified).toBe('string');
    expect(Date.parse(doc.dateModified)).toBeGreaterThanOrEqual(Date.parse(doc.datePublished));
    const expanded = await expandClaimReview(doc);
    expect(claimReviewProblems(expanded, RATINGS.mostly_false.alternateName)).toEqual([]);
    expect(literal(expanded[0], 'dateModified')).toBe(doc.dateModified);
  });

  it('reopened → 404 not_published; retracted → 410 retracted', async () => {
    const reopened = await publishedClaim(t);
    await must(t, reopened, 'reopen', t.as.editor, { reason: 'new evidence' });
    const r1 = await call(t.app, { url: `/claims/${reopened}/claim-review`, headers: t.as.auditor });
    expect(r1.statusCode).toBe(404);
    expect(r1.json.code).toBe('not_published');

    const retracted = await publishedClaim(t);
    await must(t, retracted, 'retract', t.as.editor, { reason: 'sourcing error' });
    const r2 = await call(t.app, { url: `/claims/${retracted}/claim-review`, headers: t.as.auditor });
    expect(r2.statusCode).toBe(410);
    expect(r2.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(r2.json.code).toBe('retracted');
  });

  it('GET /claim-reviews lists every published one, paginated', async () => {
    const a = await publishedClaim(t, 'mixed');
    const b = await publishedClaim(t, 'unverifiable');
    const seen = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await call(t.app, {
        url: `/claim-reviews?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        headers: t.as.auditor,
      });
      expect(r.statusCode).toBe(200);
      expect(r.json.items.length).toBeLessThanOrEqual(2);
      for (const item of r.json.items) {
        expect(item['@type']).toBe('ClaimReview');
        expect(seen.has(item.url), JSON.stringify({ cursor, url: item.url, seen: [...seen] })).toBe(false);
        seen.add(item.url);
        expect(claimReviewProblems(await expandClaimReview(item))).toEqual([]);
      }
      cursor = r.json.nextCursor;
      pages++;
    } while (cursor && pages < 50);
    expect(seen.has(`https://api.example/claims/${a}/claim-review`)).toBe(true);
    expect(seen.has(`https://api.example/claims/${b}/claim-review`)).toBe(true);
    const published = await call(t.app, { url: '/claims?state=published&limit=100', headers: t.as.auditor });
    expect(seen.size).toBe(published.json.items.length);
  });
});

describe.skipIf(!pg)('ClaimReview of the seeded case', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp({ config: { publicUrl: 'https://api.example' } });
    await runSeed((input) => t.app.claims.execute(input));
  });
  afterAll(async () => {
    await t?.close();
  });

  it('every published seed claim has a ClaimReview with Google\'s required and recommended fields', async () => {
    const published = SEED_CLAIMS.filter((c) => c.expected.state === 'published');
    expect(published.length).toBeGreaterThan(0);
    for (const claim of published) {
      const response = await call(t.app, { url: `/claims/${claim.id}/claim-review`, headers: t.as.auditor });
      expect(response.statusCode, claim.slug).toBe(200);
      const view = (await call(t.app, { url: `/claims/${claim.id}`, headers: t.as.auditor })).json;
      const rating = view.publishedVerdict.rating as Rating;
      const expanded = await expandClaimReview(response.json);
      expect(claimReviewProblems(expanded, RATINGS[rating].alternateName), claim.slug).toEqual([]);
      const rr = nodeOf(expanded[0], 'reviewRating');
      expect(Number(literal(rr, 'ratingValue'))).toBe(RATINGS[rating].ratingValue);
    }
    // Seed claims in other states have none.
    for (const claim of SEED_CLAIMS.filter((c) => c.expected.state !== 'published')) {
      const response = await call(t.app, { url: `/claims/${claim.id}/claim-review`, headers: t.as.auditor });
      expect([404, 410], claim.slug).toContain(response.statusCode);
      expect(response.json.code, claim.slug).toBe(claim.expected.state === 'retracted' ? 'retracted' : 'not_published');
    }
  });
});
