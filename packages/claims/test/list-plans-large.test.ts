/**
 * The list's plans at newsroom scale: 60,000 claims generated in one INSERT … SELECT
 * generate_series (states, assignees, tags, ratings, drafts and search words distributed as
 * a desk's are), then every combination of filters (state absent, one or several; cursor
 * or not; `view=card` or full) is EXPLAINed with the statement `listClaims` runs: each must
 * read an index and none may scan the whole table. The board's statement too (its counts
 * and its pages, with and without cursors).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql, type RawBuilder } from 'kysely';
import { migrateToLatest, openDatabase, type Database } from '@claimtrail/event-store';
import { migrations } from '@claimtrail/migrations';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { RATING_NAMES } from '@claimtrail/domain';
import { SEARCH_CONFIG, boardStatement, listClaims, listClaimsStatement, type ListClaimsFilter } from '../src/index.ts';

const pg = await requirePostgres();
const CLAIMS = 60_000;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

function planNodes(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(planNodes)];
}

describe.skipIf(!pg)('list and board plans on 60,000 claims (PostgreSQL)', () => {
  let testDb: TestDatabase;
  let database: Database;

  beforeAll(async () => {
    testDb = await createTestDatabase('listplans');
    database = await openDatabase({ databaseUrl: testDb.url });
    await migrateToLatest(database.db, migrations);
    // Weights as on a desk: most claims published or waiting; every 33rd mentions the rare word.
    const states = [
      ...Array(15).fill('submitted'),
      ...Array(10).fill('triaged'),
      ...Array(17).fill('in_research'),
      ...Array(10).fill('in_review'),
      ...Array(28).fill('published'),
      ...Array(5).fill('retracted'),
      ...Array(5).fill('rejected'),
      ...Array(2).fill('merged'),
    ] as string[];
    const words = 'border village shelling bridge drone convoy mayor hospital school election ballot river power grid train'.split(' ');
    await sql`
      insert into claims (id, stream_id, state, assignee, tags, rating, draft_rating, version, created_at, updated_at, search, view, card)
      select id, 'claim-' || id, state,
        case when state in ('submitted', 'triaged', 'rejected') then null else 'fc-' || (g % 25) end,
        array['tag-' || (g * 7 % 30), 'tag-' || (g * 13 % 30)],
        case when state = 'published' then (${sql.val([...RATING_NAMES])}::text[])[1 + g % ${RATING_NAMES.length}] end,
        case when state in ('in_review', 'published') or (state = 'in_research' and g % 2 = 0)
          then (${sql.val([...RATING_NAMES])}::text[])[1 + (g * 3) % ${RATING_NAMES.length}] end,
        1 + g % 10, created, created + (g % 100) * interval '1 hour',
        to_tsvector(${SEARCH_CONFIG}::regconfig, text),
        json_build_object('id', id, 'state', state, 'text', text), json_build_object('id', id, 'state', state, 'text', text)
      from (
        select g, gen_random_uuid() as id,
          (${sql.val(states)}::text[])[1 + (g * 7919) % ${states.length}] as state,
          timestamptz '2020-01-01' + g * interval '37 minutes' as created,
          'Claim ' || g || ': ' || (${sql.val(words)}::text[])[1 + g % 15] || ' ' || (${sql.val(words)}::text[])[1 + (g / 15) % 15]
            || case when g % 33 = 0 then ' zeppelin' else '' end as text
        from generate_series(1, ${CLAIMS}) g
      ) generated`.execute(database.db);
    await sql`analyze claims`.execute(database.db);
  }, 120_000);

  afterAll(async () => {
    await database?.close();
    await testDb?.drop();
  });

  async function scansOf(statement: RawBuilder<unknown>): Promise<PlanNode[]> {
    const explained = await sql<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>`explain (format json) ${statement}`.execute(database.db);
    return planNodes(explained.rows[0]!['QUERY PLAN'][0].Plan);
  }

  it('holds the table it claims to', async () => {
    const { rows } = await sql<{ n: string; states: string }>`select count(*) as n, count(distinct state) as states from claims`.execute(database.db);
    expect(Number(rows[0]!.n)).toBe(CLAIMS);
    expect(Number(rows[0]!.states)).toBe(8);
  });

  it('every combination of list filters reads an index, never the whole table', async () => {
    const middle = await listClaims(database.db, { limit: 100, state: ['in_review', 'published'] });
    const cursor = middle.nextCursor!;
    const failures: string[] = [];
    let checked = 0;
    for (const state of [undefined, 'in_research', ['in_review', 'published', 'retracted']] as const) {
      for (let bits = 0; bits < 128; bits++) {
        const filter: ListClaimsFilter = { limit: 20 };
        if (state !== undefined) filter.state = state as ListClaimsFilter['state'];
        if (bits & 1) filter.assignee = 'fc-7';
        if (bits & 2) filter.tag = 'tag-3';
        if (bits & 4) filter.rating = 'false';
        if (bits & 8) filter.draftRating = 'mostly_false';
        if (bits & 16) filter.q = 'zeppelin';
        if (bits & 32) filter.cursor = cursor;
        if (bits & 64) filter.view = 'card';
        const nodes = await scansOf(listClaimsStatement(filter));
        checked++;
        const seq = nodes.some((n) => n['Node Type'] === 'Seq Scan' && n['Relation Name'] === 'claims');
        const indexed = nodes.some((n) => n['Index Name'] !== undefined);
        if (seq || !indexed) failures.push(`${JSON.stringify(filter)}: ${nodes.map((n) => n['Node Type'] + (n['Index Name'] ? `(${n['Index Name']})` : '')).join(' > ')}`);
      }
    }
    expect(checked).toBe(3 * 128);
    expect(failures).toEqual([]);
  });

  it("the board's counts and pages read the board index, with and without cursors", async () => {
    const cursors = [{ state: 'published' as const, updatedAt: '2021-06-01T00:00:00.000000Z', id: 'ffffffff-ffff-4fff-bfff-ffffffffffff' }];
    for (const query of [{}, { limit: 200 }, { limit: 50, cursors }, { states: ['published' as const], cursors }]) {
      const nodes = await scansOf(boardStatement(query));
      expect(nodes.filter((n) => n['Node Type'] === 'Seq Scan' && n['Relation Name'] === 'claims'), JSON.stringify(query)).toEqual([]);
      expect(nodes.some((n) => n['Index Name'] === 'claims_board_idx'), JSON.stringify(query)).toBe(true);
    }
  });
});
