import { sql } from 'kysely';
import { LIMITS, ROLES, type DirectoryUser, type Role } from '@claimtrail/domain';
import type { IdentityExecutor } from './db.ts';

/**
 * The user directory: who works on the desk, read from the `users` table (the same rows
 * tokens authenticate against). A user is active unless disabled (a disabled user's
 * tokens stop working, so they can no longer act on a claim).
 */
export interface DirectoryEntry extends DirectoryUser {
  name: string | null;
}

interface UserRow {
  id: string;
  name: string | null;
  role: string;
  disabled: boolean;
}

function entryOf(row: UserRow): DirectoryEntry | null {
  // A role the code does not know (written around the service) makes no usable user.
  if (!(ROLES as readonly string[]).includes(row.role)) return null;
  return { id: row.id, name: row.name, role: row.role as Role, active: !row.disabled };
}

/** Every user, by id. */
export async function listUsers(db: IdentityExecutor): Promise<DirectoryEntry[]> {
  const result = await sql<UserRow>`select id, name, role, disabled from users order by id`.execute(db);
  return result.rows.map(entryOf).filter((entry): entry is DirectoryEntry => entry !== null);
}

/**
 * The directory entries of these user ids (absent: no such user), for the assign commands
 * of a write: one query for all of them, run only when a write assigns someone.
 */
export async function directoryUsers(db: IdentityExecutor, ids: Iterable<unknown>): Promise<Map<string, DirectoryUser>> {
  const wanted = [...new Set([...ids].filter((id): id is string => typeof id === 'string' && id.length > 0 && id.length <= LIMITS.id && !id.includes('\u0000')))];
  const found = new Map<string, DirectoryUser>();
  if (wanted.length === 0) return found;
  const result = await sql<UserRow>`select id, name, role, disabled from users where id = any(${wanted}::text[])`.execute(db);
  for (const row of result.rows) {
    const entry = entryOf(row);
    if (entry) found.set(entry.id, { id: entry.id, role: entry.role, active: entry.active });
  }
  return found;
}
