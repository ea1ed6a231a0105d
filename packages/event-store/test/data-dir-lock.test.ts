/**
 * One process per embedded data folder: the lock file itself (in this process and across
 * racing processes), and openDatabase taking and releasing it. The service and the CLIs
 * refusing each other are tested end to end in test/embedded-lock.test.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DataDirLockedError, DatabaseOpenError, LOCK_FILE_NAME, openDatabase, type Database } from '../src/index.ts';
import { lockDataDir, type DataDirLock } from '../src/data-dir-lock.ts';

const racerScript = fileURLToPath(new URL('./support/lock-racer.ts', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'claimtrail-lock-'));
const children = new Set<ChildProcess>();
const locks: DataDirLock[] = [];

afterEach(() => {
  for (const lock of locks.splice(0)) lock.release();
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

let goFiles = 0;
function freshFolder(): string {
  return realpathSync(mkdtempSync(join(root, 'data-')));
}

function take(dir: string): DataDirLock {
  const lock = lockDataDir(dir);
  locks.push(lock);
  return lock;
}

function lockFileOf(dir: string): string {
  return join(dir, LOCK_FILE_NAME);
}

function writeHolder(dir: string, holder: Record<string, unknown>): void {
  writeFileSync(lockFileOf(dir), JSON.stringify({ hostname: hostname(), processStart: null, program: 'x.ts', since: '2026-01-01T00:00:00.000Z', token: 'planted', ...holder }));
}

/** The pid of a process that has exited (the kernel reuses pids only after many others). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

/** A live process that is not this one. */
function liveProcess(): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 60000)'], { stdio: 'ignore' });
  children.add(child);
  return child;
}

function refusal(fn: () => unknown): DataDirLockedError {
  try {
    fn();
  } catch (error) {
    if (error instanceof DataDirLockedError) return error;
    throw error;
  }
  throw new Error('expected DataDirLockedError');
}

describe('data folder lock (one process)', () => {
  it('names its holder, refuses a second holding in the same process, and is gone after release', () => {
    const dir = freshFolder();
    const lock = take(dir);
    const holder = JSON.parse(readFileSync(lockFileOf(dir), 'utf8')) as { pid: number; hostname: string };
    expect(holder).toMatchObject({ pid: process.pid, hostname: hostname() });

    const error = refusal(() => lockDataDir(dir));
    expect(error.message).toContain(dir);
    expect(error.message).toMatch(/this process already has it open/);

    lock.release();
    expect(existsSync(lockFileOf(dir))).toBe(false);
    take(dir);
  });

  it('refuses a folder held by a live process, naming it, and leaves its lock alone', () => {
    const dir = freshFolder();
    const other = liveProcess();
    writeHolder(dir, { pid: other.pid, program: 'services/api/src/server.ts' });
    const before = readFileSync(lockFileOf(dir), 'utf8');

    const error = refusal(() => lockDataDir(dir));
    expect(error.holder?.pid).toBe(other.pid);
    expect(error.message).toContain(dir);
    expect(error.message).toContain(`pid ${other.pid} (services/api/src/server.ts)`);
    expect(error.message).toMatch(/Stop the process/);
    expect(error.message).toMatch(/DATA_DIR/);
    expect(error.message).toMatch(/PostgreSQL \(DATABASE_URL\)/);
    expect(readFileSync(lockFileOf(dir), 'utf8')).toBe(before);
  });

  it('takes over at once from a holder that is gone: dead pid, reused pid, our own pid from an earlier life, debris', async () => {
    const dead = await deadPid();
    const other = liveProcess();
    const cases: Array<[string, (dir: string) => void]> = [
      ['dead pid', (dir) => writeHolder(dir, { pid: dead })],
      ['pid reused by another process', (dir) => writeHolder(dir, { pid: other.pid, processStart: '1' })],
      ['this pid, an earlier holding', (dir) => writeHolder(dir, { pid: process.pid })],
      ['empty file', (dir) => writeFileSync(lockFileOf(dir), '')],
      ['not JSON', (dir) => writeFileSync(lockFileOf(dir), '{"pid": 12')],
    ];
    for (const [name, plant] of cases) {
      if (name.startsWith('pid reused') && !existsSync(`/proc/${process.pid}/stat`)) continue;
      const dir = freshFolder();
      plant(dir);
      const lock = take(dir);
      const holder = JSON.parse(readFileSync(lockFileOf(dir), 'utf8')) as { pid: number; token: string };
      expect(holder.pid, name).toBe(process.pid);
      expect(holder.token, name).not.toBe('planted');
      lock.release();
    }
  });

  it('a dead holding is removed only by the process that holds the break file: never while another live process does', async () => {
    const dir = freshFolder();
    const breakFile = `${lockFileOf(dir)}.break`;
    const breaker = liveProcess();
    writeHolder(dir, { pid: await deadPid(), token: 'dead' });
    writeFileSync(breakFile, JSON.stringify({ pid: breaker.pid, hostname: hostname(), processStart: null, program: 'x.ts', since: '', token: 'breaking' }));

    // Someone else is breaking it: the lock is left alone (and this open is refused, not won).
    expect(refusal(() => lockDataDir(dir)).message).toMatch(/another process is taking it right now/);
    expect(JSON.parse(readFileSync(lockFileOf(dir), 'utf8'))).toMatchObject({ token: 'dead' });

    // A break file whose process is gone is debris like any other.
    breaker.kill('SIGKILL');
    await new Promise((resolve) => breaker.once('exit', resolve));
    take(dir);
    expect(JSON.parse(readFileSync(lockFileOf(dir), 'utf8'))).toMatchObject({ pid: process.pid });
    expect(existsSync(breakFile)).toBe(false);
  });

  it('a holder on another host cannot be checked: refused, with the file to delete', () => {
    const dir = freshFolder();
    writeHolder(dir, { pid: 4242, hostname: `not-${hostname()}` });
    const error = refusal(() => lockDataDir(dir));
    expect(error.message).toContain(`on host not-${hostname()}`);
    expect(error.message).toContain(`delete ${lockFileOf(dir)}`);
  });

  it('release leaves alone a lock that is no longer this holding', () => {
    const dir = freshFolder();
    const lock = take(dir);
    writeHolder(dir, { pid: process.pid, token: 'someone-else' });
    lock.release();
    expect(JSON.parse(readFileSync(lockFileOf(dir), 'utf8'))).toMatchObject({ token: 'someone-else' });
  });
});

