export { ClaimService, defaultWriteConcurrency, isClaimId, type ClaimServiceOptions } from './service.ts';
export type { ExecuteInput, ExecuteResult } from './execute.ts';
export { ClaimViewCache, CLAIMS_CHANGED_CHANNEL, DEFAULT_VIEW_MAX_AGE_MS, applyClaimsChanged, applyStoreEvent, type CachedView } from './view-cache.ts';
export { ReadBodies, readBody, type ReadBody, type ChangeClock } from './read-bodies.ts';
export { CommandError, isCommandError, type CommandErrorCode } from './errors.ts';
export {
  getClaim,
  getClaimJson,
  ClaimJsonBatcher,
  listClaims,
  listClaimsStatement,
  listClaimsJson,
  board,
  boardJson,
  boardStatement,
  boardLimit,
  encodeBoardCursor,
  decodeBoardCursor,
  type BoardCursor,
  type BoardQuery,
  claimStateAt,
  encodeCursor,
  decodeCursor,
  type ListClaimsFilter,
  type ClaimPage,
  type Board,
  type BoardColumn,
  type StateAt,
} from './queries.ts';
export { writeClaimProjection, writeClaimProjections, PROJECTION_BATCH_ROWS, type ClaimProjectionRow, toClaimCard, type ClaimCard, stateFromView, searchDocument, publishedRating, draftRating, SEARCH_CONFIG, SPELLING_VARIANTS } from './projection.ts';
export { toEventRecord, claimIdOfStream, type EventRecordDto } from './events.ts';
export { rebuildProjections, canReadConcurrently, compareProjections, foldAllClaims, PROJECTION_TABLES } from './rebuild/rebuild.ts';
export { checkClaimProjection, UNCOMPARED_COLUMNS, type ClaimProjectionCheck } from './rebuild/compare.ts';
export { formatRebuildTimings } from './rebuild/timing.ts';
export type { RebuildResult, RebuildOptions, RebuildMode, RebuildProgress, RebuildTimings, ProjectionDiff } from './rebuild/types.ts';
export { canonicalJson, sha256Hex } from '@claimtrail/event-store';
export { listFactChecks, type FactCheckPage } from './fact-checks.ts';
export { similarClaims, SIMILAR_CANDIDATE_STATES, SIMILAR_MIN_SCORE, type SimilarClaim } from './similar.ts';
export { DeskFollower, type DeskProjection, type FollowedEvent } from './desk/follower.ts';
export { NOTIFICATION_KINDS, mentionedIds, notificationsOf, type NotificationKind, type DerivedNotification } from './desk/notification-rules.ts';
export {
  notificationsProjection,
  listNotifications,
  notificationsAfter,
  lastNotificationSeq,
  markNotificationsRead,
  encodeNotificationCursor,
  decodeNotificationCursor,
  type Notification,
  type NotificationPage,
  type NotificationCursor,
} from './desk/notifications.ts';
export { deadlinesProjection, overdueCondition, deadlineFlags, unescalatedOverdue, type Thresholds, type DeadlineFlag, type OverdueClaim } from './desk/deadlines.ts';
export { analyticsProjection, deskStats, type DeskStats, type Percentiles } from './desk/analytics.ts';
export { DESK_PROJECTIONS } from './desk/projections.ts';
