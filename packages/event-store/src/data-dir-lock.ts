/**
 * One process per embedded data folder. PGlite keeps the whole database in the memory of
 * the process that opened it and writes the folder back on its own schedule: a second
 * process on the same folder does not see the first one's writes and overwrites them.
 * So whoever opens a folder holds `<dataDir>/claimtrail.lock` until it closes or exits.
 *
 * The lock file names its holder (pid, host, process start time). It is created whole and
 * exclusively (a hard link to a written file), so of two racing starts exactly one creates it. A lock whose holder is gone
 * (kill -9, power loss, a container restarted with the same pid) is broken at once — no
 * waiting for a timeout — because liveness is asked of the kernel (`kill(pid, 0)` and, on
 * Linux, the process start time against pid reuse), never inferred from a heartbeat that
 * a long synchronous PGlite call could delay. Breaking a stale lock is serialized by a
 * second O_EXCL file, so two processes that both found the same stale lock cannot both
 * remove it and both win.
 *
 * Everything here is synchronous: it runs once at open, and release must also work from
 * the process 'exit' handler.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, linkSync, openSync, readFileSync, realpathSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, relative } from 'node:path';
import { EventStoreError } from './errors.ts';

export const LOCK_FILE_NAME = 'claimtrail.lock';

/** What the lock file says about the process holding the folder. */
export interface DataDirLockHolder {
  pid: number;
  hostname: string;
  /** Kernel start time of the process (Linux, /proc/<pid>/stat field 22), against pid reuse. */
  processStart: string | null;
  /** The script that holds the folder (e.g. `services/api/src/server.ts`). */
  program: string;
  /** ISO time at which the lock was taken. */
  since: string;
  /** Random, tells this holding from an earlier one by the same pid. */
  token: string;
}

/** The data folder is held by another process (or already open in this one); nothing was opened. */
export class DataDirLockedError extends EventStoreError {
  readonly dataDir: string;
  readonly lockFile: string;
  readonly holder: DataDirLockHolder | null;
  constructor(dataDir: string, lockFile: string, holder: DataDirLockHolder | null, reason: 'other-process' | 'this-process' | 'other-host' | 'contended') {
    super('data_dir_locked', describe(dataDir, lockFile, holder, reason));
    this.dataDir = dataDir;
    this.lockFile = lockFile;
    this.holder = holder;
  }
}

function describe(dataDir: string, lockFile: string, holder: DataDirLockHolder | null, reason: string): string {
  const who =
    reason === 'this-process'
      ? 'this process already has it open'
      : reason !== 'contended' && holder
        ? `it is in use by pid ${holder.pid}${holder.program ? ` (${holder.program})` : ''}` +
          `${holder.hostname !== hostname() ? ` on host ${holder.hostname}` : ''}, since ${holder.since}`
        : 'another process is taking it right now';
  const lines = [
    `The embedded database folder ${dataDir} cannot be opened: ${who}.`,
    'The embedded database (PGlite) allows one process per folder; a second one would lose writes.',
    'Stop the process that uses it (e.g. the running service) and try again, set DATA_DIR to another folder,',
    'or use PostgreSQL (DATABASE_URL) to run the service and the command-line tools side by side.',
  ];
  if (reason === 'other-host') {
    lines.push(`The holder runs on another host and cannot be checked from here: if nothing there uses the folder, delete ${lockFile}.`);
  }
  return lines.join('\n');
}

export interface DataDirLock {
  readonly dataDir: string;
  readonly lockFile: string;
  /** Removes the lock file if it is still this holding's; idempotent. */
  release(): void;
}

/** Folders (real paths) this process holds, for the second-open check and the exit handler. */
const held = new Map<string, DataDirLock>();
let exitHandlerInstalled = false;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function processStartOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) is parenthesized and may contain spaces: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

function programName(): string {
  const script = process.argv[1];
  if (!script) return '';
  const rel = relative(process.cwd(), script);
  return rel.startsWith('..') ? script : rel;
}

/**
 * Creates `file` with `content` only if it does not exist; false when it does. The content
 * is written to a private file first and hard-linked into place, so the lock file is never
 * seen empty or half written: a reader that finds it unreadable is looking at debris. On a
 * filesystem without hard links it falls back to O_EXCL and a write (readers then retry
 * a file that is still empty, see readLock).
 */
function createExclusive(file: string, content: string): boolean {
  const staging = `${file}.${process.pid}.${randomUUID()}.tmp`;
  writeFileSync(staging, content, { flag: 'wx', mode: 0o644 });
  try {
    linkSync(staging, file);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP') throw error;
  } finally {
    unlinkQuietly(staging);
  }
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  return true;
}

type ReadResult = { kind: 'missing' } | { kind: 'holder'; holder: DataDirLockHolder } | { kind: 'unreadable' };

