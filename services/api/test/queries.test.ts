import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { CLAIM_STATUSES } from '@claimtrail/domain';
import { SEED_CLAIMS } from '@claimtrail/seeds';
import { call, createClaim, startApp, type TestApp } from './helpers.ts';

const pg = await requirePostgres();

type View = {
  id: string;
  text: string;
  claimant: string | null;
  state: string;
  assignee: string | null;
  tags: string[];
  updatedAt: string;
  appearances: { excerpt: string | null }[];
  verdictDraft: { rating: string } | null;
  publishedVerdict: { rating: string } | null;
};

describe.skipIf(!pg)('list, filters, search, board (seeded PostgreSQL)', () => {
  let t: TestApp;
  let all: View[];

  async function list(query: string): Promise<{ items: View[]; nextCursor: string | null }> {
    const response = await call(t.app, { method: 'GET', url: `/claims?${query}`, headers: t.as.auditor });
    expect(response.statusCode, response.body).toBe(200);
    return response.json;
  }

  async function everything(query: string): Promise<View[]> {
    const out: View[] = [];
    let cursor: string | null = null;
    do {
      const page = await list(`${query}&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      out.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return out;
  }

  beforeAll(async () => {
    t = await startApp({ seed: true });
    all = (await list('limit=100')).items;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('has the seed claims', () => {
    expect(all.length).toBe(SEED_CLAIMS.length);
  });

  it('full-text search: "Tyotkino" finds every seed claim that names the village, in any spelling', async () => {
    const spelled = /ty?[oeё]t?kino|tjotkino|tetkino|tyotkino/i;
    const expected = all
      .filter((v) => spelled.test([v.text, v.claimant ?? '', ...v.appearances.map((a) => a.excerpt ?? '')].join(' ')))
      .map((v) => v.id)
      .sort();
    expect(expected.length).toBeGreaterThan(0);
    for (const q of ['Tyotkino', 'tyotkino', 'Tetkino', 'Tjotkino']) {
      const found = (await list(`q=${encodeURIComponent(q)}&limit=100`)).items.map((v) => v.id);
      expect(found, q).toEqual(expect.arrayContaining(expected));
    }
    expect((await list('q=zzzyxnotaword')).items).toEqual([]);
    // Web-search syntax never errors, whatever the user types.
    for (const q of ['"unterminated', 'a & | ! (', '-', ':*', "'; drop table claims; --"]) {
      const response = await call(t.app, { method: 'GET', url: `/claims?q=${encodeURIComponent(q)}`, headers: t.as.auditor });
      expect(response.statusCode, q).toBe(200);
    }
  });

  it('keyset pagination walks every claim once, in a stable order, even while claims are added', async () => {
    const first = await list('limit=3');
    expect(first.items).toHaveLength(3);
    expect(first.nextCursor).toEqual(expect.any(String));
    const fresh = await createClaim(t); // newest first: lands before the cursor, never inside later pages
    const rest = await everything('');
    const walked = [...first.items];
    let cursor = first.nextCursor;
    while (cursor) {
      const page = await list(`limit=3&cursor=${cursor}`);
      walked.push(...page.items);
      cursor = page.nextCursor;
    }
    expect(walked.map((v) => v.id)).toEqual(all.map((v) => v.id));
    expect(rest.map((v) => v.id)).toEqual([fresh.id, ...all.map((v) => v.id)]);
    all = rest;
  });

  it('filters by state, assignee, tag and rating (combinable with q and pagination)', async () => {
    for (const state of CLAIM_STATUSES) {
      const got = await everything(`state=${state}`);
      expect(got.map((v) => v.id), state).toEqual(all.filter((v) => v.state === state).map((v) => v.id));
    }
    const assignee = all.find((v) => v.assignee)!.assignee!;
    expect((await everything(`assignee=${assignee}`)).map((v) => v.id)).toEqual(all.filter((v) => v.assignee === assignee).map((v) => v.id));
    const tag = all.find((v) => v.tags.length > 0)!.tags[0]!;
    expect((await everything(`tag=${encodeURIComponent(tag.toUpperCase())}`)).map((v) => v.id)).toEqual(
      all.filter((v) => v.tags.includes(tag)).map((v) => v.id),
    );
    const rated = all.find((v) => v.publishedVerdict)!;
    const rating = rated.publishedVerdict!.rating;
    const byRating = await everything(`rating=${rating}`);
    expect(byRating.map((v) => v.id)).toContain(rated.id);
    for (const v of byRating) {
      expect(v.state).toBe('published');
      expect(v.publishedVerdict?.rating).toBe(rating);
    }
    const combined = await everything(`state=published&q=Tyotkino`);
    for (const v of combined) expect(v.state).toBe('published');
  });

  it('refuses bad query values with 400 naming the parameter', async () => {
    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=101', 'limit'],
      ['limit=ten', 'limit'],
      ['state=done', 'state'],
      ['rating=great', 'rating'],
      ['cursor=%%%', 'cursor'],
      ['cursor=eyJzIjoiLTEifQ', 'cursor'],
      ['unknown=1', 'unknown'],
      ['q=a%00b', 'q'],
    ] as const) {
      const response = await call(t.app, { method: 'GET', url: `/claims?${query}`, headers: t.as.auditor });
      expect(response.statusCode, query).toBe(400);
      expect(response.json.code, query).toBe('validation');
      expect(response.json.field, query).toBe(field);
    }
  });

  it('GET /board: every state with its count and claims, most recently changed first', async () => {
    const response = await call(t.app, { method: 'GET', url: '/board', headers: t.as.editor });
    expect(response.statusCode).toBe(200);
    const board = response.json as { states: { state: string; count: number; claims: View[] }[] };
    expect(board.states.map((s) => s.state)).toEqual([...CLAIM_STATUSES]);
    for (const column of board.states) {
      const inState = all.filter((v) => v.state === column.state);
      expect(column.count, column.state).toBe(inState.length);
      expect(column.claims.map((c) => c.id).sort()).toEqual(inState.map((v) => v.id).sort());
      const times = column.claims.map((c) => c.updatedAt);
      expect(times).toEqual([...times].sort().reverse());
    }
    const limited = await call(t.app, { method: 'GET', url: '/board?limit=1', headers: t.as.editor });
    for (const column of limited.json.states) expect(column.claims.length).toBeLessThanOrEqual(1);
  });
});
