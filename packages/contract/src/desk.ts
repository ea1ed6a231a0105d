/**
 * Desk operations (docs/desk-operations.md): duplicate suggestions, notifications, desk
 * analytics. Request schemas strict, responses open, as in schemas.ts.
 */
import { Type } from 'typebox';
import { NOTIFICATION_KINDS } from '@claimtrail/domain';
import { ClaimCardSchema } from './schemas.ts';

const strict = { additionalProperties: false } as const;
const open = { additionalProperties: true } as const;

export const SIMILAR_DEFAULT_LIMIT = 10;
export const SIMILAR_MAX_LIMIT = 50;

export const SimilarClaimsQuerySchema = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: SIMILAR_MAX_LIMIT, default: SIMILAR_DEFAULT_LIMIT })),
  },
  { ...strict, title: 'SimilarClaimsQuery' },
);

export const SimilarClaimSchema = Type.Object(
  {
    claim: ClaimCardSchema,
    score: Type.Number({ minimum: 0, maximum: 1, description: '0.7 × wordScore + 0.2 × textScore + 0.1 × contextScore' }),
    wordScore: Type.Number({ minimum: 0, maximum: 1, description: 'Share of the claim text’s words the other claim uses, each weighed by its rarity: ln(1 + claims / claims using it)²' }),
    textScore: Type.Number({ minimum: 0, maximum: 1, description: 'Trigram similarity of the folded claim texts' }),
    contextScore: Type.Number({ minimum: 0, maximum: 1, description: 'Trigram similarity of the folded claimants and appearances' }),
  },
  { ...open, title: 'SimilarClaim' },
);

export const SimilarClaimsSchema = Type.Object(
  { items: Type.Array(SimilarClaimSchema, { description: 'Open and published claims, most similar first' }) },
  { ...open, title: 'SimilarClaims' },
);

/** The notification kinds (the domain's list, shared with the desk's rules). */
export const NOTIFICATION_KIND_NAMES = NOTIFICATION_KINDS;

export const NotificationSchema = Type.Object(
  {
    id: Type.String({ description: 'Stable id (the same after a rebuild)' }),
    seq: Type.Integer({ minimum: 1, description: 'Order of the notifications; `after` of the me channel, `upTo` of mark-read' }),
    recipient: Type.String(),
    kind: Type.Enum([...NOTIFICATION_KIND_NAMES]),
    claimId: Type.String(),
    actor: Type.String({ description: 'Who caused it' }),
    createdAt: Type.String({ description: 'When the event was recorded' }),
    data: Type.Object({}, { ...open, description: 'Kind-specific: rating, reason, note excerpt, into, previousAssignee' }),
    readAt: Type.Union([Type.String(), Type.Null()]),
  },
  { ...open, title: 'Notification' },
);

export const NotificationListQuerySchema = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    cursor: Type.Optional(Type.String({ maxLength: 40, description: 'The previous page’s nextCursor' })),
    unread: Type.Optional(Type.Boolean({ description: 'Only unread ones' })),
  },
  { ...strict, title: 'NotificationListQuery' },
);

export const NotificationListSchema = Type.Object(
  {
    items: Type.Array(NotificationSchema, { description: 'Unread first, each part newest first' }),
    unreadCount: Type.Integer({ minimum: 0 }),
    nextCursor: Type.Union([Type.String(), Type.Null()]),
  },
  { ...open, title: 'NotificationList' },
);

export const MarkNotificationsReadBodySchema = Type.Union(
  [
    Type.Object({ ids: Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { minItems: 1, maxItems: 100 }) }, strict),
    Type.Object({ upTo: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Every notification with seq ≤ upTo' }) }, strict),
  ],
  { title: 'MarkNotificationsReadBody' },
);

export const MarkNotificationsReadSchema = Type.Object(
  { marked: Type.Integer({ minimum: 0 }), unreadCount: Type.Integer({ minimum: 0 }) },
  { ...open, title: 'MarkNotificationsRead' },
);

export const StatsQuerySchema = Type.Object(
  {
    from: Type.Optional(Type.String({ maxLength: 64, format: 'date-time', description: 'Start of the period (inclusive); default: 90 days before `to`' })),
    to: Type.Optional(Type.String({ maxLength: 64, format: 'date-time', description: 'End of the period (exclusive); default: now' })),
  },
  { ...strict, title: 'StatsQuery' },
);

const Ms = Type.Union([Type.Number(), Type.Null()]);
const Rate = Type.Union([Type.Number({ minimum: 0 }), Type.Null()]);

export const DeskStatsSchema = Type.Object(
  {
    from: Type.String(),
    to: Type.String(),
    timeInState: Type.Array(
      Type.Object({ state: Type.String(), count: Type.Integer({ minimum: 0 }), meanMs: Ms, p50Ms: Ms, p90Ms: Ms }, open),
      { description: 'Stays in each state that ended in the period' },
    ),
    cycleTime: Type.Object({ count: Type.Integer({ minimum: 0 }), p50Ms: Ms, p90Ms: Ms }, { ...open, description: 'Submission to first publication, claims first published in the period' }),
    throughput: Type.Array(Type.Object({ weekStart: Type.String(), published: Type.Integer({ minimum: 0 }) }, open), { description: 'Publications per ISO week (UTC)' }),
    rates: Type.Object(
      {
        published: Type.Integer({ minimum: 0 }),
        reopened: Type.Integer({ minimum: 0 }),
        corrected: Type.Integer({ minimum: 0 }),
        retracted: Type.Integer({ minimum: 0 }),
        reopenRate: Rate,
        correctionRate: Rate,
        retractionRate: Rate,
      },
      open,
    ),
    load: Type.Array(
      Type.Object(
        { user: Type.String(), assigned: Type.Integer({ minimum: 0 }), published: Type.Integer({ minimum: 0 }), openAtEnd: Type.Integer({ minimum: 0 }) },
        open,
      ),
      { description: 'Per researcher' },
    ),
  },
  { ...open, title: 'DeskStats' },
);
