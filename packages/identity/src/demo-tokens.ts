import { sql } from 'kysely';
import type { Role } from '@claimtrail/domain';
import type { IdentityDatabase } from './db.ts';
import { createToken, hashToken, revokeWhere } from './tokens.ts';
import { ensureUsers, type UserRecord } from './users.ts';

export interface DemoToken {
  userId: string;
  role: Role;
  token: string;
}

/** The label that marks the demo users' start-up tokens (tokens made by hand for them keep theirs). */
export const DEMO_TOKEN_LABEL = 'demo';

export interface DemoTokenOptions {
  /**
   * Tokens to keep (role → token), e.g. the set a previous start saved: each one that is
   * still a working, unexpiring demo token of that role's demo user is returned again.
   */
  reuse?: Partial<Record<Role, string>>;
  /**
   * What happens to the demo users' other start-up tokens: 0 (default) revokes them;
   * more gives them that long before they expire (instances sharing a database keep
   * working on the set they printed for that long after another one starts).
   */
  graceMs?: number;
}

/**
 * The demo users (one per role; created when missing), each with one start-up token: the
 * `reuse` token when it still works, otherwise a new one. Every other start-up token of
 * these users is revoked (or, with `graceMs`, expires then), so the number of working demo
 * tokens does not grow with restarts. Serialized by an advisory lock: two instances
 * starting at once on one database would otherwise each retire the other's set.
 */
export async function createDemoTokens(
  db: IdentityDatabase,
  users: readonly UserRecord[],
  options: DemoTokenOptions = {},
): Promise<DemoToken[]> {
  await ensureUsers(db, users);
  const graceMs = Math.max(0, Math.floor(options.graceMs ?? 0));
  return db.transaction().execute(async (tx) => {
    await sql`select pg_advisory_xact_lock(hashtext('claimtrail.demo_tokens'))`.execute(tx);
    const out: DemoToken[] = [];
    for (const user of users) {
      const kept = options.reuse?.[user.role];
      const usable =
        kept !== undefined &&
        (
          await sql<{ ok: number }>`
            select 1 as ok from api_tokens
            where token_hash = ${hashToken(kept)} and user_id = ${user.id} and label = ${DEMO_TOKEN_LABEL}
              and revoked_at is null and expires_at is null`.execute(tx)
        ).rows.length === 1;
      const token = usable ? kept : (await createToken(tx, { userId: user.id, label: DEMO_TOKEN_LABEL })).token;
      out.push({ userId: user.id, role: user.role, token });
    }
    const others = sql`user_id in (${sql.join(users.map((u) => u.id))}) and label = ${DEMO_TOKEN_LABEL}
      and revoked_at is null and token_hash not in (${sql.join(out.map((d) => hashToken(d.token)))})`;
    if (graceMs === 0) await revokeWhere(tx, others);
    else {
      await sql`update api_tokens
        set expires_at = least(coalesce(expires_at, 'infinity'::timestamptz), now() + ${graceMs} * interval '1 millisecond')
        where ${others}`.execute(tx);
    }
    return out;
  });
}
