import {
  evolve,
  foldClaim,
  initialClaimState,
  toClaimView,
  toEnvelope,
  type ClaimState,
  type ClaimView,
} from '@claimtrail/domain';
import type { EventStore, PositionedEvent, RecordedEvent } from '@claimtrail/event-store';
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
  state: ClaimState;
}

/**
 * Claim states by stream, so the view "as of an event" costs one evolve when the events
 * of a stream arrive in version order (the live fan-out, a replay), and one readStream
 * otherwise. Bounded (least recently used first out).
 */
export class ClaimStates {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly store: EventStore,
    private readonly capacity = 10_000,
  ) {}

  /** The claim view right after `event`; null for non-claim streams. */
  async viewAfter(event: PositionedEvent): Promise<ClaimView | null> {
    const state = await this.claimStateAfter(event);
    return state === null ? null : viewOf(state);
  }

  /** The claim state right after `event`; null for non-claim streams. */
  async claimStateAfter(event: PositionedEvent): Promise<ClaimState | null> {
    return claimIdOf(event.streamId) === null ? null : this.stateAfter(event);
  }

  /** Forget a stream (an event was skipped, so the cached state would be stale). */
  forget(streamId: string): void {
    this.entries.delete(streamId);
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
      const events = await this.store.readStream(event.streamId, { toVersion: event.version });
      state = foldRecorded(events);
    }
    this.entries.delete(event.streamId);
    this.entries.set(event.streamId, { version: event.version, state });
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    return state;
  }
}
