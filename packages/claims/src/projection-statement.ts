import { sql, type RawBuilder } from 'kysely';
import type { ClaimSlot, SearchDocument } from './claim-slots.ts';
import { releaseKeys, storeAnswers, type KeyAnswer, type KeyOwner } from './idempotency.ts';
import { jsonRecords } from './json-records.ts';
import { jsonColumnTexts, recordsetColumnsSql, scalarRecord, searchDocument, UPDATED_COLUMNS, upsertClaimsFrom } from './projection.ts';

/*
 * A write transaction's last statement: the projection rows of the claims it appended to,
 * the idempotency keys' stored answers and released keys — one statement, whatever the
 * batch (its data-modifying parts as CTEs, only those with rows).
 */

/** One claim's row of the statement's json parameter. */
function projectionRecord(slot: ClaimSlot, doc: SearchDocument): Record<string, unknown> & { reindex: boolean } {
  const view = slot.view!;
  const before = slot.storedDoc;
  const reindex = !before || before.primary !== doc.primary || before.secondary !== doc.secondary;
  return {
    ...scalarRecord({ streamId: slot.streamId, view, headHash: slot.head.hash }),
    reindex,
    primary_text: reindex ? doc.primary : null,
    secondary_text: reindex ? doc.secondary : null,
  };
}

export type ProjectionRecord = ReturnType<typeof projectionRecord>;

/** The appended claims' rows, their json parameter, and their new search documents (for the cache). */
export function projectionRows(appending: ClaimSlot[]): { docs: SearchDocument[]; rows: ProjectionRecord[]; rowsJson: string } {
  const docs = appending.map((slot) => searchDocument(slot.view!));
  const rows = appending.map((slot, i) => projectionRecord(slot, docs[i]!));
  const rowsJson = jsonRecords(rows, (_row, i) => {
    const slot = appending[i]!;
    return jsonColumnTexts({ streamId: slot.streamId, view: slot.view!, headHash: slot.head.hash, viewJson: slot.viewJson! });
  });
  return { docs, rows, rowsJson };
}

/** The rows' columns (the projection row's, search as its texts, plus whether to recompute the vector). */
const ROWS_COLUMNS = sql.raw(recordsetColumnsSql(['reindex boolean']));
/** What a row keeping its search vector updates: `state, …, head_hash`, and from the rows `r.state, …`. */
const UPDATED_LIST = sql.raw(UPDATED_COLUMNS.map((c) => c.name).join(', '));
const UPDATED_FROM_ROWS = sql.raw(UPDATED_COLUMNS.map((c) => `r.${c.name}`).join(', '));

/**
 * The statement. Rows travel as one json parameter (json, not jsonb: each nested view keeps
 * the exact text `JSON.stringify` gave it — the text the response sends and the rebuild
 * writes, so a rebuild compares equal). Rows whose searchable text did not change keep their
 * search vector (an UPDATE); the others are upserted with a new one. Every part finds its
 * rows through a primary key with `= any(array)`, never a join the planner could turn into a
 * scan of the whole table. Null when there is nothing to write.
 */
export function batchProjectionStatement(
  rows: ProjectionRecord[],
  rowsJson: string,
  answers: KeyAnswer[],
  released: KeyOwner[],
  /** Only rows whose claim's new head event is in the log (written by this transaction): see one-flight.ts. */
  besideTheirEvents = false,
): RawBuilder<unknown> | null {
  const ctes: RawBuilder<unknown>[] = [];
  const writes: RawBuilder<unknown>[] = [];
  const kept = rows.filter((row) => !row.reindex).map((row) => row.id);
  const reindexed = rows.some((row) => row.reindex);
  if (rows.length > 0) {
    // The check is a lateral lookup with LIMIT rather than EXISTS: a semi-join is planned for
    // json_to_recordset's guess of 100 rows, and (prepared, planned while `events` was small)
    // came out as a hash join over a sequential scan of the whole log on every batch.
    ctes.push(sql`rows as materialized (
      select r.* from json_to_recordset(${rowsJson}::json) as r(${ROWS_COLUMNS})${
        besideTheirEvents
          ? sql` cross join lateral (select 1 from events e
                  where e.stream_id = r.stream_id and e.version = r.version and e.hash = r.head_hash limit 1) as beside`
          : sql``
      })`);
  }
  if (answers.length > 0) {
    const stored = storeAnswers(answers);
    ctes.push(stored.input);
    writes.push(stored.write);
  }
  if (released.length > 0) writes.push(releaseKeys(released));
  if (kept.length > 0) {
    writes.push(sql`update claims c
         set (${UPDATED_LIST}) =
             (select ${UPDATED_FROM_ROWS}
                from rows r where r.id = c.id)
       where c.id = any(${kept}::uuid[]) and exists (select 1 from rows r where r.id = c.id)`);
  }
  if (reindexed) writes.push(upsertClaimsFrom(sql`rows r where r.reindex`));
  // The last write is the statement; the ones before it and the inputs are its CTEs.
  const main = writes.pop();
  if (main === undefined) return null;
  writes.forEach((write, i) => ctes.push(sql`${sql.raw(`w${i}`)} as (${write})`));
  return ctes.length === 0 ? main : sql`with ${sql.join(ctes)} ${main}`;
}
