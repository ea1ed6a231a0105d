export { SEED_USERS, DEMO_USERS, seedActor, seedDirectoryUser, type SeedUser, type SeedUserKey } from './data/users.ts';
export { SOURCES, excerpt, cite, type SeedSource, type SourceKey } from './data/sources.ts';
export { SEED_CLAIMS, SEED_SUMMARY, PENDING_CORRECTION, type SeedClaim, type SeedStep } from './data/claims.ts';
export { runSeed, resolveSeedCommand, type SeedExecutor, type SeedCommandInput, type SeedRunResult } from './run.ts';
export { seedClaimId, seedIdempotencyKey, uuidV5, SEED_NAMESPACE } from './ids.ts';
