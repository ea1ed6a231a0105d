/**
 * Desk operations in the service (docs/desk-operations.md): the desk follower (notifications
 * and the other desk projections, packages/claims/src/desk/) woken by this instance's store
 * subscription, and the `me` channel fed after each of its runs.
 */
import type { FastifyInstance } from 'fastify';
import type { Subscription } from '@claimtrail/event-store';
import { DeskFollower, notificationsProjection } from '@claimtrail/claims';
import { MeChannel } from '../live/me.ts';

export interface DeskRuntime {
  follower: DeskFollower;
  /** Follows the log to its head (and feeds `me`): what every store event triggers. Resolves with the checkpoint. */
  catchUp(): Promise<number>;
}

declare module 'fastify' {
  interface FastifyInstance {
    desk: DeskRuntime;
    deskMe: MeChannel;
  }
}

async function deskPluginImpl(app: FastifyInstance): Promise<void> {
  const follower = new DeskFollower(app.store.db, [notificationsProjection]);
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
  app.decorate('desk', { follower, catchUp });
  app.decorate('deskMe', me);
  let subscription: Subscription | null = null;
  // Once everything is registered (and the seed written): the log from the checkpoint, then every new event.
  app.addHook('onReady', async () => {
    subscription = app.store.subscribe({ after: 'end' }, () => wake());
    wake();
  });
  app.addHook('onClose', async () => {
    closed = true;
    await subscription?.close();
    await follower.idle();
    await me.poll().catch(() => undefined);
  });
}

(deskPluginImpl as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
(deskPluginImpl as unknown as Record<symbol, string>)[Symbol.for('fastify.display-name')] = 'claimtrail-desk';

export const deskPlugin = deskPluginImpl;
