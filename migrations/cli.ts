/**
 * `npm run migrate`: brings the database to the latest schema.
 * DATABASE_URL set → PostgreSQL; else PGlite in DATA_DIR (default `.data/pglite`), which
 * allows one process: with the service running on it this refuses (exit 3).
 */
import { parseArgs } from 'node:util';
import { DataDirLockedError, migrateToLatest, openDatabase } from '@claimtrail/event-store';
import { migrations } from './index.ts';

const USAGE = `usage: npm run -s migrate [-- --help]
  brings the database to the latest schema
exit codes: 0 fine, 1 failed, 2 usage error, 3 the embedded data folder is in use
  (stop the service, or use PostgreSQL)
environment: DATABASE_URL (PostgreSQL; DIRECT_DATABASE_URL instead when set) or DATA_DIR (embedded, default .data/pglite)`;

async function main(): Promise<number> {
  let help: boolean | undefined;
  try {
    ({ help } = parseArgs({ args: process.argv.slice(2), options: { help: { type: 'boolean', short: 'h' } }, strict: true }).values);
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (help) {
    console.log(USAGE);
    return 0;
  }
  // DIRECT_DATABASE_URL (PostgreSQL itself) when DATABASE_URL is a transaction pooler's address.
  const databaseUrl = process.env.DIRECT_DATABASE_URL || process.env.DATABASE_URL || undefined;
  const dataDir = process.env.DATA_DIR || '.data/pglite';
  const database = await openDatabase({ databaseUrl, dataDir });
  try {
    const applied = await migrateToLatest(database.db, migrations);
    const where = databaseUrl ? 'PostgreSQL' : `PGlite (${dataDir})`;
    if (applied.length === 0) console.log(`${where}: schema is up to date`);
    for (const name of applied) console.log(`${where}: applied ${name}`);
    return 0;
  } finally {
    await database.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = error instanceof DataDirLockedError ? 3 : 1;
  },
);
