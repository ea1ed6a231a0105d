import { Migrator, type Kysely, type Migration } from 'kysely';

/**
 * Applies every pending migration in name order. Returns the names applied (empty when
 * up to date); throws the first failure (Kysely runs each migration in a transaction and
 * serializes concurrent migrators with a lock, so several instances may start at once).
 */
export async function migrateToLatest(db: Kysely<any>, migrations: Record<string, Migration>): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((result) => result.status === 'Error');
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(`migration ${failed?.migrationName ?? '?'} failed: ${detail}`, { cause: error });
  }
  return (results ?? []).filter((result) => result.status === 'Success').map((result) => result.migrationName);
}
