import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  MarkNotificationsReadBodySchema,
  MarkNotificationsReadSchema,
  NotificationListQuerySchema,
  NotificationListSchema,
  ProblemSchema,
} from '@claimtrail/contract';
import { decodeNotificationCursor, listNotifications, markNotificationsRead } from '@claimtrail/claims';
import { HttpProblem } from '../errors.ts';
import { actorOf } from '../plugins/auth.ts';
import { SECURED } from '../http/conventions.ts';

/**
 * The caller's in-app notifications (docs/desk-operations.md). Any authenticated role:
 * each user sees only their own (an auditor simply has none).
 */
export const notificationRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/me/notifications',
    {
      schema: {
        tags: ['desk'],
        operationId: 'listMyNotifications',
        summary: 'The caller’s notifications: unread first, newest first, paged',
        security: SECURED,
        querystring: NotificationListQuerySchema,
        response: { 200: NotificationListSchema, 400: ProblemSchema, 401: ProblemSchema },
      },
    },
    async (request) => {
      const actor = actorOf(request);
      const { limit = 20, cursor, unread } = request.query;
      const decoded = cursor === undefined ? undefined : decodeNotificationCursor(cursor);
      if (decoded === null) throw new HttpProblem('validation', 'cursor is not a cursor this service gave out', { field: 'cursor' });
      return listNotifications(app.store.db, actor.id, { limit, ...(decoded ? { cursor: decoded } : {}), unreadOnly: unread === true });
    },
  );

  app.post(
    '/me/notifications/read',
    {
      schema: {
        tags: ['desk'],
        operationId: 'markMyNotificationsRead',
        summary: 'Mark the caller’s notifications read: by id, or every one up to a seq',
        security: SECURED,
        body: MarkNotificationsReadBodySchema,
        response: { 200: MarkNotificationsReadSchema, 400: ProblemSchema, 401: ProblemSchema, 415: ProblemSchema },
      },
    },
    async (request) => {
      const actor = actorOf(request);
      const body = request.body;
      const marked = await markNotificationsRead(app.store.db, actor.id, 'ids' in body ? { ids: body.ids } : { upTo: body.upTo }, new Date());
      const page = await listNotifications(app.store.db, actor.id, { limit: 1, unreadOnly: true });
      return { marked, unreadCount: page.unreadCount };
    },
  );
};
