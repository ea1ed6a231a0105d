import { sql } from 'kysely';
import type { Role } from '@claimtrail/domain';
import type { IdentityExecutor } from './db.ts';

export interface UserRecord {
  id: string;
  role: Role;
  name?: string | null;
}

/** Creates the users that do not exist yet; existing users keep their role and name. */
export async function ensureUsers(db: IdentityExecutor, users: readonly UserRecord[]): Promise<void> {
  for (const user of users) {
    await sql`insert into users (id, name, role) values (${user.id}, ${user.name ?? null}, ${user.role})
              on conflict (id) do nothing`.execute(db);
  }
}

/** Whether a user with this id exists, disabled or not. */
export async function userExists(db: IdentityExecutor, id: string): Promise<boolean> {
  const result = await sql<{ n: number }>`select count(*)::int as n from users where id = ${id}`.execute(db);
  return (result.rows[0]?.n ?? 0) > 0;
}
