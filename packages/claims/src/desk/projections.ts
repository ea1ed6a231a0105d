import { analyticsProjection } from './analytics.ts';
import { deadlinesProjection } from './deadlines.ts';
import type { DeskProjection } from './follower.ts';
import { notificationsProjection } from './notifications.ts';

/** Every desk projection, in the order the follower applies them (the service and the rebuild CLI use the same list). */
export const DESK_PROJECTIONS: readonly DeskProjection[] = [notificationsProjection, deadlinesProjection, analyticsProjection];
