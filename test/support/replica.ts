/**
 * A real streaming replica of the test server (test/read-replica.test.ts, npm run
 * bench:replica): `pg_basebackup -R -X stream` from the running primary into a temporary
 * folder, then its own server started with `pg_ctl` on another loopback port. Every
 * database of the primary — also one created later — is on it, by replication.
 *
 * PostgreSQL refuses to run as root: run as root (as .ci/run does), the replica's files
 * belong to the `postgres` user and its commands run as that user (runuser). The primary
 * must allow replication connections from 127.0.0.1 (.ci/run adds the pg_hba.conf line).
 *
 * The replica streams from a replication slot of its own (`ct_replica_<pid>_<n>`), so the
 * primary keeps the WAL it needs while it is stopped and it can come back; `destroy()`
 * drops the slot. Slots of processes that died before they could are dropped by the next
 * `createReplica`.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { serverUrl } from '@claimtrail/testing';
import { freePort } from './service.ts';

const run = promisify(execFile);
const SLOT_PREFIX = 'ct_replica_';
let slots = 0;

export interface Replica {
  readonly port: number;
  /** The temporary folder (data directory, log, socket). */
  readonly dir: string;
  /** The URL of `database` on the replica (the primary's user). */
  url(database: string): string;
  start(): Promise<void>;
  /** `immediate`: the server stops at once, as if it crashed. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Stops applying WAL (it keeps receiving it) until `resumeReplay`; resolves once paused. */
  pauseReplay(): Promise<void>;
  resumeReplay(): Promise<void>;
  /** Resolves once the replica has `position` in `database`'s events (or throws after timeoutMs). */
  waitForPosition(database: string, position: number, timeoutMs?: number): Promise<void>;
  /** Stops the server, removes its folder and drops its slot on the primary. */
  destroy(): Promise<void>;
}

/** Where the primary's version keeps pg_basebackup and pg_ctl (Debian: /usr/lib/postgresql/<major>/bin). */
async function binDir(primary: string): Promise<string> {
  const [row] = await sqlOn(primary, 'select current_setting(\'server_version_num\')::int / 10000 as major');
  const candidates = [process.env.PG_BINDIR, `/usr/lib/postgresql/${row.major}/bin`].filter((dir): dir is string => !!dir);
  const found = candidates.find((dir) => existsSync(join(dir, 'pg_basebackup')) && existsSync(join(dir, 'pg_ctl')));
  if (!found) throw new Error(`pg_basebackup and pg_ctl of PostgreSQL ${row.major} not found in ${candidates.join(', ')} (set PG_BINDIR)`);
  return found;
}

