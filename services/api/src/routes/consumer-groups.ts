/**
 * Durable consumer groups over HTTP (the event store's ConsumerGroups, claim-level filters
 * from integrations/claim-filter.ts). Policy:
 * - create, delete, replay parked: admin (they change what an integration receives);
 * - list, get, list parked, fetch, ack, nack: admin and auditor (an integration's token
 *   is one of these: auditors read every event anyway; a member only changes its group).
 * Groups of webhooks (`webhook:<id>`) are not reachable here: names never hold a colon.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  AckBodySchema,
  AckResultSchema,
  ConsumerGroupListSchema,
  ConsumerGroupParamsSchema,
  ConsumerGroupSchema,
  CreateConsumerGroupBodySchema,
  FetchBodySchema,
  FetchResultSchema,
  NackBodySchema,
  NackResultSchema,
  ParkedListSchema,
  ParkedQuerySchema,
  ProblemSchema,
  ReplayBodySchema,
  ReplayResultSchema,
  CONSUMER_GROUP_NAME_PATTERN,
  type ConsumerGroupDto,
} from '@claimtrail/contract';
import { toEventRecord } from '@claimtrail/claims';
import type { Role } from '@claimtrail/domain';
import { ConsumerGroupExistsError, ConsumerGroupNotFoundError, ConsumerGroups, type ConsumerGroupInfo } from '@claimtrail/event-store';
import { Type } from 'typebox';
import { HttpProblem } from '../errors.ts';
import { requireRole } from '../plugins/auth.ts';
import { SECURED } from '../http/conventions.ts';
import { claimFilterOf, fetchMatching, saveClaimFilter, storeFilterOf } from '../integrations/claim-filter.ts';

export const CONSUMER_GROUP_ADMIN_ROLES: readonly Role[] = ['admin'];
export const CONSUMER_GROUP_MEMBER_ROLES: readonly Role[] = ['admin', 'auditor'];

const NAME = new RegExp(CONSUMER_GROUP_NAME_PATTERN);
const errors = { 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema, 404: ProblemSchema };

export const consumerGroupRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const groups = new ConsumerGroups(app.database.db);
  const db = app.database.db;

  /** The group's name from the path; a name no HTTP group can have is a 404 (never a 500). */
  async function existing(name: string): Promise<ConsumerGroupInfo> {
    if (!NAME.test(name)) throw new HttpProblem('not_found', `consumer group ${name.slice(0, 100)} not found`);
    try {
      return await groups.get(name);
    } catch (error) {
      if (error instanceof ConsumerGroupNotFoundError) throw new HttpProblem('not_found', `consumer group ${name} not found`);
      throw error;
    }
  }
  async function dto(info: ConsumerGroupInfo): Promise<ConsumerGroupDto> {
    return {
      name: info.name,
      filter: await claimFilterOf(db, info.name, info.filter),
      maxAttempts: info.maxAttempts,
      leaseMs: info.leaseMs,
      checkpoint: info.checkpoint,
      acknowledgedThrough: info.acknowledgedThrough,
      outstanding: info.outstanding,
      parked: info.parked,
      createdAt: info.createdAt.toISOString(),
    };
  }

  app.post(
    '/consumer-groups',
    {
      schema: {
        tags: ['integrations'],
        operationId: 'createConsumerGroup',
        summary: 'Create a durable consumer group (admin)',
        security: SECURED,
        body: CreateConsumerGroupBodySchema,
        response: { 201: ConsumerGroupSchema, ...errors, 409: ProblemSchema },
      },
    },
    async (request, reply) => {
      requireRole(request, CONSUMER_GROUP_ADMIN_ROLES);
      const body = request.body;
      const filter = body.filter ?? {};
      const startAfter = body.from === 'end' ? await app.store.headPosition() : 0;
      try {
        await db.transaction().execute(async (tx) => {
          await new ConsumerGroups(tx).create(body.name, {
            filter: storeFilterOf(filter),
            ...(body.maxAttempts !== undefined ? { maxAttempts: body.maxAttempts } : {}),
            ...(body.leaseMs !== undefined ? { leaseMs: body.leaseMs } : {}),
            startAfter,
          });
          await saveClaimFilter(tx, body.name, filter);
        });
      } catch (error) {
        if (error instanceof ConsumerGroupExistsError) throw new HttpProblem('already_exists', error.message);
        throw error;
      }
      reply.code(201);
      return dto(await groups.get(body.name));
    },
  );

  app.get(
    '/consumer-groups',
    {
      schema: {
        tags: ['integrations'],
        operationId: 'listConsumerGroups',
        summary: 'Every consumer group with its checkpoint and counts (admin, auditor)',
        security: SECURED,
        response: { 200: ConsumerGroupListSchema, 401: ProblemSchema, 403: ProblemSchema },
      },
    },
    async (request) => {
      requireRole(request, CONSUMER_GROUP_MEMBER_ROLES);
      const all = (await groups.list()).filter((group) => NAME.test(group.name));
      return { items: await Promise.all(all.map(dto)) };
    },
  );

  app.get(
    '/consumer-groups/:name',
    {
      schema: {
        tags: ['integrations'],
        operationId: 'getConsumerGroup',
        summary: 'One consumer group (admin, auditor)',
        security: SECURED,
        params: ConsumerGroupParamsSchema,
        response: { 200: ConsumerGroupSchema, ...errors },
      },
    },
    async (request) => {
      requireRole(request, CONSUMER_GROUP_MEMBER_ROLES);
      return dto(await existing(request.params.name));
    },
  );

  app.delete(
    '/consumer-groups/:name',
    {
      schema: {
        tags: ['integrations'],
        operationId: 'deleteConsumerGroup',
        summary: 'Delete a consumer group with its outstanding and parked events (admin)',
        security: SECURED,
        params: ConsumerGroupParamsSchema,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      requireRole(request, CONSUMER_GROUP_ADMIN_ROLES);
      await existing(request.params.name);
      await groups.delete(request.params.name);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/consumer-groups/:name/fetch',
    {
      schema: {
        tags: ['integrations'],
        operationId: 'fetchConsumerGroup',
        summary: 'Lease the next events to a member: one per claim at most, in position order (admin, auditor)',
        security: SECURED,
        params: ConsumerGroupParamsSchema,
        body: FetchBodySchema,
        response: { 200: FetchResultSchema, ...errors },
      },
    },
    async (request) => {
      requireRole(request, CONSUMER_GROUP_MEMBER_ROLES);
      const { name } = request.params;
      await existing(name);
      const { member, limit, leaseMs } = request.body;
      const deliveries = await fetchMatching(db, groups, name, member, {
        ...(limit !== undefined ? { limit } : {}),
        ...(leaseMs !== undefined ? { leaseMs } : {}),
      });
      return {
        deliveries: deliveries.map((d) => ({ event: toEventRecord(d.event), attempt: d.attempt, leaseUntil: d.leaseUntil.toISOString() })),
      };
    },
  );

  app.post(
    '/consumer-groups/:name/ack',
    {
      schema: {
        tags: ['integrations'],
        operationId: 'ackConsumerGroup',
        summary: 'Acknowledge events by position: never handed out again (admin, auditor)',
        security: SECURED,
        params: ConsumerGroupParamsSchema,
        body: AckBodySchema,
        response: { 200: AckResultSchema, ...errors },
      },
    },
    async (request) => {
      requireRole(request, CONSUMER_GROUP_MEMBER_ROLES);
      await existing(request.params.name);
      return { acknowledged: await groups.ack(request.params.name, request.body.positions) };
    },
  );

  app.post(
    '/consumer-groups/:name/nack',
    {
      schema: {
        tags: ['integrations'],
        operationId: 'nackConsumerGroup',
        summary: 'Give events back: handed out again (after retryAfterMs), or parked after maxAttempts (admin, auditor)',
        security: SECURED,
        params: ConsumerGroupParamsSchema,
        body: NackBodySchema,
        response: { 200: NackResultSchema, ...errors },
      },
    },
    async (request) => {
      requireRole(request, CONSUMER_GROUP_MEMBER_ROLES);
      await existing(request.params.name);
      const { positions, member, error, retryAfterMs } = request.body;
      return groups.nack(request.params.name, positions, {
        ...(member !== undefined ? { member } : {}),
        ...(error !== undefined ? { error } : {}),
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      });
    },
  );

  app.get(
    '/consumer-groups/:name/parked',
    {
      schema: {
        tags: ['integrations'],
        operationId: 'listParkedEvents',
        summary: 'Events parked after maxAttempts, oldest first (admin, auditor)',
        security: SECURED,
        params: ConsumerGroupParamsSchema,
        querystring: ParkedQuerySchema,
        response: { 200: ParkedListSchema, ...errors },
      },
    },
    async (request) => {
      requireRole(request, CONSUMER_GROUP_MEMBER_ROLES);
      await existing(request.params.name);
      const items = await groups.parked(request.params.name, request.query);
      return {
        items: items.map((p) => ({ event: toEventRecord(p.event), attempts: p.attempts, lastError: p.lastError, parkedAt: p.parkedAt.toISOString() })),
      };
    },
  );

  app.post(
    '/consumer-groups/:name/parked/replay',
    {
      schema: {
        tags: ['integrations'],
        operationId: 'replayParkedEvents',
        summary: 'Hand parked events out again with a fresh attempt count: all, or those at positions (admin)',
        security: SECURED,
        params: ConsumerGroupParamsSchema,
        body: ReplayBodySchema,
        response: { 200: ReplayResultSchema, ...errors },
      },
    },
    async (request) => {
      requireRole(request, CONSUMER_GROUP_ADMIN_ROLES);
      await existing(request.params.name);
      return { replayed: await groups.replayParked(request.params.name, request.body.positions) };
    },
  );
};
