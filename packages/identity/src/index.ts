export type { IdentityExecutor, IdentityDatabase } from './db.ts';
export { ensureUsers, userExists, type UserRecord } from './users.ts';
export { listUsers, directoryUsers, type DirectoryEntry } from './directory.ts';
export {
  hashToken,
  generateToken,
  createToken,
  issueToken,
  revokeToken,
  revokeTokenById,
  listTokens,
  invalidTokenHashes,
  TOKEN_REVOKED_CHANNEL,
  type CreatedToken,
  type TokenInfo,
} from './tokens.ts';
export {
  TokenAuthenticator,
  type AuthenticatedToken,
  type TokenCheck,
  type TokenFailure,
  type TokenAuthenticatorOptions,
} from './authenticator.ts';
export { createDemoTokens, DEMO_TOKEN_LABEL, type DemoToken, type DemoTokenOptions } from './demo-tokens.ts';
