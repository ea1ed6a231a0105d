import { createHash, randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { ROLES, type Actor, type Role } from '@claimtrail/domain';

export interface UserRecord {
  id: string;
  role: Role;
  name?: string | null;
}

/** Tokens are stored as their SHA-256: a copy of the table is no set of credentials. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function generateToken(): string {
  return `ct_${randomBytes(32).toString('base64url')}`;
}

/** Creates the users that do not exist yet; existing users keep their role and name. */
export async function ensureUsers(db: Kysely<any>, users: readonly UserRecord[]): Promise<void> {
  for (const user of users) {
    await sql`insert into users (id, name, role) values (${user.id}, ${user.name ?? null}, ${user.role})
              on conflict (id) do nothing`.execute(db);
  }
}

/** Issues a new token for an existing user and returns it (the only time it is visible). */
export async function issueToken(db: Kysely<any>, userId: string, label: string | null = null): Promise<string> {
  const token = generateToken();
  await sql`insert into api_tokens (token_hash, user_id, label) values (${hashToken(token)}, ${userId}, ${label})`.execute(db);
  return token;
}

export async function revokeToken(db: Kysely<any>, token: string): Promise<void> {
  await sql`update api_tokens set revoked_at = now() where token_hash = ${hashToken(token)}`.execute(db);
}

export const DEMO_USERS: readonly UserRecord[] = [
  { id: 'demo-fact-checker', role: 'fact_checker', name: 'Demo fact-checker' },
  { id: 'demo-editor', role: 'editor', name: 'Demo editor' },
  { id: 'demo-auditor', role: 'auditor', name: 'Demo auditor' },
  { id: 'demo-admin', role: 'admin', name: 'Demo admin' },
];

export interface DemoToken {
  userId: string;
  role: Role;
  token: string;
}

/**
 * One user per role, each with a fresh token. Tokens are only stored hashed, so a restart
 * cannot show the old ones again: every start issues new ones (old ones stay valid).
 */
export async function createDemoTokens(db: Kysely<any>): Promise<DemoToken[]> {
  await ensureUsers(db, DEMO_USERS);
  const out: DemoToken[] = [];
  for (const user of DEMO_USERS) {
    out.push({ userId: user.id, role: user.role, token: await issueToken(db, user.id, 'demo') });
  }
  return out;
}

interface CacheEntry {
  actor: Actor;
  expires: number;
}

/**
 * Token → actor, with a short cache: one hash lookup per request would otherwise be a
 * database round trip on every read. A revoked token stops working within `ttlMs`.
 */
export class TokenAuthenticator {
  private readonly cache = new Map<string, CacheEntry>();
  constructor(
    private readonly db: Kysely<any>,
    private readonly ttlMs = 10_000,
    private readonly maxEntries = 10_000,
  ) {}

  async authenticate(token: string): Promise<Actor | null> {
    if (token.length === 0 || token.length > 512) return null;
    const hash = hashToken(token);
    const now = Date.now();
    const hit = this.cache.get(hash);
    if (hit && hit.expires > now) return hit.actor;
    const result = await sql<{ id: string; role: string; name: string | null }>`
      select u.id, u.role, u.name from api_tokens t join users u on u.id = t.user_id
      where t.token_hash = ${hash} and t.revoked_at is null and not u.disabled`.execute(this.db);
    const row = result.rows[0];
    const actor: Actor | null =
      row && (ROLES as readonly string[]).includes(row.role)
        ? { id: row.id, role: row.role as Role, ...(row.name ? { name: row.name } : {}) }
        : null;
    // Unknown tokens are not cached: guessing must not be able to flush the cache of real ones.
    if (actor) {
      if (this.cache.size >= this.maxEntries) this.cache.clear();
      this.cache.set(hash, { actor, expires: now + this.ttlMs });
    }
    return actor;
  }

  clear(): void {
    this.cache.clear();
  }
}
