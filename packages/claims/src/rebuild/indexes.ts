import { CompiledQuery, type Kysely, type Transaction } from 'kysely';
import { ident, NO_STATEMENT_TIMEOUT, parseTextArray } from './sql.ts';
import type { RebuildTiming } from './timing.ts';

/**
 * The projection table's indexes for the rebuild: read from the live table as statements
 * re-creating them on the copy under their live names, built on the copy (several at once
 * beside the comparison), and matched with the originals after the swap.
 */

/** Connections building indexes at once beside the comparison (with the transaction's own: three). */
const ASIDE_CONNECTIONS = 2;

/**
 * Builds indexes on the committed copy on pooled connections, ASIDE_CONNECTIONS at a time,
 * GIN first (the slowest). Each build is its own statement: CREATE INDEX takes a SHARE lock,
 * which lets the others and the comparison's reads go on.
 */
export async function buildIndexesAside(db: Kysely<any>, scratch: string, definitions: readonly IndexDefinition[], timing: RebuildTiming): Promise<void> {
  const queue = definitions
    .map((d) => ({ name: d.name, statement: d.aside!.index(scratch) }))
    .sort((x, y) => Number(!/ USING gin /i.test(x.statement)) - Number(!/ USING gin /i.test(y.statement)));
  let failure: unknown = null;
  const worker = async () => {
    for (let next = queue.shift(); next !== undefined && failure === null; next = queue.shift()) {
      const { name, statement } = next;
      try {
        await timing.index(name, () =>
          db.transaction().execute(async (t) => {
            await t.executeQuery(CompiledQuery.raw(NO_STATEMENT_TIMEOUT));
            await t.executeQuery(CompiledQuery.raw(`set local maintenance_work_mem = '256MB'`));
            await t.executeQuery(CompiledQuery.raw(statement));
          }),
        );
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(ASIDE_CONNECTIONS, queue.length) }, worker));
  if (failure !== null) throw failure;
}

export interface IndexDefinition {
  name: string;
  primary: boolean;
  /** Columns the index covers (for a compare, which builds only the stream_id lookup). */
  columns: string[];
  /** The statement creating it on `table` (a constraint for constraint-backed indexes). */
  create(table: string): string;
  /**
   * Building it on the committed copy beside other work: the index alone (CREATE INDEX,
   * a SHARE lock), then `attach` (constraint-backed ones: ADD CONSTRAINT … USING INDEX, a
   * catalog change) once the builds are done. Null: only `create` will do.
   */
  aside: { index(table: string): string; attach: ((table: string) => string) | null } | null;
}

/**
 * The live projection table's indexes, as statements re-creating them under the same
 * names on another table: constraint-backed ones (primary key, unique) as constraints
 * (`pg_get_constraintdef`), the others from `pg_get_indexdef` with the table replaced.
 */
export async function indexDefinitions(tx: Transaction<any>, schema: string): Promise<IndexDefinition[]> {
  const { rows } = await tx.executeQuery<{ name: string; def: string; primary: boolean; constraint: string | null; condef: string | null; columns: string[] | string }>(
    CompiledQuery.raw(
      `select i.relname as name, pg_get_indexdef(i.oid) as def, x.indisprimary as primary,
              c.conname as constraint, pg_get_constraintdef(c.oid) as condef,
              array(select a.attname::text from unnest(x.indkey) k join pg_attribute a on a.attrelid = x.indrelid and a.attnum = k) as columns
         from pg_index x join pg_class i on i.oid = x.indexrelid
         left join pg_constraint c on c.conindid = x.indexrelid and c.conrelid = x.indrelid
        where x.indrelid = to_regclass($1)
        order by x.indisprimary desc, i.relname`,
      [`${ident(schema)}.claims`],
    ),
  );
  return rows.map((r) => {
    const columns = parseTextArray(r.columns);
    const match = /^CREATE (UNIQUE )?INDEX \S+ ON (?:ONLY )?\S+ (USING [\s\S]*)$/.exec(r.def);
    const index = match ? (table: string) => `create ${match[1] ?? ''}index ${ident(r.name)} on ${table} ${match[2]!}` : null;
    if (r.constraint !== null && r.condef !== null) {
      const { constraint, condef } = r;
      // A plain UNIQUE constraint can be attached to its finished index; a deferrable one,
      // a primary key or an exclusion constraint is only ever created whole.
      const attachable = index !== null && !r.primary && /^UNIQUE (NULLS NOT DISTINCT )?\(/.test(condef) && !/DEFERRABLE/i.test(condef);
      return {
        name: r.name,
        primary: r.primary,
        columns,
        create: (table: string) => `alter table ${table} add constraint ${ident(constraint)} ${condef}`,
        aside: attachable ? { index, attach: (table: string) => `alter table ${table} add constraint ${ident(constraint)} unique using index ${ident(r.name)}` } : null,
      };
    }
    if (!index) throw new Error(`rebuild: cannot re-create index ${r.name}: ${r.def}`);
    return { name: r.name, primary: r.primary, columns, create: index, aside: { index, attach: null } };
  });
}

/** Index name and its definition with names stripped, to match a copy with its original. */
export async function indexesOf(tx: Transaction<any>, schema: string, table: string): Promise<{ name: string; shape: string }[]> {
  const { rows } = await tx.executeQuery<{ name: string; def: string }>(
    CompiledQuery.raw(
      `select i.relname as name, pg_get_indexdef(i.oid) as def
         from pg_index x join pg_class i on i.oid = x.indexrelid
         join pg_class t on t.oid = x.indrelid join pg_namespace n on n.oid = t.relnamespace
        where n.nspname = $1 and t.relname = $2`,
      [schema, table],
    ),
  );
  return rows.map((r) => ({ name: r.name, shape: r.def.replace(/INDEX \S+ ON \S+/, 'INDEX ON') }));
}
