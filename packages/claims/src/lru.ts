export { LruMap } from '@claimtrail/event-store';
