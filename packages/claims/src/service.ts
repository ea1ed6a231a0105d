import { availableParallelism } from 'node:os';
import { claimStreamId, type ClaimCommand } from '@claimtrail/domain';
import { canonicalJson, sha256Hex, type Database, type EventStore } from '@claimtrail/event-store';
import { batchFootprint } from './batch.ts';
import { ClaimStateCache, type BatchPath, type BatchWrite } from './claim-slots.ts';
import { CommandError } from './errors.ts';
import { WriteQueue } from './write-queue.ts';
import { ClaimViewCache } from './view-cache.ts';
import { isClaimId } from './ids.ts';
import { WritePipeline, type PendingWrite } from './pipeline.ts';
import type { ExecuteInput, ExecuteResult } from './execute.ts';

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
   * Group commit (see pipeline.ts, batch.ts): commands waiting while `concurrency` batches are being
   * written leave together in one transaction, up to `maxSize` of them. Default on, with
   * concurrency `defaultWriteConcurrency()` on PostgreSQL (1 on PGlite: one connection) and
   * maxSize 64; `false` writes every command in a transaction of its own (a batch of one).
   */
  batch?: { concurrency?: number; maxSize?: number } | false;
  /**
   * The store's database. On PostgreSQL, writes then run on one of its connections with
   * BEGIN sent along with the first statement and COMMIT with the last (3 round trips for
   * a write instead of 5); without it (or on PGlite) they use `store.transaction`.
   */
  database?: Database;
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
 * The command service: normalizes a command, queues it for group commit (or writes it
 * alone), and answers with its outcome. Every write goes through the one pipeline
 * (pipeline.ts → batch.ts): load → decide → append (expected version) → project, in one
 * transaction, with idempotency keys written alongside. Route handlers only translate
 * HTTP to `execute` and back.
 */
export class ClaimService {
  private readonly queue: WriteQueue<PendingWrite> | undefined;
  /** Claim states as last committed by this service: saves reading the view back, allows one-flight writes. */
  private readonly states = new ClaimStateCache();
  private readonly pipeline: WritePipeline;
  /** Claim views for reads (see ClaimViewCache): every write of this service is offered before it is acknowledged. */
  readonly views = new ClaimViewCache();

  constructor(
    readonly store: EventStore,
    private readonly options: ClaimServiceOptions = {},
  ) {
    this.pipeline = new WritePipeline({
      store,
      database: options.database,
      states: this.states,
      maxAttempts: options.maxAttempts ?? 20,
      onCommitted: (result, command) => {
        this.options.onAppended?.(result, command);
        this.views.offer(result.view.id, result.view.version, result.viewJson, true);
      },
    });
    if (options.batch !== false) {
      const merged = options.database?.kind === 'postgres';
      this.queue = new WriteQueue<PendingWrite>(
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
    // Without group commit every command is a batch of one (waiting for its claim's lock).
    if (!queue) return this.pipeline.writeOne(write);
    return new Promise<ExecuteResult>((resolve, reject) => queue.push({ write, resolve, reject }));
  }

  /**
   * Another writer (another instance sharing the database) recorded `version` of a claim:
   * a cached state older than that would send this service's next write to the claim down
   * the one-round-trip path with a stale expected version, to fail and roll back its
   * inserts. Dropping it makes that write read the claim first. Called by whatever follows
   * the store (the API's StoreFollower) for every claim event it sees; this service's own
   * writes leave their entry at the version they wrote, so they are kept.
   */
  forgetStale(claimId: string, version: number): void {
    const cached = this.states.get(claimId);
    if (cached !== undefined && cached.version < version) this.states.delete(claimId);
  }

  /** One batch of the queue: written together, skipping claims locked elsewhere (see WritePipeline.write). */
  private runBatch(queued: PendingWrite[], committing: () => void): Promise<void> {
    this.options.onBatch?.(queued.length);
    return this.pipeline.write(queued, { waitForLocks: false, committing, onWritten: this.options.onBatchWritten });
  }
}
