import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { openDatabase, type Database } from '@claimtrail/event-store';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { copyFieldValue, copyLineFields, copyOutRows } from '../src/copy-out.ts';

const pg = await requirePostgres();

describe('COPY text fields', () => {
  it('decodes NULL, escapes and plain text', () => {
    expect(copyFieldValue('\\N')).toBeNull();
    expect(copyFieldValue('')).toBe('');
    expect(copyFieldValue('plain ü 😀')).toBe('plain ü 😀');
    expect(copyFieldValue('a\\\\b\\tc\\nd\\re\\bf\\fg\\vh')).toBe('a\\b\tc\nd\re\bf\fg\vh');
    expect(copyFieldValue('\\\\N')).toBe('\\N');
    expect(() => copyFieldValue('odd \\x41')).toThrow(/backslash escape/);
    expect(copyLineFields('a\t\\N\t\\t\t')).toEqual(['a', null, '\t', '']);
  });
});

describe.skipIf(!pg)('copyOutRows on PostgreSQL', () => {
  let testDb: TestDatabase;
  let database: Database;
  // Every control character, backslashes, the NULL marker as text, quotes, multi-byte and
  // astral characters, and lines long enough to be cut by chunk boundaries mid-character.
  const controls = Array.from({ length: 31 }, (_, i) => String.fromCharCode(i + 1)).join('');
  const values: (string | null)[] = [
    controls,
    'back\\slash \\N \\. \\\\ "quoted" \'single\'',
    '\\N',
    '',
    null,
    'Тёткино 😀 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 — ü',
    `${'ё😀'.repeat(40_000)}\t${'x'.repeat(70_001)}\n`,
    '{"json":"with \\"escapes\\" and \\n and \\\\"}',
  ];

  beforeAll(async () => {
    testDb = await createTestDatabase('copyout');
    database = await openDatabase({ databaseUrl: testDb.url, poolSize: 2 });
    await sql`create table t (n int primary key, v text, j jsonb)`.execute(database.db);
    for (const [n, v] of values.entries()) {
      await sql`insert into t values (${n}, ${v}, ${v === null ? null : JSON.stringify({ v })}::jsonb)`.execute(database.db);
    }
  });
  afterAll(async () => {
    await database?.close();
    await testDb?.drop();
  });

  it('yields every row with the values a SELECT returns', async () => {
    const rows: (string | null)[][] = [];
    await database.db.transaction().execute(async (tx) => {
      for await (const batch of copyOutRows(tx, 'select n, v, j from t order by n', (fields) => fields)) rows.push(...batch);
    });
    const selected = await sql<{ n: number; v: string | null; j: unknown }>`select n, v, j::text as j from t order by n`.execute(database.db);
    expect(rows.map((r) => [Number(r[0]), r[1], r[2]])).toEqual(selected.rows.map((r) => [r.n, r.v, r.j]));
    expect(rows.map((r) => r[1])).toEqual(values);
    expect(rows.map((r) => (r[2] === null ? null : (JSON.parse(r[2]!) as { v: string }).v))).toEqual(values);
  });

  it('a reader that stops early gets its own error back and leaves the pool usable', async () => {
    await expect(
      database.db.transaction().execute(async (tx) => {
        for await (const _ of copyOutRows(tx, 'select n, v from t cross join generate_series(1, 50) order by n', (fields) => fields)) {
          void _;
          throw new Error('the fold failed');
        }
      }),
    ).rejects.toThrow(/the fold failed/);
    const after = await sql<{ n: number }>`select count(*)::int as n from t`.execute(database.db);
    expect(after.rows[0]!.n).toBe(values.length);
  });

  it('passes the server error on and leaves the pool usable', async () => {
    await expect(
      database.db.transaction().execute(async (tx) => {
        for await (const _ of copyOutRows(tx, 'select 1 / (n - 3) from t order by n', (fields) => fields)) void _;
      }),
    ).rejects.toThrow(/division by zero/);
    const after = await sql<{ one: number }>`select 1 as one`.execute(database.db);
    expect(after.rows[0]!.one).toBe(1);
  });
});
