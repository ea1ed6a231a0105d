/**
 * PgBouncer in front of the test server, as a deployment runs it: its own configuration in
 * a temporary folder (pid file, log and auth file there, no Unix socket, nothing under /etc
 * or /var), listening on a loopback port, in the foreground as a child process. PgBouncer
 * refuses to run as root: as root the child runs as the `postgres` user (Node's spawn
 * uid/gid) and the folder is handed to it. Used by test/pgbouncer.test.ts and
 * `npm run bench:pooler`; the configuration is the one docs/scaling.md shows.
 */
import { execFileSync } from 'node:child_process';
import { chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBinary, startDaemon } from './daemon.ts';
import { freePort } from './service.ts';

export interface PgBouncerOptions {
  /** The PostgreSQL server behind it. */
  upstream: { host: string; port: number };
  /** Clients are only let in as this user (trust authentication, listed in the auth file). */
  user: string;
  /** Server connections per database/user pair (PgBouncer's default_pool_size). */
  poolSize: number;
  poolMode?: 'transaction' | 'session';
  port?: number;
}

export interface PgBouncer {
  readonly port: number;
  readonly dir: string;
  readonly config: string;
  /** `url` with its host and port replaced by PgBouncer's: the same database through the pooler. */
  urlFor(url: string): string;
  /** The log so far (for assertion messages). */
  log(): Promise<string>;
  stop(): Promise<void>;
}

/** The pgbouncer binary: PGBOUNCER_BIN, else Debian's /usr/sbin/pgbouncer, else `pgbouncer` on PATH (null when none). */
export function pgbouncerBinary(): string | null {
  return findBinary('PGBOUNCER_BIN', 'pgbouncer');
}

/** The configuration: everything PgBouncer writes goes under `dir`. */
export function pgbouncerConfig(options: Required<PgBouncerOptions> & { dir: string }): string {
  const { dir, port, upstream, user, poolSize, poolMode } = options;
  return `;; claimtrail: PgBouncer in ${poolMode} mode in front of PostgreSQL.
[databases]
;; Every database of the server, under its own name.
* = host=${upstream.host} port=${upstream.port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
pool_mode = ${poolMode}
auth_type = trust
auth_file = ${dir}/users.txt
default_pool_size = ${poolSize}
max_client_conn = 1000
pidfile = ${dir}/pgbouncer.pid
logfile = ${dir}/pgbouncer.log
;; The admin console (SHOW STATS) for the test's own checks.
admin_users = ${user}
`;
}

/** As root: the uid and gid of `postgres`, which PgBouncer runs as (it refuses root). */
function unprivilegedUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

export async function startPgBouncer(options: PgBouncerOptions): Promise<PgBouncer> {
  const binary = pgbouncerBinary();
  if (binary === null) throw new Error("pgbouncer is not installed (.ci/run installs Debian's pgbouncer)");
  const dir = await mkdtemp(join(tmpdir(), 'claimtrail-pgbouncer-'));
  const port = options.port ?? (await freePort());
  const config = pgbouncerConfig({ poolMode: 'transaction', ...options, port, dir });
  const file = join(dir, 'pgbouncer.ini');
  await writeFile(file, config);
  await writeFile(join(dir, 'users.txt'), `"${options.user}" ""\n`);
  const runAs = unprivilegedUser();
  if (runAs) {
    for (const path of [dir, file, join(dir, 'users.txt')]) await chown(path, runAs.uid, runAs.gid);
  }
  const log = () => readFile(join(dir, 'pgbouncer.log'), 'utf8').catch(() => '');
  const daemon = await startDaemon({ name: 'pgbouncer', binary, args: [file], ...(runAs ? { spawnOptions: runAs } : {}), port, log });
  return {
    port,
    dir,
    config,
    urlFor(url: string) {
      const through = new URL(url);
      through.hostname = '127.0.0.1';
      through.port = String(port);
      return through.toString();
    },
    log,
    async stop() {
      await daemon.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
