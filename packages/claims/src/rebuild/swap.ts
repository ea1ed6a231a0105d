import { CompiledQuery, type Transaction } from 'kysely';
import { CLAIMS_CHANGED_CHANNEL } from '../view-cache.ts';
import type { ScratchBuild } from './build.ts';
import { indexesOf } from './indexes.ts';
import { ident, REBUILD_SCHEMA, RETIRED_SCHEMA } from './sql.ts';

/**
 * The swap, under the live table's ACCESS EXCLUSIVE lock, with the copy built, caught up
 * and compared: keep `seq` (cursor pages stay valid), move the old table out and the new one
 * in, restore the migration's index names, triggers and the sequence's owner. Readers and
 * writers see either the old table or the new one; a writer blocked on the lock resolves
 * `claims` again and continues on the new table.
 */
export async function swapIntoPlace(tx: Transaction<any>, built: ScratchBuild): Promise<void> {
  const { schema, live, scratch } = built;
  const run = (text: string, params: unknown[] = []) => tx.executeQuery(CompiledQuery.raw(text, params));
  if (built.seqTrigger) await run(`drop trigger keep_seq on ${scratch}`);
  // The build already carried seq over; this only catches what it could not (no-op normally).
  await run(`update ${scratch} r set seq = l.seq from ${live} l where l.id = r.id and r.seq <> l.seq`);
  const liveIndexes = await indexesOf(tx, schema, 'claims');
  const sequences = await run(
    `select s.relname as name from pg_depend d
       join pg_class s on s.oid = d.objid and s.relkind = 'S'
       join pg_class t on t.oid = d.refobjid
       join pg_namespace n on n.oid = t.relnamespace
      where n.nspname = $1 and t.relname = 'claims' and d.deptype in ('a', 'i')`,
    [schema],
  );
  for (const s of sequences.rows as { name: string }[]) {
    await run(`alter sequence ${ident(schema)}.${ident(s.name)} owned by none`);
  }
  // LIKE copies no triggers: the live table's own (e.g. the claims-changed notification of
  // migration 0009) are re-created on the new table from their definitions.
  const triggers = await run(
    `select t.tgname as name, pg_get_triggerdef(t.oid) as def from pg_trigger t where t.tgrelid = to_regclass($1) and not t.tgisinternal`,
    [live],
  );
  for (const t of triggers.rows as { name: string; def: string }[]) {
    const target = [` ON ${ident(schema)}.claims `, ` ON ${schema}.claims `].find((on) => t.def.includes(on));
    if (!target) throw new Error(`rebuild: cannot re-create trigger ${t.name}: ${t.def}`);
    await run(t.def.replace(target, ` ON ${scratch} `));
  }
  // Every row may have changed (a swap repairs what differed): instances drop the claim
  // views they keep in memory at this commit.
  await run(`select pg_notify($1, '*')`, [CLAIMS_CHANGED_CHANNEL]);
  await run(`drop schema if exists ${ident(RETIRED_SCHEMA)} cascade`);
  await run(`create schema ${ident(RETIRED_SCHEMA)}`);
  await run(`alter table ${live} set schema ${ident(RETIRED_SCHEMA)}`);
  await run(`alter table ${scratch} set schema ${ident(schema)}`);
  const newIndexes = await indexesOf(tx, schema, 'claims');
  for (const index of newIndexes) {
    const original = liveIndexes.find((o) => o.shape === index.shape);
    if (original && original.name !== index.name && !newIndexes.some((n) => n.name === original.name)) {
      await run(`alter index ${ident(schema)}.${ident(index.name)} rename to ${ident(original.name)}`);
    }
  }
  for (const s of sequences.rows as { name: string }[]) {
    const column = await run(
      `select a.attname as column from pg_attrdef d
         join pg_attribute a on a.attrelid = d.adrelid and a.attnum = d.adnum
        where d.adrelid = to_regclass($1) and pg_get_expr(d.adbin, d.adrelid) like $2`,
      [`${schema}.claims`, `%${s.name}%`],
    );
    const col = (column.rows[0] as { column: string } | undefined)?.column;
    if (col) await run(`alter sequence ${ident(schema)}.${ident(s.name)} owned by ${live}.${ident(col)}`);
  }
  await run(`drop schema ${ident(RETIRED_SCHEMA)} cascade`);
  await run(`drop schema ${ident(REBUILD_SCHEMA)} cascade`);
}
