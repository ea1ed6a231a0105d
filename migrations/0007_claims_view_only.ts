import { sql, type Kysely, type Migration } from 'kysely';

/**
 * `claims.snapshot` (the domain state as json) goes: the view holds every field of the
 * state (`stateFromView` in packages/claims inverts `toClaimView`), so the snapshot stored
 * the same notes, evidence and appearances a second time — ~1.8 kB of the ~4.7 kB of json
 * per row, serialized on every write and on every row of a rebuild, parsed and TOAST-
 * compressed by the database. A write now loads the state from `view`.
 */
async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table claims drop column snapshot`.execute(db);
}

async function down(db: Kysely<any>): Promise<void> {
  // Code before this migration reads `snapshot`; the view carries the same fields under the
  // state's names except status (view.state): enough for its `JSON.parse` + evolve.
  await sql`alter table claims add column snapshot json`.execute(db);
  await sql`
    update claims set snapshot = ((view::jsonb - 'state' - 'notesCount' - 'rejectionReason' - 'retractionReason'
      - 'changesRequestedReason' - 'reopenReason') || jsonb_build_object('status', view::jsonb -> 'state'))::json`.execute(db);
  await sql`alter table claims alter column snapshot set not null`.execute(db);
}

export const migration0007: Migration = { up, down };
