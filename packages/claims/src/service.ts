import { sql, type RawBuilder, type Transaction } from 'kysely';
import {
  claimStreamId,
  decide,
  evolve,
  foldClaim,
  initialClaimState,
  toClaimView,
  toEnvelope,
  type Actor,
  type ClaimCommand,
  type ClaimState,
  type ClaimView,
  type DecideContext,
} from '@claimtrail/domain';
import { canonicalJson, sha256Hex, type Database, type EventStore, type JsonObject, type NewEvent, type RecordedEvent } from '@claimtrail/event-store';
import { CommandError } from './errors.ts';
import { asTransaction, runInTransactionFlight } from './merged.ts';
import { claimProjectionStatement, stateFromView } from './projection.ts';

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isClaimId(value: unknown): value is string {
  return typeof value === 'string' && UUID_RE.test(value);
}

export interface ExecuteInput {
  /** Claim uuid (for submit_claim: the id the new claim gets). */
  claimId: string;
  command: ClaimCommand;
  actor: Actor;
  /** If-Match: the stream version the caller based the command on. Stale → precondition_failed. */
  expectedVersion?: number;
  /** Scoped per actor. Same key + same request → the first answer, nothing appended. */
  idempotencyKey?: string;
  /** Identifies "the same request" for the key; default: hash of claim id (except on create) + command. */
  requestHash?: string;
  /** Recorded in the events' metadata as correlationId. */
  correlationId?: string;
}

export interface ExecuteResult {
  view: ClaimView;
  /** Events appended by this call (empty when replayed). */
  events: RecordedEvent[];
  /** True when the answer is the stored one of an earlier call with the same idempotency key. */
  replayed: boolean;
}

export interface ClaimServiceOptions {
  /** Attempts on a version race when the caller sent no If-Match (default 20). */
  maxAttempts?: number;
  /** Called after each commit that appended events. */
  onAppended?: (result: ExecuteResult, command: ClaimCommand) => void;
  /**
   * The store's database. On PostgreSQL, writes then run on one of its connections with
   * BEGIN sent along with the first statement and COMMIT with the last (3 round trips for
   * a write instead of 5); without it (or on PGlite) they use `store.transaction`.
   */
  database?: Database;
}

/** One write transaction: whether BEGIN/COMMIT ride with statements, and how far it got. */
interface Session {
  merged: boolean;
  begun: boolean;
  committed: boolean;
}

interface Loaded {
  state: ClaimState;
  version: number;
  /** The projection row exists and matches: an update may keep its search vector. */
  fromProjection?: boolean;
  /** Hash of the event at `version`, when known: handed to the store as the stream head. */
  headHash?: string | null;
}

function isConcurrencyConflict(error: unknown): error is Error & { actual?: number } {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  // concurrency_conflict: the store's ConcurrencyError; 23505/40001/40P01: two writers
  // collided below the store's check (unique version, serialization, deadlock).
  return code === 'concurrency_conflict' || code === '23505' || code === '40001' || code === '40P01';
}

/**
 * The write pipeline: load → decide → append (expected version) → project, all in one
 * transaction, with idempotency keys written alongside. Route handlers only translate
 * HTTP to `execute` and back.
 */
export class ClaimService {
  private readonly maxAttempts: number;

  constructor(
    readonly store: EventStore,
    private readonly options: ClaimServiceOptions = {},
  ) {
    this.maxAttempts = options.maxAttempts ?? 20;
  }

  requestHash(input: Pick<ExecuteInput, 'claimId' | 'command'>): string {
    const scope = input.command.type === 'submit_claim' ? null : input.claimId;
    return sha256Hex(canonicalJson({ claim: scope, command: input.command }));
  }

