import { initialClaimState, type DecideContext } from '@claimtrail/domain';
import type { EventStore, WriteSession } from '@claimtrail/event-store';
import { directoryUsers } from '@claimtrail/identity';
import { lockClaims, type LockOptions } from './claim-locks.ts';
import { claimSlot, foldAppended, writtenClaims, type BatchOutcome, type BatchResult, type BatchWrite, type ClaimStateCache } from './claim-slots.ts';
import { decideWrite } from './decide-write.ts';
import { CommandError } from './errors.ts';
import type { ExecuteInput } from './execute.ts';
import { claimKeys, keyOf, settleKeys, type KeyedWrite } from './idempotency.ts';
import { isClaimId } from './ids.ts';
import { writeInOneFlight } from './one-flight.ts';
import { batchProjectionStatement, projectionRows } from './projection-statement.ts';

/**
 * A write transaction: any number of commands, each to its own claim (see
 * `batchFootprint`), every step done once for all of them. A single command is a batch of
 * one (pipeline.ts decides how a batch is run and what happens to the commands it could
 * not settle).
 *
 * Under load most of a write's cost is per transaction and per statement, not per event:
 * the round trips, parse/bind, the commit and its WAL flush, the sequencer pass after it.
 * So, unless the batch qualifies for one round trip (one-flight.ts):
 *
 *   1. claim the idempotency keys (one INSERT … ON CONFLICT DO NOTHING; BEGIN rides along)
 *   2. lock every claim touched, in id order (one SELECT … FOR UPDATE, SKIP LOCKED unless
 *      the batch waits for locks; no deadlock between batches: all take their locks in the
 *      same order, keys before claims)
 *   3. decide each command on its claim's locked state (a batch holds at most one command
 *      per claim, merge targets included)
 *   4. append every stream's new events (one INSERT through `store.appendMany`)
 *   5. write the projection rows, the keys' stored answers, release the keys this batch
 *      claimed for refused or deferred commands (one statement; COMMIT rides along)
 *
 * A refusal is an outcome of its own command only (nothing of it is written). The
 * outcomes hold only once the transaction has committed; if it fails, nothing was
 * written for anyone and the caller decides per command.
 */
export async function writeBatch(
  store: EventStore,
  session: WriteSession,
  writes: readonly BatchWrite[],
  cache: ClaimStateCache,
  options: LockOptions & {
    /** Called when only the COMMIT is left (the queue may start the next batch meanwhile). */
    committing?: (() => void) | undefined;
  },
): Promise<BatchResult> {
  // States read from the streams replace rows that lag them: the cache is no help there.
  if (!options.fromStream) {
    const fast = await writeInOneFlight(store, session, writes, cache);
    if (fast !== null) return fast;
  }
  const outcomes: (BatchOutcome | undefined)[] = new Array(writes.length);

  // 1. Idempotency keys: a key already present answers its command here.
  const keyed: KeyedWrite[] = writes.map((w, index) => ({ w, index })).filter(({ w }) => w.input.idempotencyKey !== undefined);
  const won = await claimKeys(session, keyed, outcomes);

  // 2. Lock the claims (and merge targets: their state decides the merge).
  const ids = new Set<string>();
  for (let i = 0; i < writes.length; i++) {
    if (outcomes[i]) continue;
    const { input } = writes[i]!;
    ids.add(input.claimId);
    if (input.command.type === 'merge' && isClaimId(input.command.into)) ids.add(input.command.into.toLowerCase());
  }
  const { slots, busy } = await lockClaims(session, ids, cache, options);

  // The users the batch's assign commands name (one query, only when there are any).
  const assigning = writes.filter((w, i) => !outcomes[i] && w.input.command?.type === 'assign');
  const directory =
    assigning.length === 0 ? null : await directoryUsers(session.tx, assigning.map((w) => (w.input.command as { assignee?: unknown }).assignee));

  // 3. Decide, each command on its claim's locked state.
  for (let index = 0; index < writes.length; index++) {
    if (outcomes[index]) continue;
    const { input, streamId } = writes[index]!;
    const { claimId, command } = input;
    // A busy claim's command stays without an outcome: deferred.
    if (busy.has(claimId) || (command.type === 'merge' && isClaimId(command.into) && busy.has(command.into.toLowerCase()))) continue;
    const slot = slots.get(claimId) ?? claimSlot(streamId, initialClaimState, { version: 0, hash: null }, null);
    const context: DecideContext = { claimId };
    if (command.type === 'merge') {
      const target = isClaimId(command.into) ? slots.get(command.into.toLowerCase()) : undefined;
      context.mergeTarget = target ? { id: command.into.toLowerCase(), status: target.state.status! } : null;
    }
    if (command.type === 'assign') context.assignee = directory?.get(command.assignee) ?? null;
    const decided = decideWrite(input, slot.state, context);
    if (decided instanceof CommandError) {
      outcomes[index] = { ok: false, error: decided };
      continue;
    }
    slot.index = index;
    slot.events = decided;
    slots.set(claimId, slot);
  }

  // 4. Append every stream's events in one statement; fold the recorded events (the state
  // and view served and stored are exactly what a replay of the log computes).
  const appending = [...slots.values()].filter((slot) => slot.events.length > 0);
  if (appending.length > 0) {
    const results = await store.appendMany(
      appending.map((slot) => ({ streamId: slot.streamId, events: slot.events, head: slot.head })),
      { tx: session.tx },
    );
    foldAppended(appending, results, outcomes);
  }

  // 5. Projections, stored answers, released keys; COMMIT rides along.
  const { docs, rows, rowsJson } = projectionRows(appending);
  const { answers, released } = settleKeys(keyed, won, outcomes);
  options.committing?.();
  const last = batchProjectionStatement(rows, rowsJson, answers, released);
  if (last) await session.run(last.compile(session.tx), { commit: true });
  return { path: 'read_first', outcomes, written: writtenClaims(appending, docs) };
}

/**
 * What a write touches that another write in the same batch must not: its claim, a merge's
 * target, its idempotency key. The queue puts at most one write per footprint entry in a
 * batch (the others wait for the next one), so each command decides on its claim's locked,
 * committed state, and a merge sees its target as no other command of the batch leaves it.
 */
export function batchFootprint(input: ExecuteInput): string[] {
  const footprint = [input.claimId];
  if (input.command?.type === 'merge' && isClaimId(input.command.into)) footprint.push(input.command.into.toLowerCase());
  const key = keyOf(input);
  if (key !== null) footprint.push(`key\u0000${key}`);
  return footprint;
}
