import { sql } from 'kysely';
import { ROLES, type Actor, type Role } from '@claimtrail/domain';
import { LruMap } from '@claimtrail/event-store';
import type { IdentityExecutor } from './db.ts';
import { hashToken } from './tokens.ts';

/** A valid token's user, and when the token stops being valid (null: it does not expire). */
export interface AuthenticatedToken {
  actor: Actor;
  expiresAt: Date | null;
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
    private readonly db: IdentityExecutor,
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
