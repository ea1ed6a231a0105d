/**
 * A process that takes a data folder's lock (test helper for data-dir-lock.test.ts):
 * prints `ready`, waits for the `go` file so every racer calls lockDataDir at the same
 * moment, then prints `held` or `refused <message>`, and keeps what it got until killed.
 *
 *   node --import tsx lock-racer.ts <dataDir> <goFile>
 */
import { existsSync } from 'node:fs';
import { lockDataDir } from '../../src/data-dir-lock.ts';

const [dataDir, goFile] = process.argv.slice(2) as [string, string];
process.stdout.write('ready\n');
while (!existsSync(goFile)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
try {
  lockDataDir(dataDir);
  process.stdout.write('held\n');
} catch (error) {
  process.stdout.write(`refused ${JSON.stringify((error as Error).message)}\n`);
}
setInterval(() => undefined, 60_000);
