/**
 * The integration contract: durable consumer groups (`/consumer-groups`) and signed
 * webhooks (`/webhooks`). Request schemas strict, response schemas open (see schemas.ts).
 */
import { Type, type Static } from 'typebox';
import { CLAIM_STATUSES, LIMITS } from '@claimtrail/domain';
import { EventRecordSchema, UUID_PATTERN } from './schemas.ts';

const strict = { additionalProperties: false } as const;
const open = { additionalProperties: true } as const;

export const CONSUMER_GROUP_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$';
const EVENT_TYPE_PATTERN = '^[A-Za-z][A-Za-z0-9_.-]{0,99}$';

/** What a consumer group or a webhook receives: claim events narrowed by these (all given must hold). */
export const ClaimEventFilterSchema = Type.Object(
  {
    eventTypes: Type.Optional(
      Type.Array(Type.String({ pattern: EVENT_TYPE_PATTERN }), { minItems: 1, maxItems: 50, uniqueItems: true, description: 'Only events of these types' }),
    ),
    claimIds: Type.Optional(
      Type.Array(Type.String({ pattern: UUID_PATTERN }), { minItems: 1, maxItems: 100, uniqueItems: true, description: 'Only events of these claims' }),
    ),
    tag: Type.Optional(
      Type.String({ minLength: 1, maxLength: LIMITS.tag, pattern: '\\S', description: 'Only claims that have this tag (case-insensitive) when the event is handed out' }),
    ),
    states: Type.Optional(
      Type.Array(Type.Enum([...CLAIM_STATUSES]), { minItems: 1, maxItems: 20, uniqueItems: true, description: 'Only claims in one of these states when the event is handed out' }),
    ),
  },
  { ...strict, title: 'ClaimEventFilter' },
);
export type ClaimEventFilter = Static<typeof ClaimEventFilterSchema>;

export const CreateConsumerGroupBodySchema = Type.Object(
  {
    name: Type.String({ pattern: CONSUMER_GROUP_NAME_PATTERN, description: 'Letters, digits, . _ - (1–100)' }),
    filter: Type.Optional(ClaimEventFilterSchema),
    maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 5, description: 'Hand-outs before an event is parked' })),
    leaseMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 3_600_000, default: 30_000, description: 'Visibility timeout of a fetched event' })),
    from: Type.Optional(Type.Union([Type.Literal('start'), Type.Literal('end')], { default: 'start', description: 'Start at the first event of the log, or after its current head' })),
  },
  { ...strict, title: 'CreateConsumerGroupBody' },
);

export const ConsumerGroupParamsSchema = Type.Object({ name: Type.String({ maxLength: 200 }) }, strict);

export const ConsumerGroupSchema = Type.Object(
  {
    name: Type.String(),
    filter: Type.Object({}, open),
    maxAttempts: Type.Integer(),
    leaseMs: Type.Integer(),
    checkpoint: Type.Integer({ description: 'Every event at or below this position has been taken in' }),
    acknowledgedThrough: Type.Integer({ description: 'Every matching event at or below this position is acknowledged or parked' }),
    outstanding: Type.Integer(),
    parked: Type.Integer(),
    createdAt: Type.String(),
  },
  { ...open, title: 'ConsumerGroup' },
);
export type ConsumerGroupDto = Static<typeof ConsumerGroupSchema>;
export const ConsumerGroupListSchema = Type.Object({ items: Type.Array(ConsumerGroupSchema) }, open);

export const FetchBodySchema = Type.Object(
  {
    member: Type.String({ minLength: 1, maxLength: 100, pattern: '^[\\x21-\\x7e]+$', description: 'Who fetches (any stable name of the consuming process)' }),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    leaseMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 3_600_000 })),
  },
  { ...strict, title: 'FetchBody' },
);

export const ConsumerDeliverySchema = Type.Object(
  {
    event: EventRecordSchema,
    attempt: Type.Integer({ minimum: 1 }),
    leaseUntil: Type.String(),
  },
  { ...open, title: 'ConsumerDelivery' },
);
export const FetchResultSchema = Type.Object({ deliveries: Type.Array(ConsumerDeliverySchema) }, open);
export type ConsumerDeliveryDto = Static<typeof ConsumerDeliverySchema>;

const Positions = Type.Array(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }), { minItems: 1, maxItems: 1000 });

export const AckBodySchema = Type.Object({ positions: Positions }, { ...strict, title: 'AckBody' });
export const AckResultSchema = Type.Object({ acknowledged: Type.Integer() }, open);
export const NackBodySchema = Type.Object(
  {
    positions: Positions,
    member: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    error: Type.Optional(Type.String({ maxLength: 2000 })),
    retryAfterMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400_000 })),
  },
  { ...strict, title: 'NackBody' },
);
export const NackResultSchema = Type.Object({ changed: Type.Integer(), parked: Type.Array(Type.Integer()) }, open);

