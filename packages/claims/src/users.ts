import { hash, randomBytes } from 'node:crypto';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { ROLES, type Actor, type Role } from '@claimtrail/domain';
import { LruMap } from './lru.ts';

export interface UserRecord {
  id: string;
  role: Role;
  name?: string | null;
}

/** Tokens are stored as their SHA-256: a copy of the table is no set of credentials. */
export function hashToken(token: string): string {
  // One-shot hash (Node ≥ 20.12): no Hash object per call; this runs on every request.
  return hash('sha256', token, 'hex');
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
  return (await createToken(db, { userId, label })).token;
}

export interface CreatedToken {
  /** Public id of the token (for listing and revoking); not a credential. */
  id: string;
  /** The token itself: shown once, stored only as its hash. */
  token: string;
  userId: string;
  label: string | null;
  expiresAt: Date | null;
}

export async function createToken(
  db: Kysely<any>,
  input: { userId: string; label?: string | null; expiresAt?: Date | null },
): Promise<CreatedToken> {
  const token = generateToken();
  const result = await sql<{ id: string }>`
    insert into api_tokens (token_hash, user_id, label, expires_at)
    values (${hashToken(token)}, ${input.userId}, ${input.label ?? null}, ${input.expiresAt ?? null})
    returning id`.execute(db);
  return { id: result.rows[0]!.id, token, userId: input.userId, label: input.label ?? null, expiresAt: input.expiresAt ?? null };
}

/**
 * Channel on which revocations are announced (payload: the token hash). Every service
 * instance listens and drops the token from its authentication cache at once; the cache
 * TTL is only the fallback bound (a token revoked by hand in SQL, a lost notification).
 */
export const TOKEN_REVOKED_CHANNEL = 'claimtrail_token_revoked';

async function revokeWhere(db: Kysely<any>, where: RawBuilder<unknown>): Promise<string[]> {
  const result = await sql<{ token_hash: string }>`
    with revoked as (
      update api_tokens set revoked_at = coalesce(revoked_at, now()) where ${where} returning token_hash
    )
    select token_hash, pg_notify(${TOKEN_REVOKED_CHANNEL}, token_hash) from revoked`.execute(db);
  return result.rows.map((row) => row.token_hash);
}

/** Revokes a token (given the token itself); returns the hashes revoked (empty when unknown). */
export async function revokeToken(db: Kysely<any>, token: string): Promise<string[]> {
  return revokeWhere(db, sql`token_hash = ${hashToken(token)}`);
}

/** Revokes a token by its public id; returns the hashes revoked (empty when unknown). */
export async function revokeTokenById(db: Kysely<any>, id: string): Promise<string[]> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return [];
  return revokeWhere(db, sql`id = ${id.toLowerCase()}::uuid`);
}

export interface TokenInfo {
  id: string;
  userId: string;
  label: string | null;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
}

