/**
 * Bringing a new subscription up to date before it goes live: a snapshot as of the hub's
 * position (no `after`), or every event after `after` followed by `caught-up`. The
 * subscription joins the hub's fan-out first, so live events arriving meanwhile wait in it
 * and the switch to live is gap-free.
 *
 * A replay reads only what it needs, and shares it: events still among the hub's recent
 * ones come from memory (the very frames the fan-out sent); a claim the hub knows had no
 * event since `after` needs nothing at all; only what lies further back is read from the
 * store, through the hub's shared reader (one read per page or claim for all the replays
 * that want it at the same time).
 */
import { claimStreamId, evolve, initialClaimState, toEnvelope } from '@claimtrail/domain';
import type { EventStore } from '@claimtrail/event-store';
import type { LiveConfig } from './config.ts';
import type { Connection } from './connection.ts';
import type { HubLogger, LiveHub } from './hub.ts';
import type { PreparedEvent } from './messages.ts';
import type { ChannelSubscription } from './subscription.ts';
import { viewOf } from './views.ts';

export interface ReplayDeps {
  hub: LiveHub;
  store: EventStore;
  config: LiveConfig;
  log: HubLogger;
  /** The board as `GET /board` returns it, as JSON text, including every event up to `atLeast`. */
  boardSnapshot(atLeast: number): Promise<string>;
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
    const board = await deps.boardSnapshot(head);
    if (sub.isClosed()) return;
    connection.send(`{"type":"snapshot","channel":"board","position":${head},"board":${board}}`);
  } else {
    // The claim exactly as of `head` (the hub's folded state when it has it; events after
    // `head` follow as live events).
    const known = deps.hub.claimAsOf(sub.claimId!, head);
    let state = known?.latest?.state;
    if (state === undefined) {
      const claimId = sub.claimId!;
      const events = await deps.hub.reads.read(head, (source) => source.store.readStream(claimStreamId(claimId)));
      state = initialClaimState;
      for (const e of events) {
        if (e.position === null || e.position > head) break;
        state = evolve(state, toEnvelope(e));
      }
    }
    if (sub.isClosed()) return;
    connection.sendJson({ type: 'snapshot', channel: 'claim', position: head, claimId: sub.claimId, claim: viewOf(state) });
  }
}

async function replay(sub: ChannelSubscription, after: number, head: number, deps: ReplayDeps): Promise<void> {
  const connection: Connection = sub.connection;
  sub.lastSent = after;
  const low = connection.drainedBelow;
  const emit = async (events: readonly PreparedEvent[]) => {
    for (const event of events) {
      if (sub.isClosed()) return;
      if (connection.socket.bufferedAmount > low) await connection.drained();
      sub.forward(event);
    }
  };
  const { hub } = deps;
  // Everything of the channel in (after, through] has been sent; the replay ends at `head`,
  // after which the fan-out has queued every event for this subscription.
  let through = after;
  if (sub.channel === 'claim') {
    const claimId = sub.claimId!;
    const recent = hub.recent.slice(after, head, claimId);
    // The claim had no event after `quietAfter` up to `head`, when the hub knows it.
    const quietAfter = Math.min(hub.claimAsOf(claimId, head)?.quietAfter ?? head, head);
    if (recent) {
      await emit(recent);
    } else if (quietAfter > after) {
      const events = await hub.history.claim(claimId, quietAfter, hub.position);
      await emit(events.filter((e) => e.position > after && e.position <= head));
    }
    // else: the claim had no event after `after`: nothing to send.
    through = Math.max(after, head);
  } else {
    const claimsOnly = sub.channel === 'board';
    while (through < head && !sub.isClosed()) {
      // From memory as soon as the hub's recent events reach back to where we are.
      const recent = hub.recent.slice(through, head);
      if (recent) {
        await emit(claimsOnly ? recent.filter((e) => e.claimId !== null) : recent);
        through = head;
        break;
      }
      const page = await hub.history.page(through, head, hub.position);
      if (page.events.length === 0) break;
      const wanted = page.events.filter((e) => e.position <= head && (!claimsOnly || e.claimId !== null));
      await emit(wanted);
      through = Math.min(page.next, head);
    }
  }
  if (sub.isClosed()) return;
  sub.lastSent = Math.max(sub.lastSent, through);
  connection.sendJson({
    type: 'caught-up',
    channel: sub.channel,
    ...(sub.claimId ? { claimId: sub.claimId } : {}),
    position: sub.lastSent,
  });
}