function parseHolder(text: string): DataDirLockHolder | null {
  try {
    const value = JSON.parse(text) as Partial<DataDirLockHolder>;
    if (typeof value.pid !== 'number' || !Number.isInteger(value.pid) || value.pid <= 0) return null;
    if (typeof value.hostname !== 'string' || typeof value.token !== 'string') return null;
    return {
      pid: value.pid,
      hostname: value.hostname,
      processStart: typeof value.processStart === 'string' ? value.processStart : null,
      program: typeof value.program === 'string' ? value.program : '',
      since: typeof value.since === 'string' ? value.since : '?',
      token: value.token,
    };
  } catch {
    return null;
  }
}

/**
 * Reads a lock file. Where `createExclusive` had to fall back to O_EXCL, a new file is empty
 * until its single write lands: an unparseable file is read again a few times before it
 * counts as debris (a holder killed between create and write).
 */
function readLock(file: string): ReadResult {
  for (let attempt = 0; ; attempt++) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
      throw error;
    }
    const holder = parseHolder(text);
    if (holder) return { kind: 'holder', holder };
    if (attempt >= 4) return { kind: 'unreadable' };
    sleepSync(25);
  }
}

function liveness(holder: DataDirLockHolder): 'alive' | 'gone' | 'other-host' {
  if (holder.hostname !== hostname()) return 'other-host';
  // Our own pid on a lock we do not hold: a previous life of this pid (a container's pid 1).
  if (holder.pid === process.pid) return 'gone';
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'ESRCH' ? 'gone' : 'alive';
  }
  if (holder.processStart !== null) {
    const start = processStartOf(holder.pid);
    if (start !== null && start !== holder.processStart) return 'gone';
  }
  return 'alive';
}

function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function sameHolding(a: ReadResult, b: ReadResult): boolean {
  if (a.kind === 'holder' && b.kind === 'holder') return a.holder.token === b.holder.token;
  return a.kind === b.kind;
}

/**
 * Takes the folder's lock or throws DataDirLockedError at once. `dataDir` must exist.
 */
export function lockDataDir(dataDirPath: string): DataDirLock {
  const dataDir = realpathSync(dataDirPath);
  const lockFile = join(dataDir, LOCK_FILE_NAME);
  const breakFile = `${lockFile}.break`;
  const already = held.get(dataDir);
  if (already) throw new DataDirLockedError(dataDir, lockFile, readHolderOrNull(lockFile), 'this-process');

  const me: DataDirLockHolder = {
    pid: process.pid,
    hostname: hostname(),
    processStart: processStartOf(process.pid),
    program: programName(),
    since: new Date().toISOString(),
    token: randomUUID(),
  };
  const content = `${JSON.stringify(me)}\n`;
  // Each round either takes the lock, refuses, or removes one dead holding; a bound keeps a
  // pathological filesystem from spinning forever.
  for (let round = 0; round < 200; round++) {
    if (createExclusive(lockFile, content)) return register(dataDir, lockFile, me.token);
    const seen = readLock(lockFile);
    if (seen.kind === 'missing') continue;
    if (seen.kind === 'holder') {
      const state = liveness(seen.holder);
      if (state === 'alive') throw new DataDirLockedError(dataDir, lockFile, seen.holder, 'other-process');
      if (state === 'other-host') throw new DataDirLockedError(dataDir, lockFile, seen.holder, 'other-host');
    }
    // The holding is dead. Only the process that owns the break file may delete it, and only
    // if it is still the same holding it judged dead.
    if (!createExclusive(breakFile, content)) {
      const breaker = readLock(breakFile);
      if (breaker.kind === 'holder' && liveness(breaker.holder) === 'alive') sleepSync(10);
      else if (breaker.kind !== 'missing') unlinkQuietly(breakFile);
      continue;
    }
    try {
      if (sameHolding(readLock(lockFile), seen)) unlinkQuietly(lockFile);
    } finally {
      unlinkQuietly(breakFile);
    }
  }
  throw new DataDirLockedError(dataDir, lockFile, readHolderOrNull(lockFile), 'contended');
}

function readHolderOrNull(file: string): DataDirLockHolder | null {
  const result = readLock(file);
  return result.kind === 'holder' ? result.holder : null;
}

function register(dataDir: string, lockFile: string, token: string): DataDirLock {
  const lock: DataDirLock = {
    dataDir,
    lockFile,
    release() {
      if (held.get(dataDir) !== lock) return;
      held.delete(dataDir);
      const current = readLock(lockFile);
      if (current.kind === 'holder' && current.holder.token === token) unlinkQuietly(lockFile);
    },
  };
  held.set(dataDir, lock);
  if (!exitHandlerInstalled) {
    exitHandlerInstalled = true;
    // A process that exits without closing its database (process.exit, an uncaught error)
    // leaves no lock behind; one killed outright leaves a lock that the next open breaks.
    process.on('exit', () => {
      for (const each of [...held.values()]) {
        try {
          each.release();
        } catch {
          // exiting anyway; the next open detects the dead holder
        }
      }
    });
  }
  return lock;
}
