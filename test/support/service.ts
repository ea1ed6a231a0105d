/**
 * The service as a real child process (`node --import tsx services/api/src/server.ts`):
 * started on a free port against a test database, its stdout/stderr captured whole (the
 * token-leak test searches them), killed with any signal. Every child is tracked so a
 * failing test cannot leave one running: `stopAllServices()` in afterAll, and SIGKILL on
 * the worker's exit as a last resort.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export interface ServiceOptions {
  databaseUrl: string;
  /** Extra environment (DATABASE_POOL_SIZE, RATE_LIMIT_MAX, LOG_LEVEL, …). */
  env?: Record<string, string>;
  port?: number;
  /** How long to wait for /healthz (default 90 s: tsx compiles the tree on a cold start). */
  startTimeoutMs?: number;
}

export interface Service {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Exit code/signal once it exited, else null. */
  exited(): { code: number | null; signal: NodeJS.Signals | null } | null;
  /** Log lines at level error (50) or above, for assertion messages. */
  errorLines(): string;
  /** Demo tokens printed in the start banner (DEMO_TOKENS=1), by role. */
  demoTokens(): Record<string, string>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function startService(options: ServiceOptions): Promise<Service> {
  const port = options.port ?? (await freePort());
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/api/src/server.ts'], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      NODE_ENV: 'test',
      DATABASE_URL: options.databaseUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      DEMO_TOKENS: '0',
      SEED: '0',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const chunks: string[] = [];
  child.stdout!.setEncoding('utf8').on('data', (d: string) => chunks.push(d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => chunks.push(d));
  let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exitedPromise = new Promise<void>((resolveExit) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      running.delete(child);
      resolveExit();
    });
  });
  const url = `http://127.0.0.1:${port}`;
  const service: Service = {
    url,
    port,
    pid: child.pid ?? -1,
    child,
    output: () => chunks.join(''),
    exited: () => exit,
    errorLines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => /"level":(50|60)/.test(l) || /^\s*(Error|TypeError|RangeError)/.test(l))
        .join('\n')
        .slice(-6000),
    demoTokens() {
      const tokens: Record<string, string> = {};
      for (const match of chunks.join('').matchAll(/^\s+(fact_checker|editor|auditor|admin)\s+(ct_\S+)\s*$/gm)) {
        tokens[match[1]!] = match[2]!;
      }
      return tokens;
    },
    async kill(signal = 'SIGTERM') {
      if (exit) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exitedPromise;
      clearTimeout(timer);
    },
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 90_000);
  for (;;) {
    if (exit) throw new Error(`service exited during start (${JSON.stringify(exit)}):\n${service.output().slice(-4000)}`);
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await service.kill('SIGKILL');
      throw new Error(`service did not answer /healthz in time:\n${service.output().slice(-4000)}`);
    }
    await sleep(100);
  }
  return service;
}

export async function stopAllServices(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolveStop) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolveStop();
          child.once('exit', () => resolveStop());
          child.kill('SIGKILL');
        }),
    ),
  );
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs` (a hang detector, not a timing assertion). */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    }
    await sleep(everyMs);
  }
}
