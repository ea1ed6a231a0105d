import type { FastifyInstance } from 'fastify';
import { allowedStepsRoutes } from './allowed-steps.ts';
import { auditRoutes } from './audit.ts';
import { boardRoutes } from './board.ts';
import { claimReviewRoutes } from './claim-review.ts';
import { claimRoutes } from './claims.ts';
import { consumerGroupRoutes } from './consumer-groups.ts';
import { feedRoutes } from './feed.ts';
import { historyRoutes } from './history.ts';
import { stepRoutes } from './steps.ts';
import { notificationRoutes } from './notifications.ts';
import { similarRoutes } from './similar.ts';
import { statsRoutes } from './stats.ts';
import { systemRoutes } from './system.ts';
import { transparencyRoutes } from './transparency.ts';
import { userRoutes } from './users.ts';
import { webhookRoutes } from './webhooks.ts';

/** Every route file, one line each: add yours here. */
export async function registerRoutes(app: FastifyInstance): Promise<void> {
  await app.register(systemRoutes);
  await app.register(claimRoutes);
  await app.register(stepRoutes);
  await app.register(historyRoutes);
  await app.register(feedRoutes);
  await app.register(boardRoutes);
  await app.register(auditRoutes);
  await app.register(claimReviewRoutes);
  await app.register(userRoutes);
  await app.register(allowedStepsRoutes);
  await app.register(transparencyRoutes);
  await app.register(consumerGroupRoutes);
  await app.register(webhookRoutes);
  await app.register(similarRoutes);
  await app.register(notificationRoutes);
  await app.register(statsRoutes);
}
