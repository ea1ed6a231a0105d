/**
 * A real server program (nginx, PgBouncer) run by a test as a foreground child process:
 * where its binary is, starting it until its loopback port answers, stopping it. The
 * children left running when the test process exits are killed.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { sleep } from './service.ts';

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** `envVariable` when set, else Debian's /usr/sbin/<name>, else `name` on PATH (null when none). */
export function findBinary(envVariable: string, name: string): string | null {
  const configured = process.env[envVariable];
  if (configured) return configured;
  if (existsSync(`/usr/sbin/${name}`)) return `/usr/sbin/${name}`;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface DaemonOptions {
  /** For error messages. */
  name: string;
  binary: string;
  args: readonly string[];
  spawnOptions?: SpawnOptions;
  /** The loopback port it listens on once started. */
  port: number;
  /** Its log so far, added to the error when it does not start. */
  log(): Promise<string>;
}

/** Starts the program and resolves once its port answers (10 s at most); `stop()` is SIGTERM, then SIGKILL after 5 s. */
export async function startDaemon(options: DaemonOptions): Promise<{ stop(): Promise<void> }> {
  const child = spawn(options.binary, options.args, { ...options.spawnOptions, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  child.stdout!.on('data', (d) => (output += String(d)));
  child.stderr!.on('data', (d) => (output += String(d)));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      running.delete(child);
      resolve();
    });
  });
  const deadline = Date.now() + 10_000;
  while (!(await listening(options.port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${options.name} did not start: ${output}\n${await options.log()}`);
    }
    await sleep(50);
  }
  return {
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        // SIGTERM: nginx's fast shutdown, PgBouncer's immediate one (clients are closed, not waited for).
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
