import { availableParallelism } from 'node:os';
import { sql, type Transaction } from 'kysely';
import {
  claimStreamId,
  evolve,
  foldClaim,
  initialClaimState,
  toClaimView,
  toEnvelope,
  type ClaimCommand,
  type ClaimState,
  type ClaimView,
  type DecideContext,
} from '@claimtrail/domain';
import { canonicalJson, sha256Hex, type Database, type EventStore } from '@claimtrail/event-store';
import { directoryUsers } from '@claimtrail/identity';
import { batchFootprint, ClaimStateCache, writeBatch, type BatchOutcome, type BatchPath, type BatchWrite } from './batch.ts';
import { decideWrite } from './decide-write.ts';
import { CommandError } from './errors.ts';
import { WriteQueue } from './write-queue.ts';
import { ClaimViewCache } from './view-cache.ts';
import { isClaimId } from './ids.ts';
import { asTransaction, runInSession, type WriteSession } from './merged.ts';
import type { ExecuteInput, ExecuteResult } from './execute.ts';
import { claimProjectionStatement, stateFromView } from './projection.ts';

export { isClaimId } from './ids.ts';

export interface ClaimServiceOptions {
  /** Attempts on a version race when the caller sent no If-Match (default 20). */
  maxAttempts?: number;
  /** Called with the number of commands of each group-commit batch, before it is written. */
  onBatch?: (size: number) => void;
  /** Called once a group-commit batch is written (or failed), with how it was written. */
  onBatchWritten?: (path: BatchPath | 'failed') => void;
  /** Called after each commit that appended events. */
  onAppended?: (result: ExecuteResult, command: ClaimCommand) => void;
  /**
   * Group commit (see batch.ts): commands waiting while `concurrency` batches are being
   * written leave together in one transaction, up to `maxSize` of them. Default on, with
   * concurrency `defaultWriteConcurrency()` on PostgreSQL (1 on PGlite: one connection) and
   * maxSize 64; `false` writes every command in a transaction of its own.
   */
  batch?: { concurrency?: number; maxSize?: number } | false;
  /**
   * The store's database. On PostgreSQL, writes then run on one of its connections with
   * BEGIN sent along with the first statement and COMMIT with the last (3 round trips for
   * a write instead of 5); without it (or on PGlite) they use `store.transaction`.
   */
  database?: Database;
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

interface QueuedWrite {
  write: BatchWrite;
  resolve(result: ExecuteResult): void;
  reject(error: unknown): void;
}

/** Event-store refusals: thrown before or instead of writing, the transaction rolled back. */
const STORE_REFUSALS = new Set(['concurrency_conflict', 'invalid_event', 'idempotency_conflict']);

/**
 * Whether a failed batch certainly wrote nothing, so its commands may be tried again one by
 * one: PostgreSQL reported an error (SQLSTATE), so the transaction did not commit, and it is
 * not about the connection or the server going away (after which a COMMIT in flight may
 * have landed: those commands get the error, and their clients retry with their keys).
 */
function rolledBackForSure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  if (STORE_REFUSALS.has(code)) return true;
  return /^[0-9A-Z]{5}$/.test(code) && !code.startsWith('08') && !code.startsWith('57P') && !code.startsWith('53');
}

/**
 * The command with the claim ids it names in their canonical (lower-case) spelling: the
 * domain compares ids as strings (a merge into itself, the target recorded in ClaimMerged),
 * so it must only ever see one spelling of a claim. A value that is not a uuid is left for
 * the domain to refuse.
 */
function canonicalIds(command: ClaimCommand): ClaimCommand {
  if (command?.type === 'merge' && isClaimId(command.into) && command.into !== command.into.toLowerCase()) {
    return { ...command, into: command.into.toLowerCase() };
  }
  return command;
}

/**
 * Group-commit write transactions in flight at once, by default: the cores less one, 1 to 4
 * (on 2 cores, 1 measured best: bigger batches, less CPU per write). The service's
 * WRITE_CONCURRENCY defaults to it too.
 */