async function sqlOn(url: string, text: string, params: unknown[] = []): Promise<any[]> {
  const client = new pg.Client({ connectionString: url, application_name: 'replica-support' });
  await client.connect();
  try {
    return (await client.query(text, params)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Drops inactive slots left by test processes that are gone. */
async function dropOrphanSlots(primary: string): Promise<void> {
  const rows = await sqlOn(primary, 'select slot_name from pg_replication_slots where not active and slot_name like $1', [`${SLOT_PREFIX}%`]);
  for (const { slot_name: name } of rows) {
    const pid = Number(/^ct_replica_(\d+)_/.exec(name)?.[1]);
    if (Number.isInteger(pid) && !isAlive(pid)) {
      await sqlOn(primary, 'select pg_drop_replication_slot($1) where exists (select 1 from pg_replication_slots where slot_name = $1 and not active)', [name]).catch(() => undefined);
    }
  }
}

/** Makes a streaming replica of the test server and starts it. */
export async function createReplica(primary = serverUrl()): Promise<Replica> {
  const bin = await binDir(primary);
  await dropOrphanSlots(primary);
  const asRoot = process.getuid?.() === 0;
  const postgresUid = asRoot ? Number(execFileSync('id', ['-u', 'postgres']).toString().trim()) : undefined;
  const postgresGid = asRoot ? Number(execFileSync('id', ['-g', 'postgres']).toString().trim()) : undefined;
  const command = (tool: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]) : run(join(bin, tool), args);

  const dir = await mkdtemp(join(tmpdir(), 'ct-replica-'));
  if (asRoot) await chown(dir, postgresUid!, postgresGid!);
  await chmod(dir, 0o700);
  const data = join(dir, 'data');
  const port = await freePort();
  const source = new URL(primary);
  const slot = `${SLOT_PREFIX}${process.pid}_${++slots}`;
  let created = false;
  let running = false;
  const stopOnExit = () => {
    if (!running) return;
    try {
      execFileSync(asRoot ? 'runuser' : join(bin, 'pg_ctl'), [...(asRoot ? ['-u', 'postgres', '--', join(bin, 'pg_ctl')] : []), '-D', data, '-m', 'immediate', 'stop'], {
        stdio: 'ignore',
      });
    } catch {
      // Already stopped.
    }
  };
  process.once('exit', stopOnExit);

  const replica: Replica = {
    port,
    dir,
    url(database) {
      const url = new URL(primary);
      url.hostname = '127.0.0.1';
      url.port = String(port);
      url.pathname = `/${database}`;
      return url.toString();
    },
    async start() {
      await command('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start']);
      running = true;
    },
    async stop(mode = 'fast') {
      if (!running) return;
      running = false;
      await command('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']);
    },
    async pauseReplay() {
      const url = replica.url('postgres');
      await sqlOn(url, 'select pg_wal_replay_pause()');
      for (let i = 0; i < 1000; i++) {
        const [row] = await sqlOn(url, 'select pg_get_wal_replay_pause_state() as state');
        if (row.state === 'paused') return;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error('replay did not pause');
    },
    async resumeReplay() {
      await sqlOn(replica.url('postgres'), 'select pg_wal_replay_resume()');
    },
    async waitForPosition(database, position, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let head = -1;
      while (Date.now() < deadline) {
        try {
          const [row] = await sqlOn(replica.url(database), 'select coalesce(max(position), 0)::bigint as head from events');
          head = Number(row.head);
          if (head >= position) return;
        } catch {
          // The database or its events table has not been replayed yet.
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      throw new Error(`the replica did not reach position ${position} of ${database} within ${timeoutMs} ms (at ${head})`);
    },
    async destroy() {
      await replica.stop('immediate').catch(() => undefined);
      process.removeListener('exit', stopOnExit);
      await rm(dir, { recursive: true, force: true });
      if (created) await sqlOn(primary, 'select pg_drop_replication_slot($1)', [slot]).catch(() => undefined);
    },
  };

  try {
    const env = source.password ? { ...process.env, PGPASSWORD: decodeURIComponent(source.password) } : process.env;
    const args = ['-h', source.hostname, '-p', source.port || '5432', '-U', decodeURIComponent(source.username || 'postgres'), '-D', data];
    // -R: standby.signal and primary_conninfo (with the slot); -X stream: WAL during the copy too;
    // -c fast: an immediate checkpoint instead of waiting for a spread one.
    const basebackup = [...args, '-R', '-X', 'stream', '-c', 'fast', '-C', '-S', slot];
    try {
      await (asRoot
        ? run('runuser', ['-u', 'postgres', '--', join(bin, 'pg_basebackup'), ...basebackup], { env })
        : run(join(bin, 'pg_basebackup'), basebackup, { env }));
    } catch (error) {
      const stderr = String((error as { stderr?: unknown }).stderr ?? '');
      if (/replication connection/.test(stderr)) {
        throw new Error(
          `the primary refuses replication connections from 127.0.0.1: add "host replication all 127.0.0.1/32 trust" to its pg_hba.conf and reload (.ci/run does)\n${stderr}`,
        );
      }
      throw error;
    }
    created = true;
    // Hot standby needs the first five at least as high as on the primary; the others make
    // the replica plan and cache like the primary, so the two compare fairly.
    const settings = await sqlOn(
      primary,
      `select name, current_setting(name) as value from unnest(array['max_connections', 'max_worker_processes', 'max_wal_senders',
         'max_prepared_transactions', 'max_locks_per_transaction', 'shared_buffers', 'work_mem', 'effective_cache_size',
         'random_page_cost', 'jit']) as name`,
    );
    const conf = [
      `port = ${port}`,
      `listen_addresses = '127.0.0.1'`,
      `unix_socket_directories = '${dir}'`,
      'hot_standby = on',
      ...settings.map((row) => `${row.name} = '${row.value}'`),
    ];
    const files: Array<[string, string]> = [
      [join(data, 'postgresql.conf'), conf.join('\n') + '\n'],
      [join(data, 'pg_hba.conf'), 'local all all trust\nhost all all 127.0.0.1/32 trust\n'],
    ];
    for (const [path, text] of files) {
      await writeFile(path, text);
      if (asRoot) await chown(path, postgresUid!, postgresGid!);
    }
    await replica.start();
    return replica;
  } catch (error) {
    await replica.destroy();
    throw error;
  }
}

/** Whether this machine can make a replica: the primary's pg_basebackup and pg_ctl are installed. */
export async function replicaToolsAvailable(primary = serverUrl()): Promise<boolean> {
  try {
    await binDir(primary);
    return true;
  } catch {
    return false;
  }
}
