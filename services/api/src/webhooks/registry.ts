/**
 * The webhooks table, the delivery log, and each webhook's consumer group (`webhook:<id>`,
 * in the event store's consumer groups): one transaction creates or deletes both.
 */
import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { ClaimEventFilter, DeliveryAttemptDto, WebhookDto } from '@claimtrail/contract';
import { ConsumerGroups } from '@claimtrail/event-store';
import { saveClaimFilter, storeFilterOf } from '../integrations/claim-filter.ts';

export const WEBHOOK_GROUP_PREFIX = 'webhook:';
export const groupOf = (webhookId: string): string => `${WEBHOOK_GROUP_PREFIX}${webhookId}`;
/** The stream of a webhook's own events (`WebhookDisabled`). */
export const webhookStreamId = (webhookId: string): string => `webhook-${webhookId}`;

export interface ActiveWebhook {
  id: string;
  url: string;
  secret: string;
}

interface WebhookRow {
  id: string;
  url: string;
  filter: ClaimEventFilter;
  description: string | null;
  enabled: boolean;
  disabled_reason: string | null;
  created_by: string;
  created_at: Date | string;
  outstanding: number | null;
  parked: number | null;
}

function iso(value: Date | string): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}

function toDto(row: WebhookRow): WebhookDto {
  return {
    id: row.id,
    url: row.url,
    filter: row.filter,
    description: row.description,
    enabled: row.enabled,
    disabledReason: row.disabled_reason,
    createdAt: iso(row.created_at),
    createdBy: row.created_by,
    outstanding: row.outstanding ?? 0,
    parked: row.parked ?? 0,
  };
}

export async function createWebhook(
  db: Kysely<any>,
  input: { url: string; secret: string; filter: ClaimEventFilter; description: string | null; createdBy: string; startAfter: number; maxAttempts: number; leaseMs: number },
): Promise<WebhookDto> {
  const id = randomUUID();
  await db.transaction().execute(async (tx) => {
    await sql`insert into webhooks (id, url, secret, filter, description, created_by)
              values (${id}, ${input.url}, ${input.secret}, ${JSON.stringify(input.filter)}::jsonb, ${input.description}, ${input.createdBy})`.execute(tx);
    await new ConsumerGroups(tx).create(groupOf(id), {
      filter: storeFilterOf(input.filter),
      maxAttempts: input.maxAttempts,
      leaseMs: input.leaseMs,
      startAfter: input.startAfter,
    });
    await saveClaimFilter(tx, groupOf(id), input.filter);
  });
  return (await getWebhook(db, id))!;
}

const SELECT = sql`
  select w.id::text as id, w.url, w.filter, w.description, w.enabled, w.disabled_reason, w.created_by, w.created_at,
         (select count(*)::int from consumer_pending p where p.group_name = 'webhook:' || w.id::text and not p.parked) as outstanding,
         (select count(*)::int from consumer_pending p where p.group_name = 'webhook:' || w.id::text and p.parked) as parked
    from webhooks w`;

export async function listWebhooks(db: Kysely<any>): Promise<WebhookDto[]> {
  const { rows } = await sql<WebhookRow>`${SELECT} order by w.created_at, w.id`.execute(db);
  return rows.map(toDto);
}

export async function getWebhook(db: Kysely<any>, id: string): Promise<WebhookDto | undefined> {
  const { rows } = await sql<WebhookRow>`${SELECT} where w.id = ${id}::uuid`.execute(db);
  return rows[0] ? toDto(rows[0]) : undefined;
}

export async function deleteWebhook(db: Kysely<any>, id: string): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    const { rows } = await sql`delete from webhooks where id = ${id}::uuid returning id`.execute(tx);
    await new ConsumerGroups(tx).delete(groupOf(id));
    return rows.length > 0;
  });
}

export async function enableWebhook(db: Kysely<any>, id: string): Promise<boolean> {
  const { rows } = await sql`update webhooks set enabled = true, disabled_reason = null, disabled_at = null, failing_since = null
                              where id = ${id}::uuid returning id`.execute(db);
  return rows.length > 0;
}

