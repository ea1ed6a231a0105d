import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { migrateToLatest, openDatabase, type Database } from '@claimtrail/event-store';
import { migrations } from '@claimtrail/migrations';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import {
  RATING_NAMES,
  claimStreamId,
  decide,
  evolve,
  initialClaimState,
  toClaimView,
  type Actor,
  type ClaimCommand,
  type ClaimState,
  type ClaimStatus,
  type ClaimView,
  type Rating,
} from '@claimtrail/domain';
import {
  draftRating,
  listClaims,
  listClaimsStatement,
  publishedRating,
  writeClaimProjections,
  type ClaimProjectionRow,
  type ListClaimsFilter,
} from '../src/index.ts';

const pg = await requirePostgres();

/**
 * A realistic projection table (a few thousand claims in every state, folded by the domain
 * from the commands a newsroom would send) to check the list's plans and pages on: on a
 * table of twenty rows every plan is a sequential scan, and no plan says anything.
 */
const CLAIMS = 4000;
const FACT_CHECKERS = Array.from({ length: 25 }, (_, i): Actor => ({ id: `fc-${i}`, role: 'fact_checker' }));
const EDITORS = Array.from({ length: 5 }, (_, i): Actor => ({ id: `ed-${i}`, role: 'editor' }));
const TAGS = Array.from({ length: 30 }, (_, i) => `tag-${i}`);
const WORDS = 'border village shelling bridge drone convoy mayor hospital school election ballot river power grid train'.split(' ');
/** A word in about 3% of the texts, searched with `q`. */
const RARE_WORD = 'zeppelin';

type Path = 'submitted' | 'triaged' | 'in_research' | 'drafted' | 'in_review' | 'published' | 'reopened' | 'retracted' | 'rejected';
const PATHS: [Path, number][] = [
  ['submitted', 15],
  ['triaged', 10],
  ['in_research', 12],
  ['drafted', 10],
  ['in_review', 10],
  ['published', 28],
  ['reopened', 5],
  ['retracted', 5],
  ['rejected', 5],
];

/** Deterministic pseudo-random numbers (mulberry32): the same table every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function uuidFrom(next: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(next() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function simulate(next: () => number, index: number, base: number): ClaimProjectionRow {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const id = uuidFrom(next);
  const streamId = claimStreamId(id);
  let roll = next() * 100;
  const path = PATHS.find(([, weight]) => (roll -= weight) < 0)?.[0] ?? 'submitted';
  const checker = FACT_CHECKERS[index % FACT_CHECKERS.length]!;
  const editor = pick(EDITORS);
  const rating = pick(RATING_NAMES);
  // Every tenth claim is created at the same instant as the one before: keyset pages must
  // break ties on the id.
  const createdAt = base + (index - (index % 10 === 9 ? 1 : 0)) * 60_000;
  const words = Array.from({ length: 8 }, () => pick(WORDS));
  if (next() < 0.03) words.push(RARE_WORD);
  const commands: [ClaimCommand, Actor][] = [
    [{ type: 'submit_claim', text: `Claim ${index}: ${words.join(' ')}`, claimant: 'Someone', language: 'en', tags: [pick(TAGS), pick(TAGS)] }, checker],
  ];
  const through = (stop: Path) => PATHS.findIndex(([p]) => p === path) >= PATHS.findIndex(([p]) => p === stop);
  if (path === 'rejected') commands.push([{ type: 'reject', reason: 'not check-worthy' }, editor]);
  else if (path !== 'submitted') {
    commands.push([{ type: 'triage' }, editor]);
    if (through('in_research')) {
      commands.push([{ type: 'assign', assignee: checker.id }, editor]);
      commands.push([{ type: 'add_evidence', summary: 'A report', stance: 'refutes', url: 'https://example.org/r' }, checker]);
    }
    if (through('drafted')) commands.push([{ type: 'draft_verdict', rating, rationale: 'Because of the report' }, checker]);
    if (through('in_review')) commands.push([{ type: 'submit_for_review' }, checker]);
    if (through('published')) commands.push([{ type: 'publish' }, pick(EDITORS)]);
    if (path === 'reopened') commands.push([{ type: 'reopen', reason: 'new footage' }, editor]);
    if (path === 'retracted') commands.push([{ type: 'retract', reason: 'source withdrawn' }, editor]);
  }
  let state: ClaimState = initialClaimState;
  commands.forEach(([command, actor], k) => {
    // The assignees are the fact-checkers above (the directory the service would look them up in).
    const assignee = command.type === 'assign' ? { assignee: { id: command.assignee, role: 'fact_checker' as const, active: true } } : {};
    const decided = decide(command, state, actor, { claimId: id, ...assignee });
    if (!decided.ok) throw new Error(`simulate ${path}: ${command.type} refused: ${JSON.stringify(decided)}`);
    for (const event of decided.events) {
      state = evolve(state, {
        ...event,
        actor: actor.id,
        recordedAt: new Date(k === 0 ? createdAt : createdAt + k * 1000).toISOString(),
        version: state.version + 1,
        streamId,
      } as Parameters<typeof evolve>[1]);
    }
  });
  return { streamId, state, view: toClaimView(state), headHash: null };
}

type StateChoice = 'none' | 'one' | 'several';
interface Combination {
  state: StateChoice;
  assignee: boolean;
  tag: boolean;
  rating: boolean;
  draftRating: boolean;
  q: boolean;
  cursor: boolean;
}

/** Every combination of the filters (state absent, one value or several), cursor included. */
function combinations(): Combination[] {
  const out: Combination[] = [];
  for (const state of ['none', 'one', 'several'] as const) {
    for (let bits = 0; bits < 64; bits++) {
      out.push({
        state,
        assignee: (bits & 1) !== 0,
        tag: (bits & 2) !== 0,
        rating: (bits & 4) !== 0,
        draftRating: (bits & 8) !== 0,
        q: (bits & 16) !== 0,
        cursor: (bits & 32) !== 0,
      });
    }
  }
  return out;
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

function planNodes(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(planNodes)];
}

