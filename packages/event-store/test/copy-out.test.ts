import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { openDatabase, type Database } from '@claimtrail/event-store';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { copyOutRows, type CopyTuple } from '../src/copy-out.ts';

const pg = await requirePostgres();

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

  // 8-byte fields: exact as numbers below 2^53 in magnitude, bigints beyond.
  const bigints = ['0', '-1', '9007199254740991', '-9007199254740991', '9007199254740992', '-9007199254740993', '9223372036854775807', '-9223372036854775808'];
  const row = (t: CopyTuple) => [t.int32(0), t.text(1), t.isNull(2) ? null : t.text(2, 1), t.int64(3)];

  beforeAll(async () => {
    testDb = await createTestDatabase('copyout');
    database = await openDatabase({ databaseUrl: testDb.url, poolSize: 2 });
    await sql`create table t (n int primary key, v text, j jsonb, b bigint)`.execute(database.db);
    for (const [n, v] of values.entries()) {
      await sql`insert into t values (${n}, ${v}, ${v === null ? null : JSON.stringify({ v })}::jsonb, ${bigints[n % bigints.length]}::bigint)`.execute(database.db);
    }
  });
  afterAll(async () => {
    await database?.close();
    await testDb?.drop();
  });

  it('yields every row with the values a SELECT returns', async () => {
    const rows: ReturnType<typeof row>[] = [];
    await database.db.transaction().execute(async (tx) => {
      for await (const batch of copyOutRows(tx, 'select n, v, j, b from t order by n', row)) rows.push(...batch);
    });
    const selected = await sql<{ n: number; v: string | null; j: unknown; b: string }>`select n, v, j::text as j, b::text as b from t order by n`.execute(database.db);
    expect(rows.map((r) => [r[0], r[1], r[2], String(r[3])])).toEqual(selected.rows.map((r) => [r.n, r.v, r.j, r.b]));
    expect(rows.map((r) => r[1])).toEqual(values);
    expect(rows.map((r) => (r[2] === null ? null : (JSON.parse(r[2] as string) as { v: string }).v))).toEqual(values);
    expect(rows.map((r) => typeof r[3])).toEqual(values.map((_, n) => (n % bigints.length < 4 ? 'number' : 'bigint')));
  });

  it('a reader that stops early gets its own error back and leaves the pool usable', async () => {
    await expect(
      database.db.transaction().execute(async (tx) => {
        for await (const _ of copyOutRows(tx, 'select n, v from t cross join generate_series(1, 50) order by n', (t) => t.text(1))) {
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
        for await (const _ of copyOutRows(tx, 'select 1 / (n - 3) from t order by n', (t) => t.int32(0))) void _;
      }),
    ).rejects.toThrow(/division by zero/);
    const after = await sql<{ one: number }>`select 1 as one`.execute(database.db);
    expect(after.rows[0]!.one).toBe(1);
  });
});
