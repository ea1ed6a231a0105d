// temporary profiling driver (not committed): starts server with --cpu-prof, runs notes + get load
import { spawn } from 'node:child_process';
import autocannon from 'autocannon';
import { createTestDatabase } from '@claimtrail/testing';
const database = await createTestDatabase('prof');
const mode = process.env.MODE ?? 'write';
const child = spawn(process.execPath, ['--cpu-prof', '--cpu-prof-dir=/tmp/ct/prof', '--import', 'tsx', 'services/api/src/server.ts'], {
  cwd: '/work/main',
  env: { ...process.env, DATABASE_URL: database.url, PORT: '0', DEMO_TOKENS: '1', SEED: '0', RATE_LIMIT_MAX: '0', LOG_LEVEL: process.env.LL ?? 'warn', DATABASE_POOL_SIZE: '16' },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let out = '';
child.stdout!.on('data', (d) => (out += d));
child.stderr!.on('data', (d) => (out += d));
while (!/listening on (http:\/\/\S+)/.test(out)) await new Promise((r) => setTimeout(r, 100));
await new Promise((r) => setTimeout(r, 300));
const url = /listening on (http:\/\/\S+)/.exec(out)![1]!;
const token = (role: string) => new RegExp(`^\\s+${role}\\s+(\\S+)`, 'm').exec(out)![1]!;
const fc = { authorization: `Bearer ${token('fact_checker')}`, 'content-type': 'application/json' };
const ids: string[] = [];
for (let i = 0; i < 200; i++) {
  const r = await fetch(`${url}/claims`, { method: 'POST', headers: fc, body: JSON.stringify({ text: `Benchmark claim ${i} about Tyotkino`, tags: ['bench'] }) });
  ids.push(((await r.json()) as { id: string }).id);
}
let next = 0;
if (mode === 'write') {
  const r = await autocannon({ url, connections: 32, duration: Number(process.env.D ?? 8), requests: [{ method: 'POST', headers: fc, body: JSON.stringify({ body: 'a note of ordinary length for the baseline' }), setupRequest: (q) => ({ ...q, path: `/claims/${ids[next++ % ids.length]}/notes` }) }] });
  console.log('writes', r.requests.average, r.non2xx, r.errors);
} else {
  const r = await autocannon({ url: `${url}/claims/${ids[0]}`, connections: 32, duration: Number(process.env.D ?? 8), headers: { authorization: `Bearer ${token('auditor')}` } });
  console.log('reads', r.requests.average, r.non2xx, r.errors);
}
child.kill('SIGINT');
await new Promise((r) => child.on('exit', r));
await database.drop();