export function defaultWriteConcurrency(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

/**
 * The write pipeline: load → decide → append (expected version) → project, all in one
 * transaction, with idempotency keys written alongside. Route handlers only translate
 * HTTP to `execute` and back.
 */
export class ClaimService {
  private readonly maxAttempts: number;
  private readonly queue: WriteQueue<QueuedWrite> | undefined;
  /** Claim states as last committed by this service (batch path): saves reading the view back. */
  private readonly states = new ClaimStateCache();
  /** Claim views for reads (see ClaimViewCache): every write of this service is offered before it is acknowledged. */
  readonly views = new ClaimViewCache();

  constructor(
    readonly store: EventStore,
    private readonly options: ClaimServiceOptions = {},
  ) {
    this.maxAttempts = options.maxAttempts ?? 20;
    if (options.batch !== false) {
      const merged = options.database?.kind === 'postgres';
      this.queue = new WriteQueue<QueuedWrite>(
        (batch, committing) => this.runBatch(batch, committing),
        (queued) => batchFootprint(queued.write.input),
        {
          // PGlite has one connection: batches in parallel would only queue on it.
          concurrency: options.database?.kind === 'pglite' ? 1 : Math.max(1, options.batch?.concurrency ?? (merged ? defaultWriteConcurrency() : 1)),
          maxBatch: Math.max(1, options.batch?.maxSize ?? 64),
        },
      );
    }
  }

  requestHash(input: Pick<ExecuteInput, 'claimId' | 'command'>): string {
    const scope = input.command.type === 'submit_claim' ? null : input.claimId;
    return sha256Hex(canonicalJson({ claim: scope, command: input.command }));
  }

  async execute(input: ExecuteInput): Promise<ExecuteResult> {
    const { claimId, command } = input;
    if (!isClaimId(claimId)) {
      if (command?.type === 'submit_claim') throw new CommandError('validation', 'claim id must be a uuid', { field: 'id' });
      throw new CommandError('not_found', `claim ${String(claimId).slice(0, 100)} not found`);
    }
    const id = claimId.toLowerCase();
    const streamId = claimStreamId(id);
    const canonical = canonicalIds(command);
    // Only a keyed request needs its hash (canonical JSON + sha256 of the whole command).
    const requestHash =
      input.idempotencyKey === undefined ? '' : (input.requestHash ?? this.requestHash({ claimId: id, command: canonical }));
    const write: BatchWrite = { input: { ...input, claimId: id, command: canonical }, streamId, requestHash };
    const queue = this.queue;
    if (!queue) return this.executeAlone(write);
    return new Promise<ExecuteResult>((resolve, reject) => queue.push({ write, resolve, reject }));
  }

  /** One batch of the queue: written together; if that fails for sure, each on its own. */
  private async runBatch(queued: QueuedWrite[], committing: () => void = () => undefined): Promise<void> {
    this.options.onBatch?.(queued.length);
    let outcomes: (BatchOutcome | undefined)[];
    try {
      const batch = await this.transaction(
        (tx, session) => writeBatch(this.store, tx, session, queued.map((q) => q.write), this.states, committing),
        (result) => result.written.length > 0,
      );
      this.options.onBatchWritten?.(batch.path);
      outcomes = batch.outcomes;
      for (const [claimId, entry] of batch.written) this.states.set(claimId, entry);
    } catch (error) {
      this.options.onBatchWritten?.('failed');
      if (!rolledBackForSure(error)) {
        for (const q of queued) q.reject(error);
        return;
      }
      // One command's trouble (a lagging projection, a value the database refuses) must not
      // become everyone's: the single-command path retries conflicts and fails alone.
      await Promise.all(queued.map((q) => this.executeAlone(q.write).then(q.resolve, q.reject)));
      return;
    }
    for (let i = 0; i < queued.length; i++) {
      const outcome = outcomes[i];
      const q = queued[i]!;
      if (outcome === undefined) {
        // Its claim is locked by another transaction: wait for it on a connection of its own.
        void this.executeAlone(q.write).then(q.resolve, q.reject);
        continue;
      }
      if (!outcome.ok) {
        q.reject(outcome.error);
        continue;
      }
      if (!outcome.result.replayed) {
        this.options.onAppended?.(outcome.result, q.write.input.command);
        this.offerView(outcome.result);
      }
      q.resolve(outcome.result);
    }
  }

  private offerView(result: ExecuteResult): void {
    this.views.offer(result.view.id, result.view.version, result.viewJson);
  }

  /** One command in a transaction of its own, retried on version races. */
  private async executeAlone({ input, streamId, requestHash }: BatchWrite): Promise<ExecuteResult> {
    const { command } = input;
    let fromStream: Loaded | undefined;

    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.transaction(
          (tx, session) => this.attempt(tx, session, input, streamId, requestHash, fromStream),
          (outcome) => outcome.events.length > 0,
        );
        if (!result.replayed) {
          this.options.onAppended?.(result, command);
          this.offerView(result);
        }
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
  private async transaction<T>(fn: (tx: Transaction<any>, session: WriteSession) => Promise<T>, appended: (value: T) => boolean): Promise<T> {
    const database = this.options.database;
    if (database?.kind !== 'postgres') {
      return this.store.transaction((tx) => fn(tx, { merged: false, begun: true, committed: false }));
    }
    const result = await database.db.connection().execute(async (connection) => {
      const session: WriteSession = { merged: true, begun: false, committed: false };
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
    if (appended(result)) this.store.wake();
    return result;
  }

  private async attempt(
    tx: Transaction<any>,
    session: WriteSession,
    input: ExecuteInput,
    streamId: string,
    requestHash: string,
    fromStream: Loaded | undefined,
  ): Promise<ExecuteResult> {
    const { claimId, command, actor, idempotencyKey } = input;

    if (idempotencyKey !== undefined) {
      // Insert first: a concurrent request with the same key waits on the primary key
      // until this transaction ends, then sees the committed answer.
      const claimed = await runInSession(
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
        const viewJson = typeof row.response === 'string' ? row.response : JSON.stringify(row.response);
        return { view: JSON.parse(viewJson) as ClaimView, viewJson, events: [], replayed: true };
      }
    }

    const loaded = await this.loadForUpdate(tx, session, claimId, fromStream);
    const context: DecideContext = { claimId };
    if (command?.type === 'merge') context.mergeTarget = await this.mergeTarget(tx, command.into);
    // Only an assign reads the directory: no other write pays for the lookup.
    if (command?.type === 'assign') context.assignee = (await directoryUsers(tx, [command.assignee])).get(command.assignee) ?? null;
    const newEvents = decideWrite(input, loaded.state, context);
    if (newEvents instanceof CommandError) throw newEvents;
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
    await runInSession(tx, session, claimProjectionStatement(streamId, state, view, previous, answer, headHash, viewJson), true);
    return { view, viewJson, events: appended.events, replayed: false };
  }

  private async loadForUpdate(tx: Transaction<any>, session: WriteSession, claimId: string, fromStream: Loaded | undefined): Promise<Loaded> {
    // Row lock: concurrent writers to one claim queue here instead of racing to the
    // append and retrying.
    const rows = await runInSession(
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
    return row ? { id: into.toLowerCase(), status: row.state as ClaimState['status'] & string } : null;
  }
}
