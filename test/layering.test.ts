/**
 * The layering rules of .dependency-cruiser.cjs (the domain imports nothing, the event store
 * nothing of claims, no import circle, routes never import routes, CLIs and benchmarks never
 * import routes, …) hold over the whole tree. dependency-cruiser runs as its own process, as
 * a developer would run it: a violation fails this test with the tool's own explanation.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ICruiseResult } from 'dependency-cruiser';
import { describe, expect, it } from 'vitest';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const DEPCRUISE = fileURLToPath(new URL('../node_modules/dependency-cruiser/bin/dependency-cruiser.mjs', import.meta.url));
const CRUISED = ['packages', 'services', 'seeds', 'migrations', 'test'];
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function depcruise(outputType: 'json' | 'err-long'): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [DEPCRUISE, '--config', '.dependency-cruiser.cjs', '--output-type', outputType, ...CRUISED],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('layering (dependency-cruiser)', () => {
  it('runs on a Node.js that dependency-cruiser supports', () => {
    expect(NODE_MAJOR, `dependency-cruiser needs Node.js 22 or later; this is ${process.version}`).toBeGreaterThanOrEqual(22);
  });

  it.skipIf(NODE_MAJOR < 22)('every rule holds', { timeout: 180_000 }, async () => {
    const run = await depcruise('json');
    expect(run.stderr, run.stderr).toBe('');
    const result = JSON.parse(run.stdout) as ICruiseResult;

    // Workspace packages must resolve to their source; if resolution broke, the rules about
    // who imports whom would pass without checking anything.
    const app = result.modules.find((module) => module.source === 'services/api/src/app.ts');
    expect(app?.dependencies.map((dependency) => dependency.resolved)).toContain('packages/claims/src/index.ts');

    if (result.summary.violations.length > 0) {
      // Rerun for the tool's readable report: each violation with the rule's reason.
      const report = await depcruise('err-long');
      expect.fail(`${result.summary.violations.length} layering violation(s):\n${report.stdout}${report.stderr}`);
    }
    expect(run.status).toBe(0);
  });
});
