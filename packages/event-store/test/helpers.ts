import { createTestDatabase, type TestDatabase } from '@claimtrail/testing';
import {
  createEventStore,
  eventStoreMigrations,
  migrateToLatest,
  openDatabase,
  type Database,
  type DatabaseConfig,
  type EventStore,
  type EventStoreOptions,
} from '../src/index.ts';

export interface Backend {
  readonly kind: 'postgres' | 'pglite';
  readonly database: Database;
  readonly url?: string;
  store(options?: EventStoreOptions): EventStore;
  cleanup(): Promise<void>;
}

/** `postgres` options (a pooler mode, a statement timeout) apply to the PostgreSQL database only. */
export async function openBackend(kind: 'postgres' | 'pglite', poolSize = 10, postgres: Omit<DatabaseConfig, 'databaseUrl' | 'poolSize'> = {}): Promise<Backend> {
  let testDb: TestDatabase | undefined;
  if (kind === 'postgres') testDb = await createTestDatabase('es');
  const database = await openDatabase(testDb ? { ...postgres, databaseUrl: testDb.url, poolSize } : { dataDir: 'memory://' });
  // Only the store's own migrations: the suite must not depend on other packages' schema.
  await migrateToLatest(database.db, eventStoreMigrations);
  const stores: EventStore[] = [];
  return {
    kind,
    database,
    url: testDb?.url,
    store(options) {
      const store = createEventStore(database, { onError: () => undefined, ...options });
      stores.push(store);
      return store;
    },
    async cleanup() {
      for (const store of stores) await store.close();
      await database.close();
      await testDb?.drop();
    },
  };
}

export function event(type = 'Happened', data: Record<string, unknown> = {}, id?: string) {
  return { ...(id ? { id } : {}), type, data: data as never, metadata: { actor: 'tester' } };
}

export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
