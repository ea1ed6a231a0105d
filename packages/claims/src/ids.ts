import { isUuid } from '@claimtrail/event-store';

export function isClaimId(value: unknown): value is string {
  return isUuid(value);
}
