/**
 * `npm run migrate`: brings the database to the latest schema.
 * DATABASE_URL set → PostgreSQL; else PGlite in DATA_DIR (default `.data/pglite`).
 */
import { migrateToLatest, openDatabase } from '@claimtrail/event-store';
import { migrations } from './index.ts';

async function main(): Promise<void> {
  const databaseUrl = process.env.DATABASE_URL || undefined;
  const dataDir = process.env.DATA_DIR || '.data/pglite';
  const database = await openDatabase({ databaseUrl, dataDir });
  try {
    const applied = await migrateToLatest(database.db, migrations);
    const where = databaseUrl ? 'PostgreSQL' : `PGlite (${dataDir})`;
    if (applied.length === 0) console.log(`${where}: schema is up to date`);
    for (const name of applied) console.log(`${where}: applied ${name}`);
  } finally {
    await database.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
