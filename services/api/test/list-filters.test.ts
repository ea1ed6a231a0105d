import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { CLAIM_STATUSES, RATING_NAMES } from '@claimtrail/domain';
import { rebuildProjections } from '@claimtrail/claims';
import { migrations } from '@claimtrail/migrations';
import { call, claimIn, must, startApp, type TestApp } from './helpers.ts';

const pg = await requirePostgres();

type View = { id: string; state: string; assignee: string | null };

describe.skipIf(!pg)('GET /claims filters: published rating, draft rating, several states, assignee=me', () => {
  let t: TestApp;
  /** Claims in every situation a rating filter must tell apart (each drafted "false" by the demo fact-checker). */
  const claims = {} as Record<'drafted' | 'inReview' | 'published' | 'reopened' | 'retracted' | 'triaged', string>;

  async function list(query: string, headers = t.as.auditor): Promise<{ items: View[]; nextCursor: string | null }> {
    const response = await call(t.app, { method: 'GET', url: `/claims?${query}`, headers });
    expect(response.statusCode, `${query}: ${response.body}`).toBe(200);
    return response.json;
  }

  /** Every page of the query, one claim per page (keyset pagination over the filter). */
  async function walk(query: string, headers = t.as.auditor): Promise<string[]> {
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await list(`${query}&limit=1${cursor ? `&cursor=${cursor}` : ''}`, headers);
      ids.push(...page.items.map((v) => v.id));
      cursor = page.nextCursor;
    } while (cursor !== null);
    return ids;
  }

  beforeAll(async () => {
    t = await startApp();
    claims.triaged = await claimIn(t, 'triaged');
    claims.drafted = await claimIn(t, 'drafted');
    claims.inReview = await claimIn(t, 'in_review');
    claims.published = await claimIn(t, 'published');
    claims.reopened = await claimIn(t, 'published');
    await must(t, claims.reopened, 'reopen', t.as.editor, { reason: 'new footage' });
    claims.retracted = await claimIn(t, 'retracted');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('rating= is the published verdict readers see: not a draft, not a reopened or retracted verdict', async () => {
    expect(await walk('rating=false')).toEqual([claims.published]);
    for (const rating of RATING_NAMES.filter((r) => r !== 'false')) expect(await walk(`rating=${rating}`), rating).toEqual([]);
  });

  it('draftRating= finds the verdicts being drafted, a reopened one included, in list order', async () => {
    expect(await walk('draftRating=false')).toEqual([claims.reopened, claims.inReview, claims.drafted]);
    expect(await walk('draftRating=false&state=in_research')).toEqual([claims.reopened, claims.drafted]);
    expect(await walk('draftRating=true')).toEqual([]);
  });

  it('state= takes several states, repeated or comma-separated, and pages through them', async () => {
    const expected = [claims.retracted, claims.published, claims.inReview];
    expect(await walk('state=in_review&state=published&state=retracted')).toEqual(expected);
    expect(await walk('state=in_review,published,retracted')).toEqual(expected);
    expect(await walk('state=in_review,published&state=retracted')).toEqual(expected);
    expect(await walk('state=published,published')).toEqual([claims.published]);
    expect(await walk('state=triaged')).toEqual([claims.triaged]);
    expect(await walk(`state=${CLAIM_STATUSES.join(',')}`)).toEqual(await walk(''));
  });

  it('assignee=me is the caller: the fact-checker sees their claims, others theirs (none here)', async () => {
    const me = (await call(t.app, { method: 'GET', url: '/me', headers: t.as.fact_checker })).json as { id: string };
    const mine = await walk(`assignee=${encodeURIComponent(me.id)}`);
    expect(mine).toEqual([claims.retracted, claims.reopened, claims.published, claims.inReview, claims.drafted]);
    expect(await walk('assignee=me', t.as.fact_checker)).toEqual(mine);
    expect(await walk('assignee=me&state=in_research', t.as.fact_checker)).toEqual([claims.reopened, claims.drafted]);
    expect(await walk('assignee=me', t.as.editor)).toEqual([]);
    const other = await t.newUser('fact_checker');
    await must(t, claims.triaged, 'assign', t.as.editor, { assignee: other.id });
    expect(await walk('assignee=me', other.headers)).toEqual([claims.triaged]);
    expect(await walk('assignee=me', t.as.fact_checker)).toEqual(mine);
  });

  it('refuses bad values with 400 naming the parameter and listing the values it takes', async () => {
    const statesListed = (detail: string) => CLAIM_STATUSES.every((s) => detail.includes(s));
    const ratingsListed = (detail: string) => RATING_NAMES.every((r) => detail.includes(r));
    for (const [query, field, lists] of [
      ['state=done', 'state', statesListed],
      ['state=published,done', 'state', statesListed],
      ['state=published&state=done', 'state', statesListed],
      ['state=Published', 'state', statesListed],
      ['state=', 'state', statesListed],
      ['state=published,', 'state', statesListed],
      ['rating=great', 'rating', ratingsListed],
      ['rating=false,true', 'rating', ratingsListed],
      ['draftRating=great', 'draftRating', ratingsListed],
      ['draft_rating=false', 'draft_rating', () => true],
    ] as const) {
      const response = await call(t.app, { method: 'GET', url: `/claims?${query}`, headers: t.as.auditor });
      expect(response.statusCode, query).toBe(400);
      expect(response.headers['content-type'], query).toMatch(/^application\/problem\+json/);
      expect(response.json.code, query).toBe('validation');
      expect(response.json.field, query).toBe(field);
      expect(lists(response.json.detail as string), `${query}: ${response.json.detail}`).toBe(true);
    }
  });

  it('the rebuilt projection equals the live one, and migration 0011 derives the same columns from the views', async () => {
    const compared = await rebuildProjections(t.app.store, { mode: 'compare' });
    expect(compared.diffs).toEqual([]);
    // Back to the former columns and forward again: the migration's SQL fills rating and
    // draft_rating from the stored views exactly as the writers do.
    const migration = migrations['0011_claims_published_rating']!;
    await migration.down!(t.app.database.db);
    await migration.up(t.app.database.db);
    const again = await rebuildProjections(t.app.store, { mode: 'compare' });
    expect(again.diffs).toEqual([]);
    expect(again.claims).toBe(6);
    expect(await walk('rating=false')).toEqual([claims.published]);
    expect(await walk('draftRating=false')).toEqual([claims.reopened, claims.inReview, claims.drafted]);
  });
});
