import type { Kysely } from 'kysely';
import type pg from 'pg';
import { q } from './row.ts';

/** An autocommit statement's rows and the number of rows it affected. */
export interface StatementResult<R> {
  rows: R[];
  rowCount: number;
}

/**
 * Runs an autocommit statement outside Kysely: on PostgreSQL a named statement straight on
 * the pool (parsed and planned once per connection, no query compilation); PGlite via
 * Kysely. `name` undefined: an unnamed statement (its text varies too much to keep).
 */
export type RunStatement = <R>(name: string | undefined, text: string, params: unknown[]) => Promise<StatementResult<R>>;

export function statementRunner(db: Kysely<any>, pool: pg.Pool | undefined): RunStatement {
  if (pool) {
    return async <R>(name: string | undefined, text: string, params: unknown[]) => {
      const result = await pool.query(name ? { name, text, values: params } : { text, values: params });
      return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
    };
  }
  return async <R>(_name: string | undefined, text: string, params: unknown[]) => {
    const result = await db.executeQuery<R>(q(text, params));
    return { rows: result.rows, rowCount: Number(result.numAffectedRows ?? 0n) };
  };
}
