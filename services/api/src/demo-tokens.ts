/**
 * The demo users' tokens at start (embedded default, or DEMO_TOKENS=1).
 *
 * Embedded database: one process owns the data folder, so the set is kept in a file inside
 * it (mode 0600, beside the data it unlocks) and reused while every token still works:
 * a restart prints the same tokens and bookmarks keep working. A revoked or missing one is
 * replaced; every other demo token is revoked, so restarts never add working tokens.
 *
 * PostgreSQL: several instances may share the database and the plaintext exists only in
 * the memory of the instance that issued it (the table holds hashes; a shared secret in
 * the database would make a copy of it a set of credentials). So each start issues a new
 * set and the previous ones expire after a grace period, long enough for instances
 * started together (a rolling restart, a test with two instances) to keep working.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Role } from '@claimtrail/domain';
import type { Database } from '@claimtrail/event-store';
import { createDemoTokens, type DemoToken } from '@claimtrail/identity';
import { DEMO_USERS } from '@claimtrail/seeds';

export const DEMO_TOKENS_FILE = 'claimtrail-demo-tokens.json';
/** How long a shared database's previous demo tokens keep working after another start. */
export const SHARED_DEMO_TOKEN_GRACE_MS = 60 * 60 * 1000;

export type DemoTokenSet = Partial<Record<Role, string>>;

export function isMemoryDataDir(dataDir: string): boolean {
  return dataDir.startsWith('memory://');
}

async function readSaved(file: string): Promise<DemoTokenSet> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return {};
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null) return {};
    const out: DemoTokenSet = {};
    for (const [role, token] of Object.entries(parsed as Record<string, unknown>)) {
      if (typeof token === 'string') out[role as Role] = token;
    }
    return out;
  } catch {
    // A damaged file is replaced: the tokens in it are revoked below as "other" tokens.
    return {};
  }
}

/** Written beside, then renamed: a crash never leaves half a file, and the mode is 0600 from the first byte. */
async function save(file: string, tokens: DemoTokenSet): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify(tokens, null, 2) + '\n', { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, file);
}

function toSet(tokens: readonly DemoToken[]): DemoTokenSet {
  return Object.fromEntries(tokens.map((t) => [t.role, t.token])) as DemoTokenSet;
}

/**
 * The demo set for this start. `dataDir`: the embedded database's folder when this process
 * opened it (no file for an in-memory database or one handed in by the caller).
 */
export async function prepareDemoTokens(database: Database, dataDir: string | undefined): Promise<DemoTokenSet> {
  if (database.kind !== 'pglite') {
    return toSet(await createDemoTokens(database.db, DEMO_USERS, { graceMs: SHARED_DEMO_TOKEN_GRACE_MS }));
  }
  if (dataDir === undefined || isMemoryDataDir(dataDir)) return toSet(await createDemoTokens(database.db, DEMO_USERS));
  const file = join(dataDir, DEMO_TOKENS_FILE);
  const saved = await readSaved(file);
  const tokens = toSet(await createDemoTokens(database.db, DEMO_USERS, { reuse: saved }));
  await mkdir(dataDir, { recursive: true });
  await save(file, tokens);
  return tokens;
}
