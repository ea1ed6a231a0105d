import { hash, randomBytes } from 'node:crypto';
import { sql, type RawBuilder } from 'kysely';
import { ROLES } from '@claimtrail/domain';
import { isUuid } from '@claimtrail/event-store';
import type { IdentityExecutor } from './db.ts';

/** Tokens are stored as their SHA-256: a copy of the table is no set of credentials. */
export function hashToken(token: string): string {
  // One-shot hash (Node ≥ 20.12): no Hash object per call; this runs on every request.
  return hash('sha256', token, 'hex');
}

export function generateToken(): string {
  return `ct_${randomBytes(32).toString('base64url')}`;
}

/** Issues a new token for an existing user and returns it (the only time it is visible). */
export async function issueToken(db: IdentityExecutor, userId: string, label: string | null = null): Promise<string> {
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
  db: IdentityExecutor,
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

/** Revokes the tokens matching `where` and announces each on TOKEN_REVOKED_CHANNEL. */
export async function revokeWhere(db: IdentityExecutor, where: RawBuilder<unknown>): Promise<string[]> {
  const result = await sql<{ token_hash: string }>`
    with revoked as (
      update api_tokens set revoked_at = coalesce(revoked_at, now()) where ${where} returning token_hash
    )
    select token_hash, pg_notify(${TOKEN_REVOKED_CHANNEL}, token_hash) from revoked`.execute(db);
  return result.rows.map((row) => row.token_hash);
}

/** Revokes a token (given the token itself); returns the hashes revoked (empty when unknown). */
export async function revokeToken(db: IdentityExecutor, token: string): Promise<string[]> {
  return revokeWhere(db, sql`token_hash = ${hashToken(token)}`);
}

/** Revokes a token by its public id; returns the hashes revoked (empty when unknown). */
export async function revokeTokenById(db: IdentityExecutor, id: string): Promise<string[]> {
  if (!isUuid(id)) return [];
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

export async function listTokens(db: IdentityExecutor, userId?: string): Promise<TokenInfo[]> {
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

/**
 * Of the given token hashes, those that no longer authenticate anyone: revoked, expired,
 * deleted, or their user disabled. One query for a whole set (the open websockets'
 * tokens), so re-checking them all costs one round trip.
 */
export async function invalidTokenHashes(db: IdentityExecutor, hashes: readonly string[]): Promise<string[]> {
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
