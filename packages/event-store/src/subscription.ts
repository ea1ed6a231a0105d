import { StoreClosedError } from './errors.ts';
import type { ReadAllOptions, ReadAllResult, SubscribeOptions, Subscription, SubscriptionHandler } from './types.ts';

/** What a subscription reads through: the store's log by position. */
export interface SubscriptionSource {
  readAll(options: ReadAllOptions): Promise<ReadAllResult>;
  headPosition(): Promise<number>;
  /** Re-read at least this often even without a wake-up. */
  readonly subscriptionPollMs: number;
}

/**
 * Catch-up by pages of readAll, then wait for a wake-up (sequencer, notification,
 * reconnect or poll) and read again from the last delivered position. Positions become
 * visible only as a growing prefix, so "position > last delivered" never skips.
 */
export class LogSubscription implements Subscription {
  position = 0;
  readonly caughtUp: Promise<void>;
  private resolveCaughtUp!: () => void;
  private rejectCaughtUp!: (error: unknown) => void;
  private closed = false;
  private pending = false;
  private wakeUp: (() => void) | undefined;
  private loopDone: Promise<void> = Promise.resolve();
  private readonly batchSize: number;

  constructor(
    private readonly store: SubscriptionSource,
    private readonly options: SubscribeOptions,
    private readonly handler: SubscriptionHandler,
    private readonly onError: (error: unknown) => void,
    private readonly onClose: () => void,
  ) {
    this.batchSize = Math.max(1, Math.min(options.batchSize ?? 1000, 10_000));
    this.caughtUp = new Promise((resolve, reject) => {
      this.resolveCaughtUp = resolve;
      this.rejectCaughtUp = reject;
    });
    this.caughtUp.catch(() => undefined);
    if (typeof options.after === 'number') this.position = options.after;
  }

  start(): void {
    this.loopDone = this.loop();
  }

  wake(): void {
    this.pending = true;
    const wakeUp = this.wakeUp;
    this.wakeUp = undefined;
    wakeUp?.();
  }

  private async loop(): Promise<void> {
    let failures = 0;
    if (this.options.after === 'end') {
      for (;;) {
        if (this.closed) return;
        try {
          this.position = await this.store.headPosition();
          break;
        } catch (error) {
          this.onError(error);
          await this.pause(Math.min(100 * 2 ** ++failures, 5000));
        }
      }
    }
    // During catch-up the next page is read while the handler works through this one.
    let prefetched: Promise<ReadAllResult> | undefined;
    while (!this.closed) {
      this.pending = false;
      let page: ReadAllResult;
      try {
        page = await (prefetched ?? this.store.readAll({ after: this.position, limit: this.batchSize }));
        prefetched = undefined;
        failures = 0;
      } catch (error) {
        prefetched = undefined;
        if (this.closed) return;
        this.onError(error);
        await this.pause(Math.min(100 * 2 ** ++failures, 5000));
        continue;
      }
      if (page.events.length === this.batchSize) {
        prefetched = this.store.readAll({ after: page.next, limit: this.batchSize });
        prefetched.catch(() => undefined);
      }
      for (const event of page.events) {
        if (this.closed) return;
        try {
          await this.handler(event);
        } catch (error) {
          // A failing handler stops the subscription: skipping the event would break "exactly once".
          this.onError(error);
          this.rejectCaughtUp(error);
          await this.close();
          return;
        }
        this.position = event.position;
      }
      if (page.events.length === this.batchSize) continue;
      this.resolveCaughtUp();
      if (!this.pending) await this.pause(this.store.subscriptionPollMs);
    }
  }

  /** Waits for a wake-up, the poll interval, or close. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = undefined;
        resolve();
      }, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
    this.rejectCaughtUp(new StoreClosedError('subscription'));
    this.wake();
    await this.loopDone.catch(() => undefined);
  }
}
