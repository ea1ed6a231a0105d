export { serverUrl, postgresAvailable, requirePostgres, createTestDatabase, type TestDatabase } from './postgres.ts';
