/**
 * The embedded database (PGlite) holds its data in the memory of one process: a second
 * process on the same folder used to start, answer 201 and lose writes. With real
 * processes: a second service and every CLI are refused at once with a message naming the
 * folder and the holder, the first keeps serving and nothing is lost; after kill -9 a new
 * start takes over at once; of two simultaneous starts exactly one serves.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, freePort, startService, stopAllServices, type Service } from './support/service.ts';
import { newCounts, report, tally } from './support/summary.ts';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'claimtrail-embedded-')));
const counts = newCounts();
afterAll(async () => {
  await stopAllServices();
  rmSync(root, { recursive: true, force: true });
  report('embedded-lock.test.ts', counts);
});

const LOCK_FILE = 'claimtrail.lock';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * A script of the repository as its own process (the service or a CLI), to its exit. One
 * that is still running after two minutes (a second service that was not refused) is
 * killed and reported with code null: a hang detector, not a timing assertion.
 */
function run(script: string, args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NODE_ENV: 'test', LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const hang = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(hang);
      resolve({ code, stdout, stderr });
    });
  });
}

function embedded(dataDir: string): { databaseUrl: string; env: Record<string, string> } {
  return { databaseUrl: '', env: { DATA_DIR: dataDir } };
}

/** The refusal every process gets: exit 3, the folder, the holder, what to do; no stack, no Aborted(). */
function expectRefused(result: Run, dataDir: string, holder: Service, what: string): void {
  expect(result.code, `${what}: ${result.stderr}`).toBe(3);
  expect(result.stderr, what).toContain(dataDir);
  expect(result.stderr, what).toContain(`in use by pid ${holder.pid} (services/api/src/server.ts)`);
  expect(result.stderr, what).toMatch(/Stop the process/);
  expect(result.stderr, what).toMatch(/DATA_DIR/);
  expect(result.stderr, what).toMatch(/PostgreSQL \(DATABASE_URL\)/);
  expect(result.stderr, what).not.toMatch(/^\s+at /m);
  expect(result.stderr, what).not.toMatch(/Aborted/);
  expect(result.stdout, what).toBe('');
}

async function createClaim(service: Service, token: string, text: string): Promise<string> {
  const res = await fetch(`${service.url}/claims`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  const body = (await res.json()) as { id: string };
  tally(counts, res.status, res.headers.get('retry-after'));
  expect(res.status, JSON.stringify(body)).toBe(201);
  return body.id;
}

// Every step is a process start (tsx compiles the tree, PGlite opens its folder): minutes on a busy machine.
describe('one process per embedded data folder', () => {
  it('a second service and every CLI are refused while the service runs; the CLIs work once it stops; nothing is lost', async () => {
    const dataDir = join(root, 'desk');
    const env = { DATA_DIR: dataDir };
    const created = await run('services/api/src/cli/tokens.ts', ['create', 'desk', '--role', 'editor'], env);
    expect(created.code, created.stderr).toBe(0);
    const { token } = JSON.parse(created.stdout) as { token: string };

    const service = await startService(embedded(dataDir));
    const first = await createClaim(service, token, 'The river froze in July.');

    const [second, tokens, audit, seed, migrate] = await Promise.all([
      run('services/api/src/server.ts', [], { ...env, PORT: String(await freePort()), HOST: '127.0.0.1' }),
      run('services/api/src/cli/tokens.ts', ['create', 'intruder', '--role', 'editor'], env),
      run('services/api/src/cli/audit.ts', ['export'], env),
      run('seeds/src/cli.ts', [], env),
      run('migrations/cli.ts', [], env),
    ]);
    counts.faults += 5;
    expectRefused(second, dataDir, service, 'second service');
    expectRefused(tokens, dataDir, service, 'tokens create');
    expectRefused(audit, dataDir, service, 'audit export');
    expectRefused(seed, dataDir, service, 'seed');
    expectRefused(migrate, dataDir, service, 'migrate');

    // The first instance never noticed: it still writes and reads.
    const later = await createClaim(service, token, 'The bridge was built twice.');
    const read = await fetch(`${service.url}/claims/${first}`, { headers: { authorization: `Bearer ${token}` } });
    tally(counts, read.status, read.headers.get('retry-after'));
    expect(read.status).toBe(200);
    await service.kill('SIGTERM');
    expect(service.exited()?.code).toBe(0);
    expect(existsSync(join(dataDir, LOCK_FILE))).toBe(false);

    const exported = await run('services/api/src/cli/audit.ts', ['export'], env);
    expect(exported.code, exported.stderr).toBe(0);
    const events = exported.stdout.trim().split('\n').map((line) => JSON.parse(line) as { streamId: string; type: string });
    counts.events += events.length;
    const lost = [first, later].filter((id) => !events.some((event) => event.streamId === `claim-${id}`));
    counts.lost += lost.length;
    expect(lost).toEqual([]);
    const listed = await run('services/api/src/cli/tokens.ts', ['list'], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { userId: string }).userId)).toEqual(['desk']);
  }, 300_000);

  it('after kill -9 of the holder a new start takes over at once; of two simultaneous starts exactly one serves', async () => {
    const dataDir = join(root, 'crash');
    const crashed = await startService(embedded(dataDir));
    await crashed.kill('SIGKILL');
    counts.faults += 2; // the kill, and the start that must lose the race
    expect(JSON.parse(readFileSync(join(dataDir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: crashed.pid });

    const starts = await Promise.allSettled([startService(embedded(dataDir)), startService(embedded(dataDir))]);
    const serving = starts.filter((start): start is PromiseFulfilledResult<Service> => start.status === 'fulfilled').map((start) => start.value);
    const refused = starts.filter((start): start is PromiseRejectedResult => start.status === 'rejected').map((start) => String(start.reason));
    expect(serving, refused.join('\n')).toHaveLength(1);
    const [winner] = serving;
    expect(refused).toHaveLength(1);
    expect(refused[0]).toContain('"code":3');
    expect(refused[0]).toContain(`in use by pid ${winner!.pid}`);
    const health = await fetch(`${winner!.url}/healthz`);
    tally(counts, health.status, health.headers.get('retry-after'));
    expect(health.status).toBe(200);
    expect(JSON.parse(readFileSync(join(dataDir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: winner!.pid });
    await winner!.kill('SIGTERM');
  }, 300_000);
});
