/**
 * Hands queued writes to a runner in batches (group commit). At most `concurrency` batches
 * run at once; a write arriving while a slot is free starts at once, alone (no timer, no
 * added latency when the service is idle); writes arriving while every slot is busy wait
 * and leave together with the next free slot, up to `maxBatch` of them.
 *
 * A write never shares a footprint entry (its claim, a merge target, its idempotency key)
 * with another write of its batch or of a batch in flight: it waits, so writes to one claim
 * keep their arrival order, each decides on committed state, and batches never wait on
 * each other's row locks.
 */
export interface WriteQueueOptions {
  concurrency: number;
  maxBatch: number;
}

interface Waiting<W> {
  write: W;
  footprint: readonly string[];
}

export class WriteQueue<W> {
  private waiting: Waiting<W>[] = [];
  /** Batches deciding and writing (not yet committing). */
  private working = 0;
  /** Batches in flight, committing ones included. */
  private inFlight = 0;
  /** Footprint entries of the batches in flight (`take` never lets two batches share one). */
  private readonly busy = new Set<string>();

  /**
   * `run` gets the batch and `committing`, to call when all that is left is the COMMIT
   * round trip: from then on the batch no longer counts against `concurrency`, so the next
   * batch is formed and decided while this one waits for its commit (and WAL flush). At
   * most `2 × concurrency` batches are in flight at all.
   */
  constructor(
    private readonly run: (batch: W[], committing: () => void) => Promise<void>,
    private readonly footprint: (write: W) => readonly string[],
    private readonly options: WriteQueueOptions,
  ) {}

  /** Writes waiting for a slot (not counting those in running batches). */
  get depth(): number {
    return this.waiting.length;
  }

  push(write: W): void {
    this.waiting.push({ write, footprint: this.footprint(write) });
    this.pump();
  }

  private pump(): void {
    const { concurrency } = this.options;
    while (this.working < concurrency && this.inFlight < 2 * concurrency && this.waiting.length > 0) {
      const { batch, footprint } = this.take();
      if (batch.length === 0) break;
      for (const part of footprint) this.busy.add(part);
      this.working++;
      this.inFlight++;
      let working = true;
      const committing = () => {
        if (!working) return;
        working = false;
        this.working--;
        this.pump();
      };
      // `run` settles every write of its batch itself; a rejection here would be a bug in
      // it, and must not stop the queue.
      this.run(batch, committing)
        .catch(() => undefined)
        .finally(() => {
          this.inFlight--;
          for (const part of footprint) this.busy.delete(part);
          committing();
          this.pump();
        });
    }
  }

  /**
   * The next batch: waiting writes in arrival order, skipping any whose footprint meets a
   * batch in flight or one already taken (and, once skipped, every later write sharing an
   * entry with it: per claim, order is kept).
   */
  private take(): { batch: W[]; footprint: string[] } {
    const batch: W[] = [];
    const footprint: string[] = [];
    const used = new Set<string>();
    const rest: Waiting<W>[] = [];
    for (const entry of this.waiting) {
      if (batch.length < this.options.maxBatch && entry.footprint.every((part) => !used.has(part) && !this.busy.has(part))) {
        batch.push(entry.write);
        footprint.push(...entry.footprint);
      } else {
        rest.push(entry);
      }
      for (const part of entry.footprint) used.add(part);
    }
    this.waiting = rest;
    return { batch, footprint };
  }
}
