/**
 * Runs this instance's webhook delivery worker (WEBHOOK_WORKER, default on) from the
 * moment the app is ready until it closes (stopped in preClose: before the database is).
 */
import type { FastifyInstance } from 'fastify';
import { WebhookWorker } from './worker.ts';

export function registerWebhookWorker(app: FastifyInstance): void {
  if (!app.config.webhooks.worker) return;
  const worker = new WebhookWorker({ db: app.database.db, database: app.database, store: app.store, config: app.config.webhooks, log: app.log });
  app.addHook('onReady', async () => {
    await worker.start();
  });
  app.addHook('preClose', async () => {
    await worker.stop();
  });
}