export async function listTokens(db: Kysely<any>, userId?: string): Promise<TokenInfo[]> {
  const where = userId === undefined ? sql`` : sql`where user_id = ${userId}`;
  const result = await sql<{ id: string; user_id: string; label: string | null; created_at: Date; expires_at: Date | null; revoked_at: Date | null }>`
    select id, user_id, label, created_at, expires_at, revoked_at from api_tokens ${where} order by created_at`.execute(db);
  return result.rows.map((r) => ({
    id: r.id,
    userId: r.user_id,
    label: r.label,
    createdAt: new Date(r.created_at),
    expiresAt: r.expires_at === null ? null : new Date(r.expires_at),
    revokedAt: r.revoked_at === null ? null : new Date(r.revoked_at),
  }));
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
 * One user per role, each with one start-up token: the `reuse` token when it still works,
 * otherwise a new one. Every other start-up token of the demo users is revoked (or, with
 * `graceMs`, expires then), so the number of working demo tokens does not grow with
 * restarts. Serialized by an advisory lock: two instances starting at once on one
 * database would otherwise each retire the other's set.
 */
export async function createDemoTokens(db: Kysely<any>, options: DemoTokenOptions = {}): Promise<DemoToken[]> {
  await ensureUsers(db, DEMO_USERS);
  const graceMs = Math.max(0, Math.floor(options.graceMs ?? 0));
  return db.transaction().execute(async (tx) => {
    await sql`select pg_advisory_xact_lock(hashtext('claimtrail.demo_tokens'))`.execute(tx);
    const out: DemoToken[] = [];
    for (const user of DEMO_USERS) {
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
    const others = sql`user_id in (${sql.join(DEMO_USERS.map((u) => u.id))}) and label = ${DEMO_TOKEN_LABEL}
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

/** A valid token's user, and when the token stops being valid (null: it does not expire). */
export interface AuthenticatedToken {
  actor: Actor;
  expiresAt: Date | null;
}

/**
 * Of the given token hashes, those that no longer authenticate anyone: revoked, expired,
 * deleted, or their user disabled. One query for a whole set (the open websockets'
 * tokens), so re-checking them all costs one round trip.
 */
export async function invalidTokenHashes(db: Kysely<any>, hashes: readonly string[]): Promise<string[]> {
  if (hashes.length === 0) return [];
  const unique = [...new Set(hashes)];
  const result = await sql<{ token_hash: string }>`
    select t.token_hash from api_tokens t join users u on u.id = t.user_id
    where t.token_hash = any(${unique}::text[])
      and t.revoked_at is null and (t.expires_at is null or t.expires_at > now())
      and not u.disabled and u.role = any(${[...ROLES]}::text[])`.execute(db);
  const valid = new Set(result.rows.map((row) => row.token_hash));
  return unique.filter((hash) => !valid.has(hash));
}

interface CacheEntry {
  token: AuthenticatedToken;
  /** When this entry must be checked against the database again (ms). */
  expires: number;
}

/** Why a token was refused (all are a 401 `unauthorized`; the reason is in the problem's detail). */
export type TokenFailure = 'invalid_token' | 'token_revoked' | 'token_expired' | 'user_disabled';

export type TokenCheck = ({ ok: true } & AuthenticatedToken) | { ok: false; reason: TokenFailure };

export interface TokenAuthenticatorOptions {
  /** How long a valid token is trusted without asking the database (default 5000 ms). */
  ttlMs?: number;
  maxEntries?: number;
}

/**
 * Token → actor, with a short cache: one hash lookup per request would otherwise be a
 * database round trip on every read. A revoked token stops working at once on the instance
 * that revoked it and on every instance that hears the revocation notice
 * (TOKEN_REVOKED_CHANNEL → `forget`); otherwise (revoked by hand, user disabled) within
 * `ttlMs`. An expiring token is never cached past its expiry.
 */
export class TokenAuthenticator {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;

  constructor(
    private readonly db: Kysely<any>,
    options: TokenAuthenticatorOptions | number = {},
    maxEntries = 10_000,
  ) {
    const o = typeof options === 'number' ? { ttlMs: options, maxEntries } : options;
    this.ttlMs = o.ttlMs ?? 5_000;
    this.maxEntries = o.maxEntries ?? maxEntries;
    this.hashes = new LruMap(this.maxEntries);
  }

  /**
   * Token → its hash, for the tokens seen lately: every request is authenticated, and the
   * sha256 was a measurable part of a cached GET. Holds nothing a request does not carry.
   */
  private readonly hashes: LruMap<string, string>;

  private hashOf(token: string): string {
    let hash = this.hashes.get(token);
    if (hash === undefined) {
      hash = hashToken(token);
      this.hashes.set(token, hash);
    }
    return hash;
  }

  /** The actor when the token is cached and still fresh; no database access. */
  cached(token: string, hash = this.hashOf(token)): Actor | null {
    return this.cachedToken(token, hash)?.actor ?? null;
  }

  /** The actor and the token's expiry when the token is cached and still fresh; no database access. */
  cachedToken(token: string, hash = this.hashOf(token)): AuthenticatedToken | null {
    const hit = this.cache.get(hash);
    if (hit === undefined) return null;
    if (hit.expires > Date.now()) return hit.token;
    this.cache.delete(hash);
    return null;
  }

  async authenticate(token: string): Promise<Actor | null> {
    const result = await this.check(token);
    return result.ok ? result.actor : null;
  }

  async check(token: string): Promise<TokenCheck> {
    if (token.length === 0 || token.length > 512) return { ok: false, reason: 'invalid_token' };
    const hash = this.hashOf(token);
    const hit = this.cachedToken(token, hash);
    if (hit) return { ok: true, ...hit };
    const result = await sql<{
      id: string;
      role: string;
      name: string | null;
      disabled: boolean;
      revoked: boolean;
      expired: boolean;
      expires_ms: string | number | null;
    }>`
      select u.id, u.role, u.name, u.disabled, t.revoked_at is not null as revoked,
        coalesce(t.expires_at <= now(), false) as expired,
        (extract(epoch from t.expires_at) * 1000)::float8 as expires_ms
      from api_tokens t join users u on u.id = t.user_id
      where t.token_hash = ${hash}`.execute(this.db);
    const row = result.rows[0];
    if (!row || !(ROLES as readonly string[]).includes(row.role)) return { ok: false, reason: 'invalid_token' };
    if (row.revoked) return { ok: false, reason: 'token_revoked' };
    if (row.expired) return { ok: false, reason: 'token_expired' };
    if (row.disabled) return { ok: false, reason: 'user_disabled' };
    const actor: Actor = { id: row.id, role: row.role as Role, ...(row.name ? { name: row.name } : {}) };
    // Refusals are not cached: guessing must not be able to flush the cache of real tokens.
    const now = Date.now();
    const expiresAt = row.expires_ms === null ? null : new Date(Number(row.expires_ms));
    const expires = expiresAt === null ? now + this.ttlMs : Math.min(now + this.ttlMs, expiresAt.getTime());
    if (this.cache.size >= this.maxEntries) this.cache.clear();
    this.cache.set(hash, { token: { actor, expiresAt }, expires });
    return { ok: true, actor, expiresAt };
  }

  /** Drops one token (by hash) from the cache: call on revocation. */
  forget(hash: string): void {
    this.cache.delete(hash);
  }

  clear(): void {
    this.cache.clear();
    this.hashes.clear();
  }
}
