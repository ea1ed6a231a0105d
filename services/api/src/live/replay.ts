/**
 * Bringing a new subscription up to date before it goes live: a snapshot as of the hub's
 * position (no `after`), or every event after `after` read from the store followed by
 * `caught-up`. The subscription joins the hub's fan-out first, so live events arriving
 * meanwhile wait in it and the switch to live is gap-free.
 */
import { claimStreamId, evolve, initialClaimState, toEnvelope } from '@claimtrail/domain';
import type { EventStore, PositionedEvent } from '@claimtrail/event-store';
import type { LiveConfig } from './config.ts';
import type { Connection } from './connection.ts';
import type { HubLogger, LiveHub } from './hub.ts';
import { PreparedEvent } from './messages.ts';
import type { ChannelSubscription } from './subscription.ts';
import { ClaimStates, claimIdOf, viewOf } from './views.ts';

export interface ReplayDeps {
  hub: LiveHub;
  store: EventStore;
  config: LiveConfig;
  log: HubLogger;
  /** The board as `GET /board` returns it, as JSON text. */
  boardSnapshot(): Promise<string>;
}

/** How long a snapshot waits for the fan-out to include writes acknowledged before it. */
const SNAPSHOT_CATCH_UP_MS = 2000;

/** Joins the fan-out, sends the snapshot or the replay, then lets live events through. */
export async function catchUp(sub: ChannelSubscription, after: number | undefined, deps: ReplayDeps): Promise<void> {
  await deps.hub.start();
  if (after === undefined) await deps.hub.caughtUpWithCommits(SNAPSHOT_CATCH_UP_MS);
  if (sub.isClosed()) return;
  // Read the hub's position and join its fan-out in one synchronous step: every event
  // after `head` reaches `pending`, every event up to it is in the store.
  const head = deps.hub.position;
  deps.hub.add(sub);
  if (after === undefined) await snapshot(sub, head, deps);
  else await replay(sub, after, head, deps);
  sub.goLive();
}

async function snapshot(sub: ChannelSubscription, head: number, deps: ReplayDeps): Promise<void> {
  const connection = sub.connection;
  sub.lastSent = head;
  if (sub.channel === 'feed') {
    connection.sendJson({ type: 'snapshot', channel: 'feed', position: head });
  } else if (sub.channel === 'board') {
    const board = await deps.boardSnapshot();
    if (sub.isClosed()) return;
    connection.send(`{"type":"snapshot","channel":"board","position":${head},"board":${board}}`);
  } else {
    // The claim exactly as of `head`: events after it follow as live events.
    const events = await deps.store.readStream(claimStreamId(sub.claimId!));
    let state = initialClaimState;
    for (const e of events) {
      if (e.position === null || e.position > head) break;
      state = evolve(state, toEnvelope(e));
    }
    if (sub.isClosed()) return;
    connection.sendJson({ type: 'snapshot', channel: 'claim', position: head, claimId: sub.claimId, claim: viewOf(state) });
  }
}

async function replay(sub: ChannelSubscription, after: number, head: number, deps: ReplayDeps): Promise<void> {
  const connection: Connection = sub.connection;
  sub.lastSent = after;
  const low = connection.drainedBelow;
  const emit = async (event: PreparedEvent) => {
    if (connection.socket.bufferedAmount > low) await connection.drained();
    sub.forward(event);
  };
  let through = after;
  if (sub.channel === 'claim') {
    const events = await deps.store.readStream(claimStreamId(sub.claimId!));
    let state = initialClaimState;
    for (const e of events) {
      if (sub.isClosed()) return;
      if (e.position === null) break;
      state = evolve(state, toEnvelope(e));
      if (e.position > after) await emit(new PreparedEvent(e as PositionedEvent, viewOf(state)));
    }
    through = Math.max(after, head);
  } else {
    const states = new ClaimStates(deps.store, 2_000);
    while (through < head) {
      const page = await deps.store.readAll({ after: through, limit: deps.config.replayBatchSize });
      if (sub.isClosed()) return;
      if (page.events.length === 0) break;
      for (const e of page.events) {
        if (sub.isClosed()) return;
        if (sub.channel === 'board' && claimIdOf(e.streamId) === null) continue;
        let view = null;
        try {
          view = await states.viewAfter(e);
        } catch (err) {
          states.forget(e.streamId);
          deps.log.error({ err, position: e.position }, 'live: replay view failed');
        }
        await emit(new PreparedEvent(e, view));
      }
      through = page.next;
    }
  }
  if (sub.isClosed()) return;
  // Everything of this channel up to `through` has been read from the store and sent.
  sub.lastSent = Math.max(sub.lastSent, through);
  connection.sendJson({
    type: 'caught-up',
    channel: sub.channel,
    ...(sub.claimId ? { claimId: sub.claimId } : {}),
    position: sub.lastSent,
  });
}
