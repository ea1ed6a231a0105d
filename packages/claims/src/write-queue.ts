/**
 * Hands queued writes to a runner in batches (group commit). At most `concurrency` batches
 * run at once; a write arriving while a slot is free starts at once, alone (no timer, no
 * added latency when the service is idle); writes arriving while every slot is busy wait
 * and leave together with the next free slot, up to `maxBatch` of them.
 *
 * A batch never holds two writes with a footprint entry in common (same claim, same
 * idempotency key): the later one waits for a later batch, so writes to one claim keep
 * their arrival order and each decides on committed state.
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
  private running = 0;

  constructor(
    private readonly run: (batch: W[]) => Promise<void>,
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
    while (this.running < this.options.concurrency && this.waiting.length > 0) {
      const batch = this.take();
      this.running++;
      // `run` settles every write of its batch itself; a rejection here would be a bug in
      // it, and must not stop the queue.
      this.run(batch)
        .catch(() => undefined)
        .finally(() => {
          this.running--;
          this.pump();
        });
    }
  }

  private take(): W[] {
    const batch: W[] = [];
    const used = new Set<string>();
    const rest: Waiting<W>[] = [];
    for (const entry of this.waiting) {
      // Once a footprint entry is skipped, later writes with it are skipped too (order kept).
      if (batch.length < this.options.maxBatch && entry.footprint.every((part) => !used.has(part))) {
        batch.push(entry.write);
      } else {
        rest.push(entry);
      }
      for (const part of entry.footprint) used.add(part);
    }
    this.waiting = rest;
    return batch;
  }
}
