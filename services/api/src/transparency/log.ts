/**
 * The service's side of the transparency log (docs/transparency.md): a background job that
 * extends the stored Merkle tree from the positioned events and signs a checkpoint whenever
 * the tree grew, every CHECKPOINT_INTERVAL_MS; and what the routes read (the latest
 * checkpoint with its cosignatures, proofs). Runs on every instance: the tree extension is
 * serialized across instances by the store (advisory lock), a checkpoint is kept once per
 * tree size. Nothing here runs inside a write transaction.
 */
import type { Kysely } from 'kysely';
import {
  cosignaturesAt,
  checkpointAt,
  firstCheckpointCovering,
  extendTreeToHead,
  latestCheckpoint,
  storeCheckpoint,
  storeCosignature,
  storedTreeRoot,
  treeSize,
  type StoredCheckpoint,
} from '@claimtrail/event-store';
import {
  formatCheckpoint,
  formatVerifierKey,
  isValidCosignature,
  openNote,
  signNote,
  verifierKeyOf,
  NoteFormatError,
  type SignerKey,
  type VerifierKey,
} from '@claimtrail/transparency';

export interface TransparencyLogOptions {
  signer: SignerKey | undefined;
  witnesses: readonly VerifierKey[];
  intervalMs: number;
  onError(error: unknown): void;
}

export interface SyncResult {
  treeSize: number;
  /** The checkpoint signed by this call, if the tree grew. */
  checkpointSize?: number;
}

export type CosignatureOutcome = 'stored' | 'duplicate' | 'unknown_checkpoint' | 'unknown_witness' | 'invalid';

export class TransparencyLog {
  private timer: NodeJS.Timeout | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly db: Kysely<any>,
    private readonly options: TransparencyLogOptions,
  ) {}

  /** Starts the job: one sync at once, then every intervalMs. */
  start(): void {
    if (this.timer || this.closed) return;
    const tick = () => {
      if (!this.closed) this.sync().catch((error: unknown) => this.options.onError(error));
    };
    tick();
    this.timer = setInterval(tick, this.options.intervalMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.queue.catch(() => undefined);
  }

  get signing(): boolean {
    return this.options.signer !== undefined;
  }

  /** The public verifier key (`name+keyid+base64`), if checkpoints are signed. */
  verifierKey(): string | undefined {
    return this.options.signer ? formatVerifierKey(verifierKeyOf(this.options.signer)) : undefined;
  }

  /**
   * Extends the tree to the head and signs a checkpoint of it when none exists for its size.
   * One at a time per instance (calls queue).
   */
  sync(): Promise<SyncResult> {
    const run = this.queue.then(() => this.syncOnce());
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async syncOnce(): Promise<SyncResult> {
    await extendTreeToHead(this.db);
    const size = await treeSize(this.db);
    const signer = this.options.signer;
    if (!signer) return { treeSize: size };
    const latest = await latestCheckpoint(this.db);
    if (latest && latest.treeSize >= size) return { treeSize: size };
    const rootHash = await storedTreeRoot(this.db, size);
    const note = signNote(formatCheckpoint({ origin: signer.name, size, rootHash }), signer);
    await storeCheckpoint(this.db, { treeSize: size, rootHash, note });
    return { treeSize: size, checkpointSize: size };
  }

  /**
   * The latest checkpoint (or the one of `size`, or with `covering` the first whose tree holds
   * that position), its note followed by the witnesses' cosignature lines.
   */
  async checkpoint(size?: number, options: { covering?: number } = {}): Promise<{ checkpoint: StoredCheckpoint; note: string } | undefined> {
    const checkpoint =
      options.covering !== undefined
        ? await firstCheckpointCovering(this.db, options.covering)
        : size === undefined
          ? await latestCheckpoint(this.db)
          : await checkpointAt(this.db, size);
    if (!checkpoint) return undefined;
    const cosignatures = await cosignaturesAt(this.db, checkpoint.treeSize);
    return { checkpoint, note: checkpoint.note + cosignatures.map((c) => `${c.line}\n`).join('') };
  }

  /** Checks a witness's cosignature line over the checkpoint of `size` and keeps it. */
  async addCosignature(size: number, line: string): Promise<CosignatureOutcome> {
    let signature;
    try {
      signature = openNote(`x\n\n${line}\n`).signatures[0];
    } catch (error) {
      if (error instanceof NoteFormatError) return 'invalid';
      throw error;
    }
    if (!signature) return 'invalid';
    const stored = await checkpointAt(this.db, size);
    if (!stored) return 'unknown_checkpoint';
    const witness = this.options.witnesses.find((key) => key.name === signature.name && key.keyId.equals(signature.keyId));
    if (!witness) return 'unknown_witness';
    const text = openNote(stored.note).text;
    if (!isValidCosignature(text, signature, witness)) return 'invalid';
    const added = await storeCosignature(this.db, size, { keyName: witness.name, keyId: witness.keyId.toString('hex'), line: signature.line });
    return added ? 'stored' : 'duplicate';
  }
}
