/**
 * Demo tokens across restarts: the number of working demo tokens never grows, the embedded
 * database reuses its set (kept in a 0600 file in the data folder, checked against the
 * database), PostgreSQL rotates with a grace period so instances sharing it keep working.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import type { FastifyInstance } from 'fastify';
import { listTokens } from '@claimtrail/identity';
import { DEMO_USERS } from '@claimtrail/seeds';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { buildApp } from '../src/app.ts';
import { DEMO_TOKENS_FILE, SHARED_DEMO_TOKEN_GRACE_MS } from '../src/demo-tokens.ts';

const pg = await requirePostgres();
const demoUserIds = DEMO_USERS.map((u) => u.id);

/** Demo users' tokens that work at `at` (default now), whatever their label. */
async function workingDemoTokens(db: Kysely<any>, atOffsetMs = 0): Promise<number> {
  const result = await sql<{ n: number }>`
    select count(*)::int as n from api_tokens
    where user_id in (${sql.join(demoUserIds)}) and revoked_at is null
      and (expires_at is null or expires_at > now() + ${atOffsetMs} * interval '1 millisecond')`.execute(db);
  return result.rows[0]!.n;
}

async function works(app: FastifyInstance, token: string): Promise<boolean> {
  return (await app.authenticateToken(token)) !== null;
}

describe('demo tokens on the embedded database', () => {
  let dataDir: string;
  const start = () => buildApp({ config: { dataDir, rateLimitMax: 0 }, logger: false, seed: false, demoTokens: true });

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'claimtrail-demo-'));
  });
  afterAll(async () => {
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('a restart gives the same tokens, replaces a revoked or lost one, and never adds working tokens', async () => {
    let app = await start();
    const first = { ...app.demoTokens };
    expect(Object.keys(first).sort()).toEqual(['admin', 'auditor', 'editor', 'fact_checker']);
    expect(await workingDemoTokens(app.database.db)).toBe(4);
    await app.close();

    const file = join(dataDir, DEMO_TOKENS_FILE);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(first);

    app = await start();
    expect(app.demoTokens).toEqual(first);
    expect(await workingDemoTokens(app.database.db)).toBe(4);
    for (const token of Object.values(first)) expect(await works(app, token!)).toBe(true);

    // Revoke the editor's: the next start replaces that one only.
    const editorTokenId = (await listTokens(app.database.db, 'demo-editor')).find((t) => t.revokedAt === null)!.id;
    expect(await app.revokeTokenById(editorTokenId)).toBe(true);
    await app.close();

    app = await start();
    expect(app.demoTokens.editor).not.toBe(first.editor);
    expect({ ...app.demoTokens, editor: first.editor }).toEqual(first);
    expect(await workingDemoTokens(app.database.db)).toBe(4);
    const second = { ...app.demoTokens };
    await app.close();

    // A damaged file: a new set, and the lost one stops working.
    await writeFile(file, '{"editor": ', { mode: 0o600 });
    app = await start();
    for (const role of Object.keys(second) as (keyof typeof second)[]) {
      expect(app.demoTokens[role]).not.toBe(second[role]);
      expect(await works(app, second[role]!)).toBe(false);
    }
    expect(await workingDemoTokens(app.database.db)).toBe(4);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    await app.close();
    // Four starts of the embedded database on disk: well over a minute on a loaded machine.
  }, 300_000);
});

describe.skipIf(!pg)('demo tokens on PostgreSQL (DEMO_TOKENS=1)', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('demo_tokens');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('each start rotates: earlier sets keep working for the grace period, then only the newest set works', async () => {
    const start = () => buildApp({ config: { databaseUrl: db.url, rateLimitMax: 0 }, logger: false, seed: false, demoTokens: true });
    // Two instances on one database at once, then a restart of the first.
    const a = await start();
    const b = await start();
    await a.close();
    const c = await start();
    try {
      const sets = [a.demoTokens, b.demoTokens, c.demoTokens];
      expect(new Set(sets.flatMap((s) => Object.values(s))).size).toBe(12);
      // Every set still works now (b is running and printed its set a moment ago)…
      for (const set of sets) for (const token of Object.values(set)) expect(await works(c, token!)).toBe(true);
      // …but after the grace period only the newest set does.
      expect(await workingDemoTokens(c.database.db, SHARED_DEMO_TOKEN_GRACE_MS + 1000)).toBe(4);
      const unexpiring = await sql<{ n: number }>`
        select count(*)::int as n from api_tokens
        where user_id in (${sql.join(demoUserIds)}) and revoked_at is null and expires_at is null`.execute(c.database.db);
      expect(unexpiring.rows[0]!.n).toBe(4);
    } finally {
      await b.close();
      await c.close();
    }
  });
});
