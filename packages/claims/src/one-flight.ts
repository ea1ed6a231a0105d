import { sql } from 'kysely';
import { initialClaimState } from '@claimtrail/domain';
import type { EventStore, WriteSession } from '@claimtrail/event-store';
import { claimSlot, foldAppended, writtenClaims, type BatchOutcome, type BatchResult, type BatchWrite, type ClaimSlot, type ClaimStateCache } from './claim-slots.ts';
import { decideWrite } from './decide-write.ts';
import { CommandError } from './errors.ts';
import { insertAnswers, isKeyConflict, withdrawUnwritten } from './idempotency.ts';
import { batchProjectionStatement, projectionRows } from './projection-statement.ts';

/**
 * The common case in one round trip. When every command of the batch writes a claim whose
 * committed state this service holds (or creates one) and is neither a merge nor an
 * assign, nothing needs to be read first: the commands are decided on the cached states,
 * the events numbered and chained, the views folded, and BEGIN, the Idempotency-Keys with
 * their answers (`insertAnswers`: a key already present fails the flight, and the
 * read-first way answers it), the row locks (in id order, as the read-first path takes
 * them), the append, the projection rows and COMMIT go out together
 * (`WriteSession.appendInOneFlight`).
 *
 * A cached state that is no longer the claim's latest cannot write anything: the stream
 * has moved on, so its next version is taken and the append fails on the unique (stream,
 * version) index, aborting the transaction; or the head it chains to is not an event (the
 * append's guard inserts nothing, and the projection rows only go in next to their own
 * events, so the COMMIT commits nothing). Either way those claims leave the cache and the
 * batch is written the read-first way, reading what is committed. Returns null then, and
 * when the batch does not qualify (nothing was sent).
 */
export async function writeInOneFlight(
  store: EventStore,
  session: WriteSession,
  writes: readonly BatchWrite[],
  cache: ClaimStateCache,
): Promise<BatchResult | null> {
  if (!session.pipelined || session.begun) return null;
  const slots: ClaimSlot[] = [];
  for (const { input, streamId } of writes) {
    // A merge reads its target and an assign its assignee: neither is in the cache.
    if (input.command.type === 'merge' || input.command.type === 'assign') return null;
    const cached = cache.get(input.claimId);
    if (cached) {
      if (cached.version > 0 && !cached.headHash) return null;
      slots.push(claimSlot(streamId, cached.state, { version: cached.version, hash: cached.headHash }, cached.doc));
    } else if (input.command.type === 'submit_claim') {
      slots.push(claimSlot(streamId, initialClaimState, { version: 0, hash: null }, null));
    } else return null;
  }

  const outcomes: (BatchOutcome | undefined)[] = new Array(writes.length);
  for (let index = 0; index < writes.length; index++) {
    const slot = slots[index]!;
    const decided = decideWrite(writes[index]!.input, slot.state, { claimId: writes[index]!.input.claimId });
    // A refusal decided on a cached state is only as right as the cache: the append would
    // prove an acceptance, nothing proves a refusal. Such a batch reads the rows first.
    if (decided instanceof CommandError) return null;
    slot.index = index;
    slot.events = decided;
  }
  const appending = slots.filter((slot) => slot.events.length > 0);
  // A keyed command that appends nothing has no answer to store in this flight.
  if (appending.length === 0 || appending.length !== slots.length) return null;

  const append = store.prepareAppendMany(appending.map((slot) => ({ streamId: slot.streamId, events: slot.events, head: slot.head })));
  foldAppended(appending, append.results, outcomes);
  const { docs, rows, rowsJson } = projectionRows(appending);
  const projection = batchProjectionStatement(rows, rowsJson, [], [], true)!.compile(session.tx);
  const ids = appending.map((slot) => slot.view!.id).sort();
  // NOWAIT: a claim another transaction holds (another instance's write, a rebuild) fails
  // the flight at once instead of holding up the whole batch behind it; the read-first way
  // then writes the rest and waits for that claim alone (claim-locks.ts).
  const locks = sql`select id from claims where id = any(${ids}::uuid[]) order by id for update nowait`.compile(session.tx);
  const answers = writes.flatMap(({ input, requestHash, streamId }, index) => {
    if (input.idempotencyKey === undefined) return [];
    const { view, viewJson } = slots[index]!;
    const status_code = input.command.type === 'submit_claim' ? 201 : 200;
    return [{ user_id: input.actor.id, key: input.idempotencyKey, request_hash: requestHash, claim_id: input.claimId, streamId, status_code, version: view!.version, responseJson: viewJson! }];
  });
  const keys = answers.length > 0 ? [insertAnswers(answers).compile(session.tx)] : [];
  const unwritten = answers.length > 0 ? [withdrawUnwritten(answers).compile(session.tx)] : [];

  // Not the queue's `committing()` first: the next batch waits for this flight and leaves
  // bigger (with one round trip there is no separate COMMIT wait to overlap; measured:
  // smaller batches cost more CPU per command than the overlap saves).
  if (!(await session.appendInOneFlight(append, { before: [...keys, locks], after: [projection, ...unwritten], abandonOn: abandonsFlight }))) {
    // The cached states were stale, a key was taken or a claim locked: forget the states
    // (reading such a claim again is cheap); the caller starts the transaction again.
    for (const id of ids) cache.delete(id);
    return null;
  }
  return { path: 'one_flight', outcomes, written: writtenClaims(appending, docs) };
}

/** A flight that failed for one of these is written the read-first way: a taken key, a claim locked elsewhere. */
function abandonsFlight(error: unknown): boolean {
  return isKeyConflict(error) || (error as { code?: unknown } | null)?.code === '55P03';
}