/** The views a filter selects, in list order (newest first, ties by id), computed here. */
function expected(views: readonly ClaimView[], filter: ListClaimsFilter): string[] {
  const states = filter.state === undefined ? null : typeof filter.state === 'string' ? [filter.state] : filter.state;
  return views
    .filter(
      (v) =>
        (states === null || states.includes(v.state)) &&
        (filter.assignee === undefined || v.assignee === filter.assignee) &&
        (filter.tag === undefined || v.tags.includes(filter.tag)) &&
        (filter.rating === undefined || (v.state === 'published' && v.publishedVerdict?.rating === filter.rating)) &&
        (filter.draftRating === undefined || v.verdictDraft?.rating === filter.draftRating) &&
        (filter.q === undefined || v.text.includes(filter.q)),
    )
    .sort((a, b) => (a.createdAt === b.createdAt ? (a.id < b.id ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1))
    .map((v) => v.id);
}

describe.skipIf(!pg)('GET /claims filters on a realistic projection (PostgreSQL)', () => {
  let testDb: TestDatabase;
  let database: Database;
  let views: ClaimView[];

  beforeAll(async () => {
    testDb = await createTestDatabase('listfilters');
    database = await openDatabase({ databaseUrl: testDb.url });
    await migrateToLatest(database.db, migrations);
    const next = random(20240312);
    const base = Date.parse('2024-01-01T00:00:00.000Z');
    const rows = Array.from({ length: CLAIMS }, (_, i) => simulate(next, i, base));
    await writeClaimProjections(database.db, rows);
    await sql`analyze claims`.execute(database.db);
    views = rows.map((r) => r.view);
  }, 120_000);

  afterAll(async () => {
    await database?.close();
    await testDb?.drop();
  });

  it('the table has every kind of claim the filters tell apart', () => {
    const reopened = views.filter((v) => v.state === 'in_research' && v.publishedVerdict !== null);
    const retracted = views.filter((v) => v.state === 'retracted' && v.publishedVerdict !== null);
    const drafts = views.filter((v) => v.verdictDraft !== null && v.state !== 'published');
    expect(reopened.length).toBeGreaterThan(50);
    expect(retracted.length).toBeGreaterThan(50);
    expect(drafts.length).toBeGreaterThan(500);
    // The columns hold what the filters mean: published rating only while published.
    for (const v of [...reopened, ...retracted]) expect(publishedRating(v)).toBeNull();
    for (const v of reopened) expect(draftRating(v)).toBe(v.publishedVerdict!.rating);
  });

  /** A filter for the combination, with values that select some claims of the table. */
  function filterOf(c: Combination, cursor: string): ListClaimsFilter {
    const filter: ListClaimsFilter = { limit: 20 };
    if (c.state === 'one') filter.state = 'in_research';
    if (c.state === 'several') filter.state = ['in_review', 'published', 'retracted'];
    if (c.assignee) filter.assignee = 'fc-7';
    if (c.tag) filter.tag = 'tag-3';
    if (c.rating) filter.rating = 'false';
    if (c.draftRating) filter.draftRating = 'mostly_false';
    if (c.q) filter.q = RARE_WORD;
    if (c.cursor) filter.cursor = cursor;
    return filter;
  }

  it('every combination of filters reads an index, never the whole table', async () => {
    const middle = await listClaims(database.db, { limit: CLAIMS / 2 });
    const cursor = middle.nextCursor!;
    const scans: string[] = [];
    for (const combination of combinations()) {
      const filter = filterOf(combination, cursor);
      const explained = await sql<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>`explain (format json) ${listClaimsStatement(filter)}`.execute(database.db);
      const plan = explained.rows[0]!['QUERY PLAN'][0].Plan;
      const nodes = planNodes(plan);
      const name = JSON.stringify(combination);
      const seq = nodes.filter((n) => n['Node Type'] === 'Seq Scan' && n['Relation Name'] === 'claims');
      if (seq.length > 0) scans.push(name);
      expect(
        nodes.some((n) => n['Index Name'] !== undefined),
        `${name}: ${nodes.map((n) => n['Node Type']).join(' > ')}`,
      ).toBe(true);
    }
    expect(scans).toEqual([]);
  });

  it('keyset pages walk exactly the filtered claims, in order, for every filter', async () => {
    const filters: ListClaimsFilter[] = [
      { state: ['in_review', 'published', 'retracted'] },
      { state: ['published', 'published', 'submitted'] },
      { state: 'in_research', draftRating: 'false' },
      { rating: 'false' },
      { draftRating: 'mostly_false', tag: 'tag-3' },
      { assignee: 'fc-7', state: ['in_research', 'in_review'] },
      { q: RARE_WORD, state: ['published', 'in_research'] },
      { rating: 'true', tag: 'tag-1' },
      { draftRating: 'true', assignee: 'fc-2' },
    ];
    for (const filter of filters) {
      const want = expected(views, filter);
      const walked: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await listClaims(database.db, { ...filter, limit: 7, ...(cursor ? { cursor } : {}) });
        walked.push(...page.items.map((v) => v.id));
        cursor = page.nextCursor;
      } while (cursor !== null);
      expect(walked, JSON.stringify(filter)).toEqual(want);
      expect(want.length, JSON.stringify(filter)).toBeGreaterThan(0);
    }
  });

  it('rating= finds published verdicts only; draftRating= finds drafts in any state', async () => {
    for (const rating of RATING_NAMES as readonly Rating[]) {
      const published = await listClaims(database.db, { rating, limit: 100 });
      for (const v of published.items) {
        expect(v.state).toBe('published');
        expect(v.publishedVerdict?.rating).toBe(rating);
      }
      const drafts = await listClaims(database.db, { draftRating: rating, limit: 100 });
      for (const v of drafts.items) expect(v.verdictDraft?.rating).toBe(rating);
      expect(drafts.items.some((v) => v.state === 'in_research' && v.publishedVerdict !== null)).toBe(true);
    }
    const states = new Set<ClaimStatus>((await listClaims(database.db, { draftRating: 'false', limit: 100 })).items.map((v) => v.state));
    expect([...states].sort()).toEqual(['in_research', 'in_review']);
  });
});
