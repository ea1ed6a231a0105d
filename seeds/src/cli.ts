/**
 * `npm run seed`: writes the seed desk and the seed claims through ClaimService (the same
 * pipeline as the HTTP API: events + projections + idempotency keys), against
 * DATABASE_URL (PostgreSQL) or the embedded database in DATA_DIR (default .data/pglite).
 * Safe to run again: every command carries a deterministic idempotency key, so a second
 * run appends nothing.
 */
import { ClaimService, ensureUsers } from '@claimtrail/claims';
import { createEventStore, migrateToLatest, openDatabase, type DatabaseConfig } from '@claimtrail/event-store';
import { migrations } from '@claimtrail/migrations';
import { SEED_CLAIMS, SEED_USERS, runSeed } from './index.ts';

async function main(): Promise<void> {
  const config: DatabaseConfig = process.env.DATABASE_URL
    ? { databaseUrl: process.env.DATABASE_URL }
    : { dataDir: process.env.DATA_DIR ?? '.data/pglite' };
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
  } finally {
    await store.close();
    await database.close();
  }
}

main().catch((error: unknown) => {
  console.error('seed failed:', error);
  process.exitCode = 1;
});
