import type { ClaimCommand } from '@claimtrail/domain';
import { writeTransaction, type Database, type EventStore } from '@claimtrail/event-store';
import { writeBatch } from './batch.ts';
import { loadFromStream, type StreamClaim } from './claim-locks.ts';
import type { BatchPath, BatchResult, BatchWrite, ClaimStateCache } from './claim-slots.ts';
import { CommandError } from './errors.ts';
import type { ExecuteResult } from './execute.ts';

/** A command waiting for its answer. */
export interface PendingWrite {
  write: BatchWrite;
  resolve(result: ExecuteResult): void;
  reject(error: unknown): void;
}

export interface PipelineOptions {
  store: EventStore;
  /** On PostgreSQL: transactions whose BEGIN and COMMIT ride with statements (see WriteSession). */
  database?: Database | undefined;
  /** Committed claim states (see ClaimStateCache). */
  states: ClaimStateCache;
  /** Attempts on a version race when the caller sent no If-Match. */
  maxAttempts: number;
  /** Each command that appended, after the commit and before its caller hears of it. */
  onCommitted(result: ExecuteResult, command: ClaimCommand): void;
}

export interface RunOptions {
  /**
   * Wait for claims that other transactions hold locked. Without: they are skipped, and
   * their commands run afterwards as batches of one that wait (one locked claim never
   * stalls the writes to all the others).
   */
  waitForLocks: boolean;
  /** Called when only the COMMIT is left (see WriteQueue). */
  committing?: () => void;
  /** Called once the transaction is written (or failed), with how. */
  onWritten?: (path: BatchPath | 'failed') => void;
}

/** A command on its own: waits for locks, retries version races. */
const ALONE: RunOptions = { waitForLocks: true };

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

function isConcurrencyConflict(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  // concurrency_conflict: the store's ConcurrencyError; 23505/40001/40P01: two writers
  // collided below the store's check (unique version, serialization, deadlock).
  return code === 'concurrency_conflict' || code === '23505' || code === '40001' || code === '40P01';
}

/**
 * The one write path: every command, alone or group-committed, is written by `write` — one
 * transaction of `writeBatch` (batch.ts) — and answered from its outcome.
 */
export class WritePipeline {
  constructor(private readonly options: PipelineOptions) {}

  /** A command on its own: a batch of one that waits for locks and retries version races. */
  writeOne(write: BatchWrite): Promise<ExecuteResult> {
    return new Promise<ExecuteResult>((resolve, reject) => void this.write([{ write, resolve, reject }], ALONE));
  }

  /**
   * Writes `pending` in one transaction and settles each command by its outcome. What the
   * transaction could not settle is written again, each command as a batch of one that
   * waits for locks: a command whose claim was locked elsewhere (after this returns: the
   * next batch need not wait for it), and — when the transaction failed for sure, so nothing
   * of it was written — every command, so one command's trouble (a projection behind its
   * stream, a value the database refuses) is never another's.
   *
   * A batch of one that waits for locks retries a version race itself, up to `maxAttempts`
   * times, each time from the claim's stream (its projection row may lag: a write around
   * the service, a rebuild); with If-Match the race is a precondition_failed with the
   * stream's version instead.
   */
  async write(pending: readonly PendingWrite[], run: RunOptions): Promise<void> {
    const { store, database, states } = this.options;
    const writes = pending.map((p) => p.write);
    const alone = run.waitForLocks && pending.length === 1;
    let fromStream: Map<string, StreamClaim> | undefined;
    try {
      for (let attempt = 1; ; attempt++) {
        let batch: BatchResult;
        try {
          batch = await writeTransaction(
            store,
            database,
            (session) => writeBatch(store, session, writes, states, { waitForLocks: run.waitForLocks, fromStream, committing: run.committing }),
            (result) => result.written.length > 0,
          );
        } catch (error) {
          run.onWritten?.('failed');
          if (alone && isConcurrencyConflict(error)) {
            fromStream = await this.afterRace(pending[0]!.write, attempt);
            continue;
          }
          if (alone || !rolledBackForSure(error)) {
            for (const p of pending) p.reject(error);
            return;
          }
          await Promise.all(pending.map((p) => this.write([p], ALONE)));
          return;
        }
        run.onWritten?.(batch.path);
        for (const [claimId, entry] of batch.written) states.set(claimId, entry);
        // Settled here, not in a function of its own: each await more between the answers and
        // the end of this batch keeps the queue's slot busy while the callers already go on
        // (a caller's next write would then wait for the next batch instead of leaving at once).
        for (let i = 0; i < pending.length; i++) {
          const outcome = batch.outcomes[i];
          const p = pending[i]!;
          if (outcome === undefined) {
            // Its claim is locked by another transaction: wait for it in a transaction of its own.
            if (run.waitForLocks) p.reject(new Error('a command waiting for its locks was left without an outcome'));
            else void this.write([p], ALONE);
          } else if (!outcome.ok) {
            p.reject(outcome.error);
          } else {
            if (!outcome.result.replayed) this.options.onCommitted(outcome.result, p.write.input.command);
            p.resolve(outcome.result);
          }
        }
        return;
      }
    } catch (error) {
      // A refusal after a version race, a failed read, a throwing hook: no command may be
      // left waiting (settling one twice is a no-op).
      for (const p of pending) p.reject(error);
    }
  }

  /** After a version race: the claim's stream for the next attempt, or the refusal that ends the tries. */
  private async afterRace({ input, streamId }: BatchWrite, attempt: number): Promise<Map<string, StreamClaim>> {
    if (input.expectedVersion !== undefined) {
      const current = await this.options.store.streamVersion(streamId);
      throw new CommandError('precondition_failed', `the claim is at version ${current}`, { currentVersion: current });
    }
    if (attempt >= this.options.maxAttempts) {
      throw new CommandError('conflict_retries_exhausted', 'too many concurrent writes to this claim; retry');
    }
    return new Map([[input.claimId, await loadFromStream(this.options.store, streamId)]]);
  }
}
