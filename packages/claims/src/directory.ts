export { directoryUsers } from '@claimtrail/identity';
