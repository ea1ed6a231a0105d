import { claimStreamId, evolve, initialClaimState, toEnvelope } from '@claimtrail/domain';
import type { PositionedEvent } from '@claimtrail/event-store';
import type { LiveReads } from './reads.ts';
import { PreparedEvent } from './messages.ts';
import { ClaimStates, viewOf } from './views.ts';

export interface HistoryPage {
  /** Every event after the page's `after`, up to `next`, with its claim view. */
  events: PreparedEvent[];
  /** Pass as `after` for the following page (== after when the store had nothing more). */
  next: number;
}

/** Where a view that cannot be built is reported (the app's logger). */
export interface ErrorLogger {
  error(obj: unknown, msg?: string): void;
}

interface PageEntry {
  /** The read started when every event up to this position was in the store. */
  upTo: number;
  /** A full page: complete whenever it was read. */
  full: boolean;
  read: Promise<HistoryPage>;
}

/**
 * Replays that reach back further than the hub's recent events read the store through
 * this, one per process: replays of the same range share one read and one fold. Every read
 * goes where `reads` sends it: a read replica that has replayed the hub's position at the
 * time (so the read is as complete as one on the primary), else the primary.
 *
 * - `page(after, need, now)`: one `readAll` page with each event's claim view, computed
 *   once for every replay that asks for it while it is read (single-flight) and kept for a
 *   few more (`keptPages`, least recently used first out) — a storm of watchers resuming
 *   from the same position reads each page once. A page that was not full serves only the
 *   replays that need no event written after its read began. The views come from one
 *   claim-state cache shared by all pages (one `evolve` per event when a claim's events
 *   come in order).
 * - `claim(claimId, need, now)`: the claim's stream, read and folded once for the replays
 *   of that claim; a read started when the hub was at position H serves every replay that
 *   needs the claim's events only up to H (`keptClaims` of them, least recently used first
 *   out).
 */
export class ReplayHistory {
  private readonly pages = new Map<number, PageEntry>();
  private readonly claims = new Map<string, { upTo: number; read: Promise<PreparedEvent[]> }>();
  private readonly states: ClaimStates;

  constructor(
    private readonly reads: LiveReads,
    private readonly log: ErrorLogger,
    private readonly pageSize: number,
    private readonly keptPages = 8,
    private readonly keptClaims = 256,
  ) {
    // An event of a page is on any source that served the page.
    this.states = new ClaimStates(
      (event) => reads.read(event.position, (source) => source.store.readStream(event.streamId, { toVersion: event.version })),
      2_000,
    );
  }

  /**
   * The page after `after`, complete up to at least `need` (or a full page). `now` (≥
   * `need`): the hub's position — every event up to it is in the store, so a read started
   * now is complete up to it.
   */
  page(after: number, need: number, now: number): Promise<HistoryPage> {
    const cached = this.pages.get(after);
    this.pages.delete(after);
    if (cached && (cached.upTo >= need || cached.full)) {
      // Least recently used first out: a hit moves to the back.
      this.pages.set(after, cached);
      return cached.read;
    }
    const entry: PageEntry = { upTo: now, full: false, read: this.readPage(after, now) };
    entry.read.then(
      (page) => {
        entry.full = page.events.length >= this.pageSize;
      },
      // A failed read is not kept: the next replay tries again.
      () => {
        if (this.pages.get(after) === entry) this.pages.delete(after);
      },
    );
    this.pages.set(after, entry);
    while (this.pages.size > this.keptPages) {
      const oldest = this.pages.keys().next().value;
      if (oldest === undefined) break;
      this.pages.delete(oldest);
    }
    return entry.read;
  }

  /**
   * Every positioned event of the claim up to at least `need`, with the view as of each.
   * `now` (≥ `need`): the hub's position — every event up to it is in the store, so a read started
   * now serves every later replay that needs the claim only up to it.
   */
  claim(claimId: string, need: number, now: number): Promise<PreparedEvent[]> {
    const cached = this.claims.get(claimId);
    this.claims.delete(claimId);
    if (cached && cached.upTo >= need) {
      this.claims.set(claimId, cached);
      return cached.read;
    }
    const entry = { upTo: now, read: this.readClaim(claimId, now) };
    this.claims.set(claimId, entry);
    entry.read.catch(() => {
      if (this.claims.get(claimId) === entry) this.claims.delete(claimId);
    });
    while (this.claims.size > this.keptClaims) {
      const oldest = this.claims.keys().next().value;
      if (oldest === undefined) break;
      this.claims.delete(oldest);
    }
    return entry.read;
  }

  /** One page after `after`, read where every event up to `upTo` is. */
  private async readPage(after: number, upTo: number): Promise<HistoryPage> {
    const page = await this.reads.read(upTo, (source) => source.store.readAll({ after, limit: this.pageSize }));
    const events: PreparedEvent[] = [];
    for (const e of page.events) {
      let view = null;
      try {
        view = await this.states.viewAfter(e);
      } catch (err) {
        this.states.forget(e.streamId);
        this.log.error({ err, position: e.position }, 'live: replay view failed');
      }
      events.push(new PreparedEvent(e, view));
    }
    return { events, next: page.next };
  }

  private async readClaim(claimId: string, upTo: number): Promise<PreparedEvent[]> {
    const events = await this.reads.read(upTo, (source) => source.store.readStream(claimStreamId(claimId)));
    const prepared: PreparedEvent[] = [];
    let state = initialClaimState;
    for (const e of events) {
      // Positions follow versions within a stream: an unpositioned event ends the known part.
      if (e.position === null) break;
      state = evolve(state, toEnvelope(e));
      const asOf = state;
      // The view is built only for the events some replay sends.
      prepared.push(new PreparedEvent(e as PositionedEvent, () => viewOf(asOf)));
    }
    return prepared;
  }
}
