/** Result of one pass of the `events_sequence` SQL function. */
export interface PassResult {
  busy: boolean;
  sequenced: number;
  head: number;
}

export interface SequencerOptions {
  runPass: (batch: number) => Promise<PassResult>;
  /** Called after a pass assigned positions, with the new head. */
  onAdvance: (head: number) => void;
  onError: (error: unknown) => void;
  batchSize: number;
  pollIntervalMs: number;
  /**
   * Delay before retrying when another instance holds the sequencing lock, unless that
   * instance's pass is heard of sooner (`othersAdvanced`).
   */
  busyRetryMs: () => number;
  /**
   * Minimum time between the starts of two passes. Every pass is a commit (a WAL flush):
   * under load this batches many appends into one pass; when idle the pass runs at once.
   */
  minPassIntervalMs: number;
}

/**
 * Drives sequencer passes in this process: woken after every local append commit, and by
 * a poll timer that covers appends of other instances whose own sequencer died between
 * their commit and their pass. Passes never overlap within a process; across processes
 * they are serialized by the advisory lock inside the SQL function.
 */
export class Sequencer {
  private dirty = false;
  private running = false;
  private closed = false;
  private started = 0;
  private readonly timer: NodeJS.Timeout;
  private waiters: { after: number; resolve: (head: number) => void; reject: (error: unknown) => void }[] = [];
  /** Passes started before the latest `wakeAfterCommit`: any later pass covers that commit. */
  private startedBeforeCommit = 0;
  private idle: Promise<void> = Promise.resolve();
  private failures = 0;
  private lastStart = -Infinity;
  /** Passes of other instances heard of (their notifications): see `othersAdvanced`. */
  private heardPasses = 0;
  private wakeFromBusy: (() => void) | undefined;

  constructor(private readonly options: SequencerOptions) {
    this.timer = setInterval(() => this.wake(), options.pollIntervalMs);
    this.timer.unref();
  }

  wake(): void {
    if (this.closed) return;
    this.dirty = true;
    if (!this.running) this.idle = this.loop();
  }

  /**
   * Another instance's pass committed (its notification arrived). A pass of ours that found
   * the lock taken waits for this rather than retrying on a short timer: every retry while
   * the other pass runs would be one more transaction that does nothing; the retry after it
   * positions whatever that pass did not.
   */
  othersAdvanced(): void {
    this.heardPasses++;
    const wake = this.wakeFromBusy;
    this.wakeFromBusy = undefined;
    wake?.();
  }

  /** Called right after a local commit that appended: the next pass to start covers it. */
  wakeAfterCommit(): void {
    this.startedBeforeCommit = this.started;
    this.wake();
  }

  /**
   * Resolves, with the head it left, once a pass that started after this call has drained
   * every visible unsequenced event: every event committed before the call has a position
   * at or below that head.
   */
  flush(): Promise<number> {
    return this.waitForPassAfter(this.started);
  }

  /**
   * As `flush`, for the events of commits announced by `wakeAfterCommit` before this call
   * only: a pass that started after the latest of them is enough, even one that started
   * before this call. A write that asks right after its commit so waits for the pass its
   * commit woke, not for the one after it.
   */
  flushCommitted(): Promise<number> {
    return this.waitForPassAfter(this.startedBeforeCommit);
  }

  private waitForPassAfter(after: number): Promise<number> {
    if (this.closed) return Promise.reject(new Error('sequencer is closed'));
    return new Promise((resolve, reject) => {
      this.waiters.push({ after, resolve, reject });
      this.wake();
    });
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      while (this.dirty && !this.closed) {
        const wait = this.lastStart + this.options.minPassIntervalMs - performance.now();
        if (wait > 0) await sleep(wait);
        if (this.closed) break;
        this.dirty = false;
        this.lastStart = performance.now();
        const pass = ++this.started;
        const heardBefore = this.heardPasses;
        let result: PassResult;
        try {
          result = await this.options.runPass(this.options.batchSize);
          this.failures = 0;
        } catch (error) {
          if (this.closed) break;
          this.options.onError(error);
          this.failures++;
          await sleep(Math.min(50 * 2 ** this.failures, 2000));
          this.dirty = true;
          continue;
        }
        if (result.busy) {
          // Heard of already (the other pass ended after ours found the lock taken): retry now.
          if (this.heardPasses === heardBefore) await this.busyWait();
          this.dirty = true;
          continue;
        }
        if (result.sequenced > 0) this.options.onAdvance(result.head);
        if (result.sequenced >= this.options.batchSize) {
          this.dirty = true;
          continue;
        }
        const ready = this.waiters.filter((waiter) => waiter.after < pass);
        if (ready.length > 0) {
          this.waiters = this.waiters.filter((waiter) => waiter.after >= pass);
          for (const waiter of ready) waiter.resolve(result.head);
        }
      }
    } finally {
      this.running = false;
    }
    if (this.waiters.length > 0 && !this.closed) this.wake();
  }

  /** Until another instance's pass is heard of, `busyRetryMs` at most, or close. */
  private busyWait(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeFromBusy = undefined;
        resolve();
      }, this.options.busyRetryMs());
      this.wakeFromBusy = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.othersAdvanced();
    clearInterval(this.timer);
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.reject(new Error('sequencer is closed'));
    await this.idle.catch(() => undefined);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