export const ParkedQuerySchema = Type.Object(
  {
    after: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  },
  strict,
);
export const ParkedEventSchema = Type.Object(
  { event: EventRecordSchema, attempts: Type.Integer(), lastError: Type.Union([Type.String(), Type.Null()]), parkedAt: Type.String() },
  { ...open, title: 'ParkedEvent' },
);
export const ParkedListSchema = Type.Object({ items: Type.Array(ParkedEventSchema) }, open);
export const ReplayBodySchema = Type.Object({ positions: Type.Optional(Positions) }, { ...strict, title: 'ReplayBody' });
export const ReplayResultSchema = Type.Object({ replayed: Type.Integer() }, open);

// ---------------------------------------------------------------------------------------
// Webhooks

export const WEBHOOK_SECRET_PATTERN = '^whsec_[A-Za-z0-9+/]{32,256}={0,2}$';

export const CreateWebhookBodySchema = Type.Object(
  {
    url: Type.String({ minLength: 8, maxLength: 2000, pattern: '^[hH][tT][tT][pP][sS]?://[^\\s]+$', description: 'Where deliveries are POSTed (http or https)' }),
    filter: Type.Optional(ClaimEventFilterSchema),
    secret: Type.Optional(
      Type.String({ pattern: WEBHOOK_SECRET_PATTERN, description: '`whsec_` + base64 of 24–192 random bytes; absent: one is generated and returned once' }),
    ),
    description: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { ...strict, title: 'CreateWebhookBody' },
);

export const WebhookParamsSchema = Type.Object({ webhookId: Type.String({ maxLength: 100 }) }, strict);

export const WebhookSchema = Type.Object(
  {
    id: Type.String(),
    url: Type.String(),
    filter: Type.Object({}, open),
    description: Type.Union([Type.String(), Type.Null()]),
    enabled: Type.Boolean(),
    disabledReason: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String(),
    createdBy: Type.String(),
    outstanding: Type.Integer({ description: 'Events not delivered yet (waiting, in flight or retrying)' }),
    parked: Type.Integer({ description: 'Events given up on after the whole retry schedule' }),
  },
  { ...open, title: 'Webhook' },
);
/** The answer to POST /webhooks: the only time the secret is shown. */
export const CreatedWebhookSchema = Type.Intersect([WebhookSchema, Type.Object({ secret: Type.String() })], { title: 'CreatedWebhook' });
export const WebhookListSchema = Type.Object({ items: Type.Array(WebhookSchema) }, open);
export type WebhookDto = Static<typeof WebhookSchema>;

export const DeliveriesQuerySchema = Type.Object(
  {
    before: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Attempts older than this id (paging)' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
  },
  strict,
);
export const DeliveryAttemptSchema = Type.Object(
  {
    id: Type.Integer(),
    messageId: Type.String({ description: 'The webhook-id header: the same on every attempt of one event' }),
    position: Type.Integer(),
    eventType: Type.String(),
    attempt: Type.Integer({ minimum: 1 }),
    status: Type.Union([Type.Integer(), Type.Null()], { description: 'HTTP status, null when no answer came' }),
    latencyMs: Type.Integer(),
    error: Type.Union([Type.String(), Type.Null()]),
    at: Type.String(),
  },
  { ...open, title: 'DeliveryAttempt' },
);
export const DeliveryListSchema = Type.Object({ items: Type.Array(DeliveryAttemptSchema) }, open);
export type DeliveryAttemptDto = Static<typeof DeliveryAttemptSchema>;

export const RedeliverBodySchema = Type.Object(
  { positions: Type.Optional(Positions) },
  { ...strict, title: 'RedeliverBody', description: 'Parked events to deliver again (absent: all of them)' },
);
export const RedeliverResultSchema = Type.Object({ redelivered: Type.Integer() }, open);
export const EnableWebhookBodySchema = Type.Object({}, { ...strict, title: 'EnableWebhookBody' });

export type CreateConsumerGroupBody = Static<typeof CreateConsumerGroupBodySchema>;
export type FetchBody = Static<typeof FetchBodySchema>;
export type FetchResult = Static<typeof FetchResultSchema>;
export type NackBody = Static<typeof NackBodySchema>;
export type NackResult = Static<typeof NackResultSchema>;
export type ParkedEventDto = Static<typeof ParkedEventSchema>;
export type CreateWebhookBody = Static<typeof CreateWebhookBodySchema>;
export type CreatedWebhookDto = Static<typeof CreatedWebhookSchema>;
