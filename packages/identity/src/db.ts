import type { Kysely, QueryExecutorProvider } from 'kysely';

/**
 * Where identity's queries run: a connection or a transaction, whatever its table typing
 * (the queries are SQL text). The tables are `users` and `api_tokens`, created by the
 * migrations `0002_claims` and `0004_token_expiry`.
 */
export type IdentityExecutor = QueryExecutorProvider;

/** A connection that can open a transaction (what the demo-token rotation needs). */
export type IdentityDatabase = Kysely<object>;
