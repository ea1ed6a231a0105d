import { LruMap } from '@claimtrail/event-store';
import { claimIdOfStream } from './events.ts';

/**
 * Claim views (their JSON text) as of their latest known version, least recently used out
 * first (bounded in count and in characters): `GET /claims/:id` answers from here without a database round trip.
 *
 * How entries stay current:
 * - this service's own writes `offer` the committed view before the write is acknowledged,
 *   so a client always reads its own writes;
 * - every write through the event store (any instance) reaches the service's store
 *   subscription once the sequencer has positioned it: `changed(id, version)` (through
 *   `applyStoreEvent`) records that the claim is at least at that version, so the stale
 *   text is never served again. No notification is sent by the write transactions
 *   themselves (a NOTIFYing transaction serializes every commit on the server: see
 *   migration 0014); the sequencer's one notification per pass wakes the subscription, and
 *   a read carrying a consistency token waits until the subscription got that far;
 * - writes that bypass the store tell nobody through it. A rebuild's swap announces itself
 *   with `*` on the `claimtrail_claims` channel (`applyClaimsChanged` clears everything); an
 *   operator's UPDATE in psql, or a lost notification, is bounded by the maximum age: a view
 *   is served for at most `maxAgeMs` after the database (or this service's own commit) last
 *   confirmed it, then read again. A short age rather than a trigger: the trigger's NOTIFY
 *   cost every write a server-wide lock, the age costs one row read per cached claim per
 *   `maxAgeMs`, and only for claims that are being read;
 * - a read from the database `offer`s what it got, which is kept only when it is not older
 *   than what is known: a read that started before a write and returns after the write was
 *   heard of cannot put the old view back.
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
  /** When `json` was last confirmed by the database or a commit of this service (Date.now()). */
  confirmedAt: number;
}

/** How long a view is served without being confirmed again (see the class comment). */
export const DEFAULT_VIEW_MAX_AGE_MS = 2000;

export class ClaimViewCache {
  private readonly entries: LruMap<string, Entry>;
  private enabled = true;
  private generationValue = 0;

  /**
   * At most `capacity` claims and `maxChars` characters of view JSON in all (a claim's view
   * grows with its notes: the count alone would not bound the memory); a view is served for
   * at most `maxAgeMs` after it was last confirmed.
   */
  constructor(
    capacity = 10_000,
    maxChars = 16_000_000,
    private readonly maxAgeMs = DEFAULT_VIEW_MAX_AGE_MS,
  ) {
    this.entries = new LruMap(capacity, { of: (entry: Entry) => entry.json?.length ?? 0, max: maxChars });
  }

  /**
   * Moves on whenever the cache learns of a newer version of any claim (an own commit, any
   * writer's event through the store follower) or forgets everything: what was read from
   * the claims table while it stood still is still current as far as this instance knows
   * (the board's bodies, board-bodies.ts, are kept by it).
   */
  get generation(): number {
    return this.generationValue;
  }

  /** False once disabled: nothing tells this instance of other writers. */
  get followsWriters(): boolean {
    return this.enabled;
  }

  /** The view as of the latest version known, or undefined when it must be read. */
  get(claimId: string): CachedView | undefined {
    const entry = this.entries.get(claimId);
    if (entry === undefined || entry.json === null) return undefined;
    // Too old to trust (a write that bypassed the store would go unseen): read it again.
    if (Date.now() - entry.confirmedAt > this.maxAgeMs) return undefined;
    return { version: entry.version, json: entry.json };
  }

  /**
   * A committed view: a write of this service (`committed`: it moves the generation, so
   * answers kept from before it are not served once it is acknowledged), or a database read
   * (moves it only when newer than a version already known: a read of a claim this cache
   * did not hold changes nothing anyone was told).
   */
  offer(claimId: string, version: number, json: string, committed = false): void {
    if (!this.enabled) return;
    if (committed) this.generationValue++;
    const entry = this.entries.get(claimId);
    if (entry !== undefined && entry.version > version) return;
    if (entry !== undefined && entry.version === version && entry.json !== null) {
      // The database still has this version: the row is confirmed again (its text may
      // differ after an edit behind the service; the database's is the truth).
      entry.confirmedAt = Date.now();
      if (entry.json !== json) this.entries.set(claimId, { version, json, confirmedAt: entry.confirmedAt });
      return;
    }
    if (!committed && entry !== undefined && entry.version < version) this.generationValue++;
    this.entries.set(claimId, { version, json, confirmedAt: Date.now() });
  }

  /** The claim was written elsewhere, up to `version`: drop an older view. */
  changed(claimId: string, version: number): void {
    if (!this.enabled) return;
    const entry = this.entries.get(claimId);
    if (entry !== undefined && entry.version >= version) return;
    this.generationValue++;
    this.entries.set(claimId, { version, json: null, confirmedAt: 0 });
  }

  /** Forget everything (unknown writes happened). */
  clear(): void {
    this.generationValue++;
    this.entries.clear();
  }

  /** Never serve from memory again (no way to hear of other writers): every read goes to the database. */
  disable(): void {
    this.enabled = false;
    this.generationValue++;
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

/**
 * An event the service's store subscription read (any writer's, once positioned): its
 * claim is at least at the event's version. Events of other streams are not claims.
 */
export function applyStoreEvent(cache: ClaimViewCache, event: { streamId: string; version: number }): void {
  const claimId = claimIdOfStream(event.streamId);
  if (claimId !== null) cache.changed(claimId, event.version);
}

/**
 * The channel on which writers that bypass the event store announce claim changes: a
 * rebuild's swap sends `*`; an operator who edits rows in SQL may send `id:version,…` or
 * `*` (`select pg_notify('claimtrail_claims', '*')`) to be seen at once rather than after
 * the maximum age. Never sent by write transactions (migration 0014 dropped the trigger of
 * migration 0009 that did).
 */
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
