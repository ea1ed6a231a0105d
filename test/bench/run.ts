/**
 * `npm run bench [store|api|ws|audit|scale|replica|sharded|pooler|history|transparency|webhooks …]` — runs the named benchmarks (all by default) one
 * after another, so they never compete for the machine's two cores, and prints each
 * benchmark's final JSON line again at the end as one summary.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPTS = {
  store: 'packages/event-store/bench/store.ts',
  api: 'services/api/bench/api.ts',
  ws: 'services/api/bench/ws.ts',
  history: 'services/api/bench/history.ts',
  audit: 'services/api/bench/audit.ts',
  scale: 'services/api/bench/scale.ts',
  replica: 'services/api/bench/replica.ts',
  sharded: 'packages/event-store/bench/sharded.ts',
  pooler: 'services/api/bench/pooler.ts',
  transparency: 'packages/event-store/bench/tree.ts',
  webhooks: 'services/api/bench/webhooks.ts',
} as const;
type BenchName = keyof typeof SCRIPTS;

const root = fileURLToPath(new URL('../..', import.meta.url));
const requested = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
const unknown = requested.filter((name) => !(name in SCRIPTS));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; choose from ${Object.keys(SCRIPTS).join(', ')}`);
  process.exit(2);
}
const names = (requested.length > 0 ? requested : Object.keys(SCRIPTS)) as BenchName[];

const summary: Record<string, unknown> = {};
for (const name of names) {
  console.log(`\n=== bench:${name}`);
  const lastJson = await run(SCRIPTS[name]);
  summary[name] = lastJson ?? { error: 'no JSON line printed' };
}
console.log('\n=== summary');
console.log(JSON.stringify(summary));

function run(script: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: process.env,
    });
    let last: unknown;
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const trimmed = line.trim();
        if (!trimmed.startsWith('{')) continue;
        try {
          last = JSON.parse(trimmed);
        } catch {
          // a table row that happens to start with a brace; not the summary line
        }
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${script} exited with ${code}`));
      else resolve(last);
    });
  });
}
