// The registry reachable here serves turbo's Linux binaries but not its macOS/Windows ones,
// so `npm install` leaves them out of package-lock.json and `npm ci` then refuses the lock
// as out of sync. Platform-restricted optional entries are skipped by `npm ci` on Linux
// without being fetched, so recording them (without a tarball) keeps `npm ci` working.
// Run after every `npm install` that changes the lockfile.
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const turbo = lock.packages['node_modules/turbo'];
if (!turbo) throw new Error('turbo is not in package-lock.json');
const platforms = { 'darwin-64': ['darwin', 'x64'], 'darwin-arm64': ['darwin', 'arm64'], 'windows-64': ['win32', 'x64'], 'windows-arm64': ['win32', 'arm64'] };
for (const [name, [os, cpu]] of Object.entries(platforms)) {
  const key = `node_modules/@turbo/${name}`;
  if (lock.packages[key]?.resolved) continue;
  lock.packages[key] = { version: turbo.version, cpu: [cpu], dev: true, license: 'MIT', optional: true, os: [os] };
}
const root = lock.packages[''];
const rest = Object.keys(lock.packages).filter((k) => k !== '').sort();
lock.packages = Object.fromEntries([['', root], ...rest.map((k) => [k, lock.packages[k]])]);
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log('package-lock.json: turbo platform entries recorded');
