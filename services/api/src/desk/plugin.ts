/**
 * Desk operations in the service (docs/desk-operations.md): the desk follower (notifications
 * and the other desk projections, packages/claims/src/desk/) woken by this instance's store
 * subscription, and the `me` channel fed after each of its runs.
 */
import type { FastifyInstance } from 'fastify';
import type { Subscription } from '@claimtrail/event-store';
import { DESK_PROJECTIONS, DeskFollower } from '@claimtrail/claims';
import { escalateOverdue } from './deadline-watcher.ts';
import { MeChannel } from '../live/me.ts';

export interface DeskRuntime {
  follower: DeskFollower;
  /** Follows the log to its head (and feeds `me`): what every store event triggers. Resolves with the checkpoint. */
  catchUp(): Promise<number>;
  /** The desk's clock (deadlines): the system clock unless a test sets another. */
  now(): Date;
  setClock(clock: () => Date): void;
  /** Follows the log, then escalates every overdue period not escalated yet; the claims this call escalated. */
  checkDeadlines(): Promise<string[]>;
}

declare module 'fastify' {
  interface FastifyInstance {
    desk: DeskRuntime;
    deskMe: MeChannel;
  }
}

async function deskPluginImpl(app: FastifyInstance): Promise<void> {
  const follower = new DeskFollower(app.store.db, DESK_PROJECTIONS);
  let clock = () => new Date();
  const me = new MeChannel(app.store.db);
  let closed = false;
  const catchUp = async () => {
    const position = await follower.catchUp();
    await me.poll();
    return position;
  };
  const wake = () => {
    if (closed) return;
    catchUp().catch((err: unknown) => app.log.error({ err }, 'desk: following the event log failed (retried at the next event)'));
  };
  let checking: Promise<string[]> | null = null;
  const checkDeadlines = () => {
    // One check at a time per instance (instances among themselves: see deadline-watcher.ts).
    checking ??= (async () => {
      try {
        await catchUp();
        const { escalated } = await escalateOverdue(app.store.db, app.claims, app.config.deskDeadlines, clock());
        if (escalated.length > 0) await catchUp();
        return escalated;
      } finally {
        checking = null;
      }
    })();
    return checking;
  };
  app.decorate('desk', {
    follower,
    catchUp,
    now: () => clock(),
    setClock: (next: () => Date) => {
      clock = next;
    },
    checkDeadlines,
  });
  let timer: NodeJS.Timeout | undefined;
  app.decorate('deskMe', me);
  let subscription: Subscription | null = null;
  // Once everything is registered (and the seed written): the log from the checkpoint, then every new event.
  app.addHook('onReady', async () => {
    subscription = app.store.subscribe({ after: 'end' }, () => wake());
    wake();
    if (app.config.deskDeadlineCheckMs > 0) {
      timer = setInterval(() => {
        if (!closed) checkDeadlines().catch((err: unknown) => app.log.error({ err }, 'desk: deadline check failed (retried at the next one)'));
      }, app.config.deskDeadlineCheckMs);
      timer.unref();
    }
  });
  app.addHook('onClose', async () => {
    closed = true;
    clearInterval(timer);
    await checking?.catch(() => undefined);
    await subscription?.close();
    await follower.idle();
    await me.poll().catch(() => undefined);
  });
}

(deskPluginImpl as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
(deskPluginImpl as unknown as Record<symbol, string>)[Symbol.for('fastify.display-name')] = 'claimtrail-desk';

export const deskPlugin = deskPluginImpl;
