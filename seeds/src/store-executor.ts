import {
  claimStreamId,
  decide,
  foldClaim,
  toClaimView,
  toEnvelope,
  type ClaimView,
  type DecideContext,
} from '@claimtrail/domain';
import { canonicalJson, type EventStore, type JsonObject } from '@claimtrail/event-store';
import { seedDirectoryUser } from './data/users.ts';
import { uuidV5 } from './ids.ts';
import type { SeedCommandInput } from './run.ts';

const EVENT_ID_NAMESPACE = '0f3c8a52-6b1e-4d7a-8c2f-9e4b1a7d5c36';

/** Event data as the store keeps it (JSON: no undefined members). */
function jsonOf(data: unknown): unknown {
  return JSON.parse(JSON.stringify(data)) as unknown;
}

export class SeedCommandRefused extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'SeedCommandRefused';
  }
}

/**
 * A minimal command handler straight on the event store: load the stream → fold evolve →
 * decide → append with the expected version. Idempotency without extra tables: event ids
 * are derived from (actor, idempotency key, index), so a replayed key is recognised by
 * its event id already being in the stream. It writes no projections — use ClaimService
 * for that; this exists so the seed data can be loaded and checked with the domain and
 * the store alone.
 */
export function createStoreExecutor(store: EventStore) {
  async function load(claimId: string) {
    const events = await store.readStream(claimStreamId(claimId));
    return { events, state: foldClaim(events.map((e) => toEnvelope(e))) };
  }

  return async function execute(
    input: SeedCommandInput,
  ): Promise<{ view: ClaimView; replayed: boolean; events: number }> {
    const { claimId, command, actor, idempotencyKey } = input;
    const streamId = claimStreamId(claimId);
    const { events, state } = await load(claimId);
    const eventId = (i: number) =>
      idempotencyKey === undefined ? undefined : uuidV5(`${actor.id}\u0000${idempotencyKey}\u0000${i}`, EVENT_ID_NAMESPACE);

    const context: DecideContext = { claimId };
    if (command.type === 'merge') {
      const target = (await load(command.into)).state;
      context.mergeTarget = target.status === null ? null : { id: command.into, status: target.status };
    }
    // Without a users table, the directory is the seed desk.
    if (command.type === 'assign') context.assignee = seedDirectoryUser(command.assignee);

    const firstId = eventId(0);
    if (firstId !== undefined) {
      const seen = events.find((e) => e.id === firstId);
      if (seen) {
        // The key was used: a replay only if it is the same request, i.e. this command,
        // decided on the claim as it was then, gives exactly the events the key recorded.
        const before = foldClaim(events.filter((e) => e.version < seen.version).map((e) => toEnvelope(e)));
        const recorded = events.filter((e) => e.version >= seen.version).filter((e, i) => e.id === eventId(i));
        const again = decide(command, before, actor, context);
        const same =
          again.ok &&
          again.events.length === recorded.length &&
          again.events.every((event, i) => event.type === recorded[i]!.type && canonicalJson(jsonOf(event.data)) === canonicalJson(recorded[i]!.data));
        if (!same) {
          throw new SeedCommandRefused('idempotency_key_reuse', `${command.type} on ${claimId} refused: this idempotency key was already used for a different request`);
        }
        // The answer of the first call: the claim as it was right after it.
        const upTo = events.filter((e) => e.version <= recorded[recorded.length - 1]!.version).map((e) => toEnvelope(e));
        return { view: toClaimView(foldClaim(upTo)), replayed: true, events: 0 };
      }
    }

    const decision = decide(command, state, actor, context);
    if (!decision.ok) {
      const { code, message, field } = decision.refusal;
      throw new SeedCommandRefused(code, `${command.type} on ${claimId} refused: ${message}`, field);
    }
    const appended = await store.append(
      streamId,
      decision.events.map((event, i) => {
        const id = eventId(i);
        return {
          ...(id === undefined ? {} : { id }),
          type: event.type,
          data: event.data as unknown as JsonObject,
          metadata: { actor: actor.id, actorRole: actor.role },
        };
      }),
      { expectedVersion: state.version === 0 ? 'no_stream' : state.version },
    );
    const after = foldClaim(appended.events.map((e) => toEnvelope(e)), state);
    return { view: toClaimView(after), replayed: false, events: appended.events.length };
  };
}
