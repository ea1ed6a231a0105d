/**
 * `npm run audit -- …` end to end: the CLI as a child process against a seeded
 * PostgreSQL database (DATABASE_URL), exit codes and output.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { SEED_CLAIMS, runSeed } from '@claimtrail/seeds';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { buildApp } from '../src/app.ts';

const hasPg = await requirePostgres();
const root = fileURLToPath(new URL('../../../', import.meta.url));
const cli = fileURLToPath(new URL('../src/cli/audit.ts', import.meta.url));

function audit(databaseUrl: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe.skipIf(!hasPg)('npm run audit', () => {
  let db: TestDatabase;
  let app: FastifyInstance;
  let events = 0;

  beforeAll(async () => {
    db = await createTestDatabase('auditcli');
    app = await buildApp({ config: { databaseUrl: db.url, rateLimitMax: 0 }, logger: false, seed: false, demoTokens: false });
    await runSeed((input) => app.claims.execute(input));
    await (app.store as unknown as { flush(): Promise<void> }).flush();
    events = await app.store.headPosition();
    await app.close();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('verify, rebuild --compare, rebuild, export, replay on an intact log', async () => {
    const verify = await audit(db.url, 'verify');
    expect(verify.code, verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, checked: events, projections: { differences: 0 } });
    expect(verify.stderr).toMatch(/verify: ok/);

    const compare = await audit(db.url, 'rebuild', '--compare');
    expect(compare.code, compare.stderr).toBe(0);
    expect(JSON.parse(compare.stdout)).toMatchObject({ mode: 'compare', differences: 0, swapped: false, claims: SEED_CLAIMS.length });

    const rebuild = await audit(db.url, 'rebuild');
    expect(rebuild.code, rebuild.stderr).toBe(0);
    expect(JSON.parse(rebuild.stdout)).toMatchObject({ mode: 'swap', swapped: true, claims: SEED_CLAIMS.length });

    const exported = await audit(db.url, 'export', '--after', '3');
    expect(exported.code, exported.stderr).toBe(0);
    const lines = exported.stdout.trim().split('\n').map((l) => JSON.parse(l) as { position: number });
    expect(lines.length).toBe(events - 3);
    expect(lines[0]!.position).toBe(4);

    const claim = SEED_CLAIMS[0]!;
    const replay = await audit(db.url, 'replay', claim.id, '--json');
    expect(replay.code, replay.stderr).toBe(0);
    const steps = replay.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: { version: number }; view: { version: number } });
    expect(steps.map((s) => s.event.version)).toEqual(claim.steps.map((_, i) => i + 1));
    expect(steps.every((s) => s.view.version === s.event.version)).toBe(true);
  });

  it('usage errors exit 2; a tampered event exits 1 and is named', async () => {
    expect((await audit(db.url, 'frobnicate')).code).toBe(2);

    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      const { rows } = await admin.query(`select id from events where stream_id like 'claim-%' order by position desc limit 1`);
      await admin.query('alter table events disable trigger all');
      await admin.query(`update events set metadata = jsonb_set(metadata, '{actor}', '"someone-else"') where id = $1`, [rows[0].id]);
      await admin.query('alter table events enable trigger all');
      const verify = await audit(db.url, 'verify');
      expect(verify.code).toBe(1);
      expect(JSON.parse(verify.stdout)).toMatchObject({ ok: false, firstBroken: { eventId: rows[0].id, reason: 'hash_mismatch' } });
    } finally {
      await admin.end();
    }
  });
});
