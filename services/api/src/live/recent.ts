import type { PreparedEvent } from './messages.ts';

/**
 * The hub's most recent events, in position order and without a hole: every event with a
 * position in (`from`, last pushed] is here. Watchers that lost their connection resume
 * with an `after` that is usually only a few seconds old — the watchers of a killed
 * instance all come back at once — so a replay whose `after` is inside the window is
 * served from memory: no store read, and the frames are the ones the live fan-out already
 * encoded. A fixed-size ring; the oldest event leaves when a new one comes.
 */
export class RecentEvents {
  private readonly ring: (PreparedEvent | undefined)[];
  /** Index of the oldest event in `ring`. */
  private head = 0;
  private size = 0;
  private fromValue: number;

  constructor(
    readonly capacity: number,
    from = 0,
  ) {
    this.ring = new Array<PreparedEvent | undefined>(Math.max(0, capacity));
    this.fromValue = from;
  }

  /** The window holds every event after this position (up to the last pushed). */
  get from(): number {
    return this.fromValue;
  }

  get length(): number {
    return this.size;
  }

  /** Empties the window; it starts again after `position`. */
  reset(position: number): void {
    this.ring.fill(undefined);
    this.head = 0;
    this.size = 0;
    this.fromValue = position;
  }

  /** Adds the next event; the caller pushes every event, in position order. */
  push(event: PreparedEvent): void {
    if (this.capacity === 0) {
      this.fromValue = event.position;
      return;
    }
    if (this.size === this.capacity) {
      // The oldest leaves: the window now starts at its position.
      this.fromValue = this.ring[this.head]!.position;
      this.ring[this.head] = event;
      this.head = (this.head + 1) % this.capacity;
      return;
    }
    this.ring[(this.head + this.size) % this.capacity] = event;
    this.size++;
  }

  /**
   * The events with `after` < position ≤ `through`, oldest first, optionally only those of
   * one claim; null when the window does not reach back to `after` (read the store).
   */
  slice(after: number, through: number, claimId?: string): PreparedEvent[] | null {
    if (after < this.fromValue) return null;
    const out: PreparedEvent[] = [];
    for (let i = this.firstAfter(after); i < this.size; i++) {
      const event = this.at(i);
      if (event.position > through) break;
      if (claimId === undefined || event.claimId === claimId) out.push(event);
    }
    return out;
  }

  private at(i: number): PreparedEvent {
    return this.ring[(this.head + i) % this.capacity]!;
  }

  /** Index (0 = oldest) of the first event after `position` (binary search; `size` if none). */
  private firstAfter(position: number): number {
    let low = 0;
    let high = this.size;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.at(mid).position <= position) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
