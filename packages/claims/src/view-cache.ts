import { LruMap } from '@claimtrail/event-store';

/**
 * Claim views (their JSON text) as of their latest known version, least recently used out
 * first (bounded in count and in characters): `GET /claims/:id` answers from here without a database round trip.
 *
 * How entries stay current:
 * - this service's own writes `offer` the committed view before the write is acknowledged,
 *   so a client always reads its own writes;
 * - every other write (another instance, an operator's SQL, a rebuild) reaches the
 *   `claimtrail_claims` notification channel at its commit (a trigger on the table, see
 *   migration 0009): `changed(id, version)` records that the claim is at least at that
 *   version, so the stale text is never served again, and `clear()` on `*` or when the
 *   listener reconnected (notifications may have been lost);
 * - a read from the database `offer`s what it got, which is kept only when it is not older
 *   than what is known: a read that started before a write and returns after the write's
 *   notification cannot put the old view back.
 * Versions only grow, so "the highest version seen wins" is always right.
 */
export interface CachedView {
  version: number;
  json: string;
}

interface Entry {
  /** The highest version known for the claim. */
  version: number;
  /** The view at `version`; null while only the version is known (read it from the database). */
  json: string | null;
}

export class ClaimViewCache {
  private readonly entries: LruMap<string, Entry>;
  private enabled = true;

  /**
   * At most `capacity` claims and `maxChars` characters of view JSON in all (a claim's view
   * grows with its notes: the count alone would not bound the memory).
   */
  constructor(capacity = 10_000, maxChars = 16_000_000) {
    this.entries = new LruMap(capacity, { of: (entry: Entry) => entry.json?.length ?? 0, max: maxChars });
  }

  /** The view as of the latest version known, or undefined when it must be read. */
  get(claimId: string): CachedView | undefined {
    const entry = this.entries.get(claimId);
    if (entry === undefined || entry.json === null) return undefined;
    return { version: entry.version, json: entry.json };
  }

  /** A committed view (a write of this service, or a database read). */
  offer(claimId: string, version: number, json: string): void {
    if (!this.enabled) return;
    const entry = this.entries.get(claimId);
    if (entry !== undefined && entry.version > version) return;
    if (entry !== undefined && entry.version === version && entry.json !== null) return;
    this.entries.set(claimId, { version, json });
  }

  /** The claim was written elsewhere, up to `version`: drop an older view. */
  changed(claimId: string, version: number): void {
    if (!this.enabled) return;
    const entry = this.entries.get(claimId);
    if (entry !== undefined && entry.version >= version) return;
    this.entries.set(claimId, { version, json: null });
  }

  /** Forget everything (unknown writes happened). */
  clear(): void {
    this.entries.clear();
  }

  /** Never serve from memory again (no way to hear of other writers): every read goes to the database. */
  disable(): void {
    this.enabled = false;
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  /** Characters of view JSON held. */
  get chars(): number {
    return this.entries.totalWeight;
  }
}

/** The notification channel of migration 0009. */
export const CLAIMS_CHANGED_CHANNEL = 'claimtrail_claims';

/**
 * Applies one `claimtrail_claims` payload (`id:version,…`, or `*`) to the cache; `null`
 * (the listener reconnected: notifications may have been lost) clears it.
 */
export function applyClaimsChanged(cache: ClaimViewCache, payload: string | null): void {
  if (payload === null || payload === '*') {
    cache.clear();
    return;
  }
  for (const part of payload.split(',')) {
    const at = part.lastIndexOf(':');
    const version = Number(part.slice(at + 1));
    if (at <= 0 || !Number.isInteger(version)) {
      cache.clear();
      return;
    }
    cache.changed(part.slice(0, at), version);
  }
}
