import { Migrator, type Kysely, type Migration } from 'kysely';
import type { NamedMigration } from './schema/index.ts';

/**
 * One set of migrations keyed by name, from several ordered lists (the store's own, then
 * those of the packages built on it). Kysely runs migrations in name order, whatever list
 * they came from; so each list must already be in name order (else it would not run in the
 * order it is written) and no name may appear twice (one would silently replace the other).
 */
export function migrationsByName(...lists: readonly (readonly NamedMigration[])[]): Record<string, Migration> {
  const all: NamedMigration[] = [];
  for (const list of lists) {
    list.forEach((entry, index) => {
      const before = list[index - 1];
      if (before && before.name >= entry.name) throw new Error(`migration ${entry.name} is listed after ${before.name}: a list must be in name order`);
    });
    all.push(...list);
  }
  const byName: Record<string, Migration> = {};
  for (const { name, migration } of all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (Object.hasOwn(byName, name)) throw new Error(`migration ${name} is given twice`);
    byName[name] = migration;
  }
  return byName;
}

/**
 * Applies every pending migration in name order. Returns the names applied (empty when
 * up to date); throws the first failure (Kysely runs each migration in a transaction and
 * serializes concurrent migrators with a lock, so several instances may start at once).
 * Takes migrations keyed by name or an ordered list (such as `eventStoreMigrations`).
 */
export async function migrateToLatest(db: Kysely<any>, migrations: Record<string, Migration> | readonly NamedMigration[]): Promise<string[]> {
  const byName = isList(migrations) ? migrationsByName(migrations) : migrations;
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => byName },
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((result) => result.status === 'Error');
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(`migration ${failed?.migrationName ?? '?'} failed: ${detail}`, { cause: error });
  }
  return (results ?? []).filter((result) => result.status === 'Success').map((result) => result.migrationName);
}

function isList(migrations: Record<string, Migration> | readonly NamedMigration[]): migrations is readonly NamedMigration[] {
  return Array.isArray(migrations);
}
