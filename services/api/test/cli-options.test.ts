/**
 * The command-line tools as child processes against a seeded PostgreSQL database: data
 * goes to `--output FILE` exactly (or to a clean stdout under `npm run -s`), unknown
 * options are refused with the usage (exit 2) before anything is done, `--help` works for
 * every tool, and a token written to a file is readable by its owner only.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { runSeed } from '@claimtrail/seeds';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { buildApp } from '../src/app.ts';

const hasPg = await requirePostgres();
const root = fileURLToPath(new URL('../../../', import.meta.url));
const TOOLS = {
  audit: 'services/api/src/cli/audit.ts',
  tokens: 'services/api/src/cli/tokens.ts',
  seed: 'seeds/src/cli.ts',
  migrate: 'migrations/cli.ts',
} as const;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function spawnRun(command: string, args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs `each` over `items` two at a time (every item is a process start: tsx loads the tree). */
async function twoAtATime<T, R>(items: T[], each: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += 2) results.push(...(await Promise.all(items.slice(i, i + 2).map(each))));
  return results;
}

// Each case is a process start: minutes in all on a busy machine.
const SLOW = 300_000;

describe.skipIf(!hasPg)('command-line options and output', () => {
  let db: TestDatabase;
  let events = 0;
  let outDir: string;
  const tool = (name: keyof typeof TOOLS, ...args: string[]) =>
    spawnRun(process.execPath, ['--import', 'tsx', TOOLS[name], ...args], { DATABASE_URL: db.url });

  beforeAll(async () => {
    db = await createTestDatabase('clioptions');
    const app: FastifyInstance = await buildApp({ config: { databaseUrl: db.url, rateLimitMax: 0 }, logger: false, seed: false, demoTokens: false });
    await runSeed((input) => app.claims.execute(input));
    await (app.store as unknown as { flush(): Promise<void> }).flush();
    events = await app.store.headPosition();
    await app.close();
    outDir = mkdtempSync(join(tmpdir(), 'claimtrail-cli-'));
  });
  afterAll(async () => {
    await db?.drop();
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  function ndjson(text: string): Array<{ position: number }> {
    expect(text.endsWith('\n')).toBe(true);
    return text
      .slice(0, -1)
      .split('\n')
      .map((line) => JSON.parse(line) as { position: number });
  }

  it('audit export --output FILE holds exactly the NDJSON; stdout stays empty; no partial file is left', async () => {
    const file = join(outDir, 'events.ndjson');
    writeFileSync(file, 'an older export\n');
    const result = await tool('audit', 'export', '--output', file);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/export: \d+ events/);
    const lines = ndjson(readFileSync(file, 'utf8'));
    expect(lines.map((line) => line.position)).toEqual(Array.from({ length: events }, (_, i) => i + 1));
    expect(readdirSync(outDir).filter((name) => name.includes('partial'))).toEqual([]);
  }, SLOW);

  it('every audit command writes its result to --output (or -o), the same as it would to stdout', async () => {
    for (const args of [['verify'], ['rebuild', '--compare'], ['replay', '--json']]) {
      const file = join(outDir, `${args[0]}.out`);
      const extra = args[0] === 'replay' ? [(await firstClaimId())] : [];
      const toStdout = await tool('audit', ...args, ...extra);
      const toFile = await tool('audit', ...args, ...extra, '-o', file);
      expect(toFile.code, toFile.stderr).toBe(toStdout.code);
      expect(toFile.stdout).toBe('');
      // Reports carry how long they took; everything else is identical.
      const timeless = (text: string) => text.replace(/"durationMs": \d+/g, '"durationMs": 0');
      expect(timeless(readFileSync(file, 'utf8'))).toBe(timeless(toStdout.stdout));
      expect(toStdout.stdout.length).toBeGreaterThan(0);
    }
  }, SLOW);

  async function firstClaimId(): Promise<string> {
    const result = await tool('audit', 'export');
    const claimIds = ndjson(result.stdout).map((event) => (event as { claimId?: string | null }).claimId);
    return claimIds.find((id): id is string => typeof id === 'string')!;
  }

  it('npm run -s audit -- export: stdout is the NDJSON alone', async () => {
    const result = await spawnRun('npm', ['run', '-s', 'audit', '--', 'export'], { DATABASE_URL: db.url });
    expect(result.code, result.stderr).toBe(0);
    expect(ndjson(result.stdout)).toHaveLength(events);
  }, SLOW);

  it('unknown options and stray arguments are refused with the usage (exit 2) before anything is done', async () => {
    const before = (await tool('tokens', 'list')).stdout;
    const refusals: Array<[keyof typeof TOOLS, string[]]> = [
      ['audit', ['export', '--ouput', join(outDir, 'typo.ndjson')]],
      ['audit', ['export', '--compare']],
      ['audit', ['verify', '--json']],
      ['audit', ['rebuild', '--claim', 'x']],
      ['audit', ['replay', '--after', '1']],
      ['audit', ['export', '--after']],
      ['audit', ['export', 'extra']],
      ['tokens', ['create', 'newcomer', '--role', 'editor', '--expires', '60']],
      ['tokens', ['create', 'newcomer', '--role', 'editor', 'extra']],
      ['tokens', ['list', '--role', 'editor']],
      ['tokens', ['revoke', 'x', '--force']],
      ['seed', ['--dry-run']],
      ['migrate', ['--to', '0001']],
    ];
    const results = await twoAtATime(refusals, ([name, args]) => tool(name, ...args));
    refusals.forEach(([name, args], i) => {
      const result = results[i]!;
      const what = `${name} ${args.join(' ')}`;
      expect(result.code, `${what}: ${result.stderr}`).toBe(2);
      expect(result.stderr, what).toMatch(/usage: npm run -s /);
      expect(result.stdout, what).toBe('');
    });
    expect((await tool('tokens', 'list')).stdout).toBe(before);
    expect(readdirSync(outDir).filter((name) => name.startsWith('typo') || name.includes('partial'))).toEqual([]);
  }, SLOW);

  it('--help for every tool: the usage on stdout, exit 0', async () => {
    const asked: Array<[keyof typeof TOOLS, string[]]> = [
      ['audit', ['--help']],
      ['audit', ['export', '-h']],
      ['tokens', ['--help']],
      ['tokens', ['create', '--help']],
      ['seed', ['--help']],
      ['migrate', ['--help']],
    ];
    const results = await twoAtATime(asked, ([name, args]) => tool(name, ...args));
    asked.forEach(([name, args], i) => {
      const result = results[i]!;
      expect(result.code, `${name} ${args.join(' ')}: ${result.stderr}`).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`^usage: npm run -s ${name}\\b`));
    });
  }, SLOW);

  it('tokens create --output FILE: the secret goes to a 0600 file only (replacing a readable one); a failed create writes no file', async () => {
    const file = join(outDir, 'token.json');
    writeFileSync(file, 'old\n', { mode: 0o644 });
    const result = await tool('tokens', 'create', 'filed', '--role', 'auditor', '--output', file);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('');
    const created = JSON.parse(readFileSync(file, 'utf8')) as { token: string; userId: string };
    expect(created).toMatchObject({ userId: 'filed' });
    expect(created.token).toMatch(/^ct_/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(result.stderr).not.toContain(created.token);

    const missing = join(outDir, 'nobody.json');
    const failed = await tool('tokens', 'create', 'nobody', '--output', missing);
    expect(failed.code).toBe(1);
    expect(readdirSync(outDir).filter((name) => name.includes('nobody'))).toEqual([]);
  }, SLOW);
});
