import {
  evolve,
  foldClaim,
  initialClaimState,
  toClaimView,
  toEnvelope,
  type ClaimState,
  type ClaimView,
} from '@claimtrail/domain';
import type { PositionedEvent, RecordedEvent } from '@claimtrail/event-store';
import { claimIdOfStream } from '@claimtrail/claims';

/** The claim id of a claim stream, null for other streams (the claims package's helper). */
export const claimIdOf = claimIdOfStream;

export function viewOf(state: ClaimState): ClaimView | null {
  // toClaimView throws for a claim that does not exist (status null).
  return state.status === null ? null : toClaimView(state);
}

export function foldRecorded(events: readonly RecordedEvent[]): ClaimState {
  return foldClaim(events.map((e) => toEnvelope(e)));
}

interface Entry {
  version: number;
  /** The position of the event the state is as of. */
  position: number;
  state: ClaimState;
}

/** A claim's state as of its latest event that a ClaimStates has folded. */
export interface LatestClaimState {
  version: number;
  position: number;
  state: ClaimState;
}

/** Reads a stream from its first event up to `event` (the store, or a replica that has replayed it). */
export type StreamReader = (event: PositionedEvent) => Promise<RecordedEvent[]>;

/**
 * Claim states by stream, so the view "as of an event" costs one evolve when the events
 * of a stream arrive in version order (the live fan-out, a replay), and one readStream
 * otherwise. Bounded (least recently used first out).
 *
 * Fed every event in position order (the hub's), it also knows what it has NOT seen: a
 * claim without an entry had no event after `completeAfter` (that position only moves
 * past entries that leave: evicted, or forgotten after an error).
 */
export class ClaimStates {
  private readonly entries = new Map<string, Entry>();
  private completeAfterValue = 0;

  constructor(
    private readonly readStreamTo: StreamReader,
    private readonly capacity = 10_000,
  ) {}

  /** For a cache fed every event in order: absent streams had no event after this position. */
  get completeAfter(): number {
    return this.completeAfterValue;
  }

  /** Starts the "fed every event in order" bookkeeping after `position` (the feed's start). */
  startAfter(position: number): void {
    this.entries.clear();
    this.completeAfterValue = position;
  }

  /** The latest state this cache holds for a stream (no store read). */
  latest(streamId: string): LatestClaimState | undefined {
    return this.entries.get(streamId);
  }

  /** The claim view right after `event`; null for non-claim streams. */
  async viewAfter(event: PositionedEvent): Promise<ClaimView | null> {
    const state = await this.claimStateAfter(event);
    return state === null ? null : viewOf(state);
  }

  /** The claim state right after `event`; null for non-claim streams. */
  async claimStateAfter(event: PositionedEvent): Promise<ClaimState | null> {
    return claimIdOf(event.streamId) === null ? null : this.stateAfter(event);
  }

  /**
   * Forget a stream (an event was skipped, so the cached state would be stale). `position`:
   * the skipped event's, so that the stream's absence does not claim it had no event there.
   */
  forget(streamId: string, position = 0): void {
    const entry = this.entries.get(streamId);
    this.entries.delete(streamId);
    this.completeAfterValue = Math.max(this.completeAfterValue, position, entry?.position ?? 0);
  }

  private async stateAfter(event: PositionedEvent): Promise<ClaimState> {
    const cached = this.entries.get(event.streamId);
    let state: ClaimState;
    if (cached && cached.version === event.version - 1) {
      state = evolve(cached.state, toEnvelope(event));
    } else if (cached && cached.version === event.version) {
      state = cached.state;
    } else if (event.version === 1) {
      state = evolve(initialClaimState, toEnvelope(event));
    } else {
      const events = await this.readStreamTo(event);
      state = foldRecorded(events);
    }
    this.entries.delete(event.streamId);
    this.entries.set(event.streamId, { version: event.version, position: event.position, state });
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.entries().next().value;
      if (oldest !== undefined) {
        this.entries.delete(oldest[0]);
        this.completeAfterValue = Math.max(this.completeAfterValue, oldest[1].position);
      }
    }
    return state;
  }
}
