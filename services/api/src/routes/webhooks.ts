/**
 * Webhooks (webhooks/): subscriptions, the delivery log, manual redelivery. Policy:
 * creating, deleting, enabling and redelivering are admin's (a webhook sends every
 * matching event outside); admin and auditor may list them and read the delivery log.
 * The signing secret is shown once, in the answer to POST /webhooks.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  CreateWebhookBodySchema,
  CreatedWebhookSchema,
  DeliveriesQuerySchema,
  DeliveryListSchema,
  EnableWebhookBodySchema,
  ProblemSchema,
  RedeliverBodySchema,
  RedeliverResultSchema,
  WebhookListSchema,
  WebhookParamsSchema,
  WebhookSchema,
  type WebhookDto,
} from '@claimtrail/contract';
import type { Role } from '@claimtrail/domain';
import { ConsumerGroups, isUuid } from '@claimtrail/event-store';
import { Type } from 'typebox';
import { HttpProblem } from '../errors.ts';
import { requireRole } from '../plugins/auth.ts';
import { SECURED } from '../http/conventions.ts';
import { checkTarget, TargetRefusedError } from '../webhooks/ssrf.ts';
import { generateSecret } from '../webhooks/signing.ts';
import { createWebhook, deleteWebhook, enableWebhook, getWebhook, groupOf, listDeliveries, listWebhooks } from '../webhooks/registry.ts';

export const WEBHOOK_ADMIN_ROLES: readonly Role[] = ['admin'];
export const WEBHOOK_READER_ROLES: readonly Role[] = ['admin', 'auditor'];

const errors = { 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema, 404: ProblemSchema };

export const webhookRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.database.db;

  async function existing(id: string): Promise<WebhookDto> {
    const webhook = isUuid(id) ? await getWebhook(db, id.toLowerCase()) : undefined;
    if (!webhook) throw new HttpProblem('not_found', `webhook ${id.slice(0, 100)} not found`);
    return webhook;
  }

  app.post(
    '/webhooks',
    {
      schema: {
        tags: ['integrations'],
        operationId: 'createWebhook',
        summary: 'Subscribe a URL to signed deliveries of matching claim events (admin); the answer shows the secret once',
        security: SECURED,
        body: CreateWebhookBodySchema,
        response: { 201: CreatedWebhookSchema, 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema },
      },
    },
    async (request, reply) => {
      const actor = requireRole(request, WEBHOOK_ADMIN_ROLES);
      const { url, filter = {}, description } = request.body;
      let target: URL;
      try {
        target = await checkTarget(url, app.config.webhooks.allowPrivateTargets);
      } catch (error) {
        if (error instanceof TargetRefusedError) throw new HttpProblem('validation', error.message, { field: 'url' });
        throw error;
      }
      const secret = request.body.secret ?? generateSecret();
      const { retryScheduleMs, timeoutMs } = app.config.webhooks;
      const webhook = await createWebhook(db, {
        url: target.toString(),
        secret,
        filter,
        description: description ?? null,
        createdBy: actor.id,
        // From now on: a new subscription does not receive the history (redeliver can send older events).
        startAfter: await app.store.headPosition(),
        maxAttempts: retryScheduleMs.length + 1,
        leaseMs: timeoutMs + 5000,
      });
      reply.code(201).header('location', `/webhooks/${webhook.id}`);
      return { ...webhook, secret };
    },
  );

  app.get(
    '/webhooks',
    {
      schema: {
        tags: ['integrations'],
        operationId: 'listWebhooks',
        summary: 'Every webhook, without secrets (admin, auditor)',
        security: SECURED,
        response: { 200: WebhookListSchema, 401: ProblemSchema, 403: ProblemSchema },
      },
    },
    async (request) => {
      requireRole(request, WEBHOOK_READER_ROLES);
      return { items: await listWebhooks(db) };
    },
  );

  app.get(
    '/webhooks/:webhookId',
    {
      schema: {
        tags: ['integrations'],
        operationId: 'getWebhook',
        summary: 'One webhook, without its secret (admin, auditor)',
        security: SECURED,
        params: WebhookParamsSchema,
        response: { 200: WebhookSchema, ...errors },
      },
    },
    async (request) => {
      requireRole(request, WEBHOOK_READER_ROLES);
      return existing(request.params.webhookId);
    },
  );

  app.delete(
    '/webhooks/:webhookId',
    {
      schema: {
        tags: ['integrations'],
        operationId: 'deleteWebhook',
        summary: 'Unsubscribe: nothing more is delivered (admin)',
        security: SECURED,
        params: WebhookParamsSchema,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      requireRole(request, WEBHOOK_ADMIN_ROLES);
      const webhook = await existing(request.params.webhookId);
      await deleteWebhook(db, webhook.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/webhooks/:webhookId/deliveries',
    {
      schema: {
        tags: ['integrations'],
        operationId: 'listWebhookDeliveries',
        summary: 'The delivery log, newest first: attempt, status, latency, error (admin, auditor)',
        security: SECURED,
        params: WebhookParamsSchema,
        querystring: DeliveriesQuerySchema,
        response: { 200: DeliveryListSchema, ...errors },
      },
    },
    async (request) => {
      requireRole(request, WEBHOOK_READER_ROLES);
      const webhook = await existing(request.params.webhookId);
      return { items: await listDeliveries(db, webhook.id, request.query) };
    },
  );

  app.post(
    '/webhooks/:webhookId/redeliver',
    {
      schema: {
        tags: ['integrations'],
        operationId: 'redeliverWebhook',
        summary: 'Deliver again: parked events (all, or those at positions) and already delivered events at positions (admin)',
        security: SECURED,
        params: WebhookParamsSchema,
        body: RedeliverBodySchema,
        response: { 200: RedeliverResultSchema, ...errors },
      },
    },
    async (request) => {
      requireRole(request, WEBHOOK_ADMIN_ROLES);
      const webhook = await existing(request.params.webhookId);
      const groups = new ConsumerGroups(db);
      const { positions } = request.body;
      const redelivered = positions ? (await groups.requeue(groupOf(webhook.id), positions)).length : await groups.replayParked(groupOf(webhook.id));
      return { redelivered };
    },
  );

  app.post(
    '/webhooks/:webhookId/enable',
    {
      schema: {
        tags: ['integrations'],
        operationId: 'enableWebhook',
        summary: 'Enable a webhook disabled after sustained failure; delivery resumes where it stopped (admin)',
        security: SECURED,
        params: WebhookParamsSchema,
        body: EnableWebhookBodySchema,
        response: { 200: WebhookSchema, ...errors },
      },
    },
    async (request) => {
      requireRole(request, WEBHOOK_ADMIN_ROLES);
      const webhook = await existing(request.params.webhookId);
      await enableWebhook(db, webhook.id);
      return existing(webhook.id);
    },
  );
};
