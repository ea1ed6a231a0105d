import { CompiledQuery, type Kysely, type Transaction } from 'kysely';

/** SQL helpers and names shared by the rebuild's modules. */

/** The schema the rebuild builds its copy in (rebuilds and compares share it: see the advisory lock). */
export const REBUILD_SCHEMA = 'claimtrail_rebuild';
/** Where the swap moves the old table before dropping it. */
export const RETIRED_SCHEMA = 'claimtrail_retired';
/**
 * The rebuild's statements grow with the log: one COPY streams all of it for as long as the
 * fold takes, the index builds and the comparison cover every claim. The pool's statement
 * timeout (meant for requests) does not apply inside its transactions; waiting for the live
 * table's lock is bounded by `lockTimeoutMs` instead.
 */
export const NO_STATEMENT_TIMEOUT = 'set local statement_timeout = 0';

export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** lz4 for the TOASTed json of this transaction's new rows, where the server has it. */
export async function useLz4(tx: Transaction<any>): Promise<void> {
  const lz4 = await tx.executeQuery(CompiledQuery.raw(`select 1 from pg_settings where name = 'default_toast_compression' and 'lz4' = any(enumvals)`));
  if (lz4.rows.length > 0) await tx.executeQuery(CompiledQuery.raw(`set local default_toast_compression = 'lz4'`));
}

export async function liveSchema(db: Kysely<any> | Transaction<any>): Promise<string> {
  const { rows } = await db.executeQuery<{ schema: string | null }>(
    CompiledQuery.raw(`select n.nspname as schema from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.oid = to_regclass('claims')`),
  );
  const schema = rows[0]?.schema;
  if (!schema) throw new Error('the claims projection table does not exist (run the migrations)');
  return schema;
}

/** A text[] as pg hands it over: an array, or its text form where no parser applies. */
export function parseTextArray(value: string[] | string): string[] {
  if (Array.isArray(value)) return value;
  const inner = value.replace(/^\{|\}$/g, '');
  return inner === '' ? [] : inner.split(',');
}
