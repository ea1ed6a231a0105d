/**
 * `npm run seed`: writes the seed desk and the seed claims through ClaimService (the same
 * pipeline as the HTTP API: events + projections + idempotency keys), against
 * DATABASE_URL (PostgreSQL) or the embedded database in DATA_DIR (default .data/pglite).
 * Safe to run again: every command carries a deterministic idempotency key, so a second
 * run appends nothing. The embedded database allows one process: with the service running
 * on it this refuses (exit 3) before touching the folder.
 */
import { parseArgs } from 'node:util';
import { ClaimService } from '@claimtrail/claims';
import { ensureUsers } from '@claimtrail/identity';
import {
  DataDirLockedError,
  DatabaseOpenError,
  createEventStore,
  migrateToLatest,
  openDatabase,
  type DatabaseConfig,
} from '@claimtrail/event-store';
import { migrations } from '@claimtrail/migrations';
import { SEED_CLAIMS, SEED_USERS, runSeed } from './index.ts';

const USAGE = `usage: npm run -s seed [-- --help]
  writes the seed desk and claims (again: appends nothing)
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
  // DIRECT_DATABASE_URL (PostgreSQL itself) when DATABASE_URL is a transaction pooler's address: it migrates first.
  const databaseUrl = process.env.DIRECT_DATABASE_URL || process.env.DATABASE_URL;
  const config: DatabaseConfig = databaseUrl ? { databaseUrl } : { dataDir: process.env.DATA_DIR ?? '.data/pglite' };
  const database = await openDatabase(config);
  const store = createEventStore(database);
  try {
    await migrateToLatest(database.db, migrations);
    await ensureUsers(database.db, Object.values(SEED_USERS));
    const service = new ClaimService(store);
    const result = await runSeed((input) => service.execute(input));
    const appended = result.commands - result.replayed;
    console.log(
      `seed: ${SEED_CLAIMS.length} claims, ${result.commands} commands, ${appended} applied, ${result.replayed} already present` +
        ` (${database.kind}${config.databaseUrl ? '' : ` ${config.dataDir}`})`,
    );
    for (const claim of result.claims) console.log(`  ${claim.expectedState.padEnd(12)} ${claim.id}  ${claim.slug}`);
    return 0;
  } finally {
    await store.close();
    await database.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof DataDirLockedError || error instanceof DatabaseOpenError) {
      console.error(error.message);
      process.exitCode = error instanceof DataDirLockedError ? 3 : 1;
      return;
    }
    console.error('seed failed:', error);
    process.exitCode = 1;
  },
);