  async execute(input: ExecuteInput): Promise<ExecuteResult> {
    const { claimId, command, actor } = input;
    if (!isClaimId(claimId)) {
      if (command?.type === 'submit_claim') throw new CommandError('validation', 'claim id must be a uuid', { field: 'id' });
      throw new CommandError('not_found', `claim ${String(claimId).slice(0, 100)} not found`);
    }
    const id = claimId.toLowerCase();
    const streamId = claimStreamId(id);
    // Only a keyed request needs its hash (canonical JSON + sha256 of the whole command).
    const requestHash =
      input.idempotencyKey === undefined ? '' : (input.requestHash ?? this.requestHash({ claimId: id, command }));
    let fromStream: Loaded | undefined;

    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.transaction((tx, session) =>
          this.attempt(tx, session, { ...input, claimId: id }, streamId, requestHash, fromStream),
        );
        if (!result.replayed) this.options.onAppended?.(result, command);
        return result;
      } catch (error) {
        if (!isConcurrencyConflict(error)) throw error;
        if (input.expectedVersion !== undefined) {
          const current = await this.store.streamVersion(streamId);
          throw new CommandError('precondition_failed', `the claim is at version ${current}`, { currentVersion: current });
        }
        if (attempt >= this.maxAttempts) {
          throw new CommandError('conflict_retries_exhausted', 'too many concurrent writes to this claim; retry');
        }
        // The projection row may lag the stream (a write outside this service, a rebuild):
        // read the stream itself for the next attempt.
        fromStream = await this.loadFromStream(streamId);
      }
    }
  }

  /** `store.transaction`, or on PostgreSQL a transaction whose BEGIN and COMMIT ride with statements. */
  private async transaction<T extends ExecuteResult>(fn: (tx: Transaction<any>, session: Session) => Promise<T>): Promise<T> {
    const database = this.options.database;
    if (database?.kind !== 'postgres') {
      return this.store.transaction((tx) => fn(tx, { merged: false, begun: true, committed: false }));
    }
    const result = await database.db.connection().execute(async (connection) => {
      const session: Session = { merged: true, begun: false, committed: false };
      try {
        const value = await fn(asTransaction(connection), session);
        if (session.begun && !session.committed) await sql`commit`.execute(connection);
        session.committed = true;
        return value;
      } catch (error) {
        // The original error is the answer; a failed rollback (connection gone) adds nothing,
        // and pg's pool drops a connection that errored.
        if (session.begun && !session.committed) await sql`rollback`.execute(connection).catch(() => undefined);
        throw error;
      }
    });
    // Positions are assigned after the commit: what store.transaction does for its own.
    if (result.events.length > 0) this.store.wake();
    return result;
  }

  /**
   * Runs one statement of the write. On the merged path the first one carries BEGIN and
   * the last (`commit`) carries COMMIT, in the same round trip.
   */
  private async run<R>(tx: Transaction<any>, session: Session, query: RawBuilder<R>, commit = false): Promise<R[]> {
    const begin = session.merged && !session.begun;
    if (!begin && !(session.merged && commit)) return (await query.execute(tx)).rows;
    // From here on, whatever happens, the transaction may be open: end it on failure.
    session.begun = true;
    const rows = await runInTransactionFlight<R>(tx, query.compile(tx), { begin, commit });
    if (commit) session.committed = true;
    return rows;
  }

  private async attempt(
    tx: Transaction<any>,
    session: Session,
    input: ExecuteInput,
    streamId: string,
    requestHash: string,
    fromStream: Loaded | undefined,
  ): Promise<ExecuteResult> {
    const { claimId, command, actor, idempotencyKey } = input;

    if (idempotencyKey !== undefined) {
      // Insert first: a concurrent request with the same key waits on the primary key
      // until this transaction ends, then sees the committed answer.
      const claimed = await this.run(
        tx,
        session,
        sql`
        insert into idempotency_keys (user_id, key, request_hash, claim_id, status_code, response)
        values (${actor.id}, ${idempotencyKey}, ${requestHash}, ${claimId}, 0, 'null')
        on conflict (user_id, key) do nothing
        returning key`,
      );
      if (claimed.length === 0) {
        const existing = await sql<{ request_hash: string; response: ClaimView | string }>`
          select request_hash, response from idempotency_keys
          where user_id = ${actor.id} and key = ${idempotencyKey}`.execute(tx);
        const row = existing.rows[0];
        if (!row || row.request_hash !== requestHash) {
          throw new CommandError(
            'idempotency_key_reuse',
            'this Idempotency-Key was already used for a different request',
          );
        }
        const view = typeof row.response === 'string' ? (JSON.parse(row.response) as ClaimView) : row.response;
        return { view, events: [], replayed: true };
      }
    }

    const loaded = await this.loadForUpdate(tx, session, claimId, fromStream);
    if (input.expectedVersion !== undefined && input.expectedVersion !== loaded.version) {
      throw new CommandError('precondition_failed', `the claim is at version ${loaded.version}`, {
        currentVersion: loaded.version,
      });
    }
    if (command?.type !== 'submit_claim' && loaded.state.status === null) {
      throw new CommandError('not_found', `claim ${claimId} not found`);
    }

    const context: DecideContext = { claimId };
    if (command.type === 'merge') context.mergeTarget = await this.mergeTarget(tx, command.into);
    const decision = decide(command, loaded.state, actor, context);
    if (!decision.ok) {
      const { code, message, field } = decision.refusal;
      throw new CommandError(code, message, field === undefined ? {} : { field });
    }

    const metadata = {
      actor: actor.id,
      actorRole: actor.role,
      ...(input.correlationId ? { correlationId: input.correlationId } : {}),
    };
    const newEvents: NewEvent[] = decision.events.map((event) => ({
      type: event.type,
      data: event.data as unknown as JsonObject,
      metadata,
    }));
    // The head kept in the locked claim row saves the store its head read (the store's
    // guarded INSERT checks it; a stale one is a ConcurrencyError and a retry).
    const head =
      loaded.version === 0 ? { version: 0, hash: null } : loaded.headHash ? { version: loaded.version, hash: loaded.headHash } : undefined;
    const appended = await this.store.append(streamId, newEvents, {
      expectedVersion: loaded.version === 0 ? 'no_stream' : loaded.version,
      tx,
      ...(head ? { head } : {}),
    });

    let state = loaded.state;
    for (const recorded of appended.events) state = evolve(state, toEnvelope(recorded));
    const view = toClaimView(state);
    const previous = loaded.fromProjection && loaded.state.status !== null ? toClaimView(loaded.state) : null;
    // The stored answer for the key rides along with the projection write (one statement).
    // Serialized once: the projection's view column and the stored answer.
    const viewJson = JSON.stringify(view);
    const answer =
      idempotencyKey === undefined
        ? undefined
        : sql`update idempotency_keys set status_code = ${command.type === 'submit_claim' ? 201 : 200},
            version = ${view.version}, response = ${viewJson}
          where user_id = ${actor.id} and key = ${idempotencyKey}`;
    const headHash = appended.events[appended.events.length - 1]?.hash ?? loaded.headHash ?? null;
    await this.run(tx, session, claimProjectionStatement(streamId, state, view, previous, answer, headHash, viewJson), true);
    return { view, events: appended.events, replayed: false };
  }

  private async loadForUpdate(tx: Transaction<any>, session: Session, claimId: string, fromStream: Loaded | undefined): Promise<Loaded> {
    // Row lock: concurrent writers to one claim queue here instead of racing to the
    // append and retrying.
    const rows = await this.run(
      tx,
      session,
      sql<{ view: ClaimView | string; version: number; head_hash: string | null }>`
      select view, version, head_hash from claims where id = ${claimId} for update`,
    );
    const row = rows[0];
    if (fromStream && (!row || row.version !== fromStream.version)) return fromStream;
    if (!row) return { state: initialClaimState, version: 0 };
    // The row stores the view, which carries the whole state (see `stateFromView`).
    const state = stateFromView(typeof row.view === 'string' ? (JSON.parse(row.view) as ClaimView) : row.view);
    return { state, version: Number(row.version), fromProjection: true, headHash: row.head_hash };
  }

  private async loadFromStream(streamId: string): Promise<Loaded> {
    const events = await this.store.readStream(streamId);
    const state = foldClaim(events.map((e) => toEnvelope(e)));
    const head = events.find((e) => e.version === state.version);
    return { state, version: state.version, headHash: head?.hash ?? null };
  }

  private async mergeTarget(tx: Transaction<any>, into: unknown): Promise<DecideContext['mergeTarget']> {
    if (!isClaimId(into)) return null;
    const result = await sql<{ id: string; state: string }>`
      select id, state from claims where id = ${into.toLowerCase()}`.execute(tx);
    const row = result.rows[0];
    return row ? { id: into, status: row.state as ClaimState['status'] & string } : null;
  }
}