export async function activeWebhooks(db: Kysely<any>): Promise<ActiveWebhook[]> {
  const { rows } = await sql<ActiveWebhook>`select id::text as id, url, secret from webhooks where enabled order by id`.execute(db);
  return rows;
}

export interface AttemptRecord {
  webhookId: string;
  messageId: string;
  position: number;
  eventType: string;
  attempt: number;
  status: number | null;
  latencyMs: number;
  error: string | null;
}

/** Appends attempts to the delivery log, in one statement. */
export async function recordAttempts(db: Kysely<any>, attempts: readonly AttemptRecord[]): Promise<void> {
  if (attempts.length === 0) return;
  await sql`insert into webhook_deliveries (webhook_id, message_id, position, event_type, attempt, status, latency_ms, error)
            select * from unnest(${attempts.map((a) => a.webhookId)}::uuid[], ${attempts.map((a) => a.messageId)}::text[],
                                 ${attempts.map((a) => a.position)}::bigint[], ${attempts.map((a) => a.eventType)}::text[],
                                 ${attempts.map((a) => a.attempt)}::int[], ${attempts.map((a) => a.status)}::int[],
                                 ${attempts.map((a) => a.latencyMs)}::int[], ${attempts.map((a) => a.error)}::text[])`.execute(db);
}

export async function listDeliveries(db: Kysely<any>, webhookId: string, query: { before?: number; limit?: number }): Promise<DeliveryAttemptDto[]> {
  const { rows } = await sql<{
    id: string | number;
    message_id: string;
    position: string | number;
    event_type: string;
    attempt: number;
    status: number | null;
    latency_ms: number;
    error: string | null;
    at: Date | string;
  }>`select id, message_id, position, event_type, attempt, status, latency_ms, error, at from webhook_deliveries
      where webhook_id = ${webhookId}::uuid and (${query.before ?? null}::bigint is null or id < ${query.before ?? null}::bigint)
      order by id desc limit ${query.limit ?? 100}`.execute(db);
  return rows.map((row) => ({
    id: Number(row.id),
    messageId: row.message_id,
    position: Number(row.position),
    eventType: row.event_type,
    attempt: row.attempt,
    status: row.status,
    latencyMs: row.latency_ms,
    error: row.error,
    at: iso(row.at),
  }));
}

export async function markSuccess(db: Kysely<any>, webhookId: string): Promise<void> {
  await sql`update webhooks set failing_since = null where id = ${webhookId}::uuid and failing_since is not null`.execute(db);
}

/**
 * Notes a failed attempt. Returns the reason when this call disabled the webhook (it has
 * failed every attempt for `disableAfterMs`): exactly one instance sees it.
 */
export async function markFailure(db: Kysely<any>, webhookId: string, disableAfterMs: number): Promise<{ failingSince: string; reason: string } | undefined> {
  const { rows } = await sql<{ failing_since: Date | string; reason: string }>`
    update webhooks set failing_since = coalesce(failing_since, now()),
           enabled = case when failing_since is not null and failing_since <= now() - (${disableAfterMs}::float8 * interval '1 millisecond') then false else enabled end,
           disabled_at = case when failing_since is not null and failing_since <= now() - (${disableAfterMs}::float8 * interval '1 millisecond') then now() else disabled_at end,
           disabled_reason = case when failing_since is not null and failing_since <= now() - (${disableAfterMs}::float8 * interval '1 millisecond')
                                  then 'every attempt failed since ' || to_char(failing_since at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') else disabled_reason end
     where id = ${webhookId}::uuid and enabled
     returning failing_since, disabled_reason as reason, (not enabled) as now_disabled`.execute(db);
  const row = rows[0] as { failing_since: Date | string; reason: string; now_disabled: boolean } | undefined;
  return row?.now_disabled ? { failingSince: iso(row.failing_since), reason: row.reason } : undefined;
}
