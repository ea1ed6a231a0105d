/**
 * What the desk notifies people of (docs/desk-operations.md). Each kind follows from a claim
 * event; which events make which, and for whom, is packages/claims/src/desk/notification-rules.ts.
 * One list for those rules and the API contract.
 */
export const NOTIFICATION_KINDS = [
  'assigned',
  'changes_requested',
  'verdict_published',
  'verdict_corrected',
  'verdict_retracted',
  'mentioned',
  'claim_merged',
  'claim_escalated',
] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];