describe('data folder lock (racing processes)', () => {
  async function race(dir: string, racers: number): Promise<{ held: number[]; refused: string[] }> {
    const goFile = join(root, `go-${++goFiles}`);
    const lines = new Map<number, string[]>();
    const spawned = Array.from({ length: racers }, () => {
      const child = spawn(process.execPath, ['--import', 'tsx', racerScript, dir, goFile], { stdio: ['ignore', 'pipe', 'inherit'] });
      children.add(child);
      const output: string[] = [];
      lines.set(child.pid!, output);
      child.stdout!.setEncoding('utf8').on('data', (data: string) => output.push(...data.split('\n').filter(Boolean)));
      return child;
    });
    const waitAll = async (what: (output: string[]) => boolean) => {
      for (;;) {
        if ([...lines.values()].every(what)) return;
        const exited = spawned.find((child) => child.exitCode !== null);
        if (exited) throw new Error(`racer ${exited.pid} exited: ${lines.get(exited.pid!)?.join('\n')}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    await waitAll((output) => output.includes('ready'));
    writeFileSync(goFile, '');
    await waitAll((output) => output.length >= 2);
    const held = [...lines].filter(([, output]) => output[1] === 'held').map(([pid]) => pid);
    const refused = [...lines.values()].map((output) => output[1]!).filter((line) => line.startsWith('refused'));
    return { held, refused };
  }

  it('of racing processes exactly one wins: on a new folder, over a dead holder, over debris', async () => {
    const racers = 5;
    const plantings: Array<[string, (dir: string) => Promise<void> | void]> = [
      ['new folder', () => undefined],
      ['dead holder', async (dir) => writeHolder(dir, { pid: await deadPid() })],
      ['debris', (dir) => writeFileSync(lockFileOf(dir), '')],
    ];
    for (const [name, plant] of plantings) {
      const dir = freshFolder();
      await plant(dir);
      const { held, refused } = await race(dir, racers);
      expect(held, name).toHaveLength(1);
      expect(refused, name).toHaveLength(racers - 1);
      for (const line of refused) expect(line, name).toContain(`in use by pid ${held[0]}`);
      expect(JSON.parse(readFileSync(lockFileOf(dir), 'utf8')), name).toMatchObject({ pid: held[0] });
      for (const child of children) child.kill('SIGKILL');
      children.clear();
    }
  });
});

describe('openDatabase and the lock', () => {
  const opened: Database[] = [];
  afterEach(async () => {
    for (const database of opened.splice(0)) await database.close();
  });

  it('holds the folder while open, refuses a second open before touching it, releases on close', async () => {
    const dir = freshFolder();
    const database = await openDatabase({ dataDir: dir });
    opened.push(database);
    expect(existsSync(lockFileOf(dir))).toBe(true);
    await expect(openDatabase({ dataDir: dir })).rejects.toBeInstanceOf(DataDirLockedError);

    await opened.pop()!.close();
    expect(existsSync(lockFileOf(dir))).toBe(false);
    const again = await openDatabase({ dataDir: dir });
    opened.push(again);
    await again.db.selectNoFrom((eb) => eb.lit(1).as('one')).execute();
  });

  it('memory:// is not a folder: any number of in-memory databases', async () => {
    opened.push(await openDatabase({ dataDir: 'memory://' }), await openDatabase({ dataDir: 'memory://' }));
    expect(opened).toHaveLength(2);
  });

  it('a folder PGlite cannot use is a DatabaseOpenError naming it (no bare Aborted()), and leaves no lock', async () => {
    const damaged = freshFolder();
    writeFileSync(join(damaged, 'PG_VERSION'), 'not a version\n');
    const error = await openDatabase({ dataDir: damaged }).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(DatabaseOpenError);
    expect((error as Error).message).toContain(damaged);
    expect(existsSync(lockFileOf(damaged))).toBe(false);

    const notAFolder = join(freshFolder(), 'file');
    writeFileSync(notAFolder, 'x');
    await expect(openDatabase({ dataDir: notAFolder })).rejects.toBeInstanceOf(DatabaseOpenError);
  });
});
