import { sql, type Kysely, type Migration } from 'kysely';

/**
 * The counters that the rate limit and the failed-authentication limit share between all
 * instances on one database: one row per key (`rate:<token hash or address>`,
 * `auth:<address>`), the hits in its current window and when that window ends. Written by
 * services/api/src/plugins/auth-limit.ts (SharedLimitWindows) in batched upserts.
 *
 * UNLOGGED: the counts are worth a minute at most, so they skip the WAL (no write
 * amplification, nothing for replicas); a crash empties the table, which only resets the
 * current windows. A lower fill factor leaves room on each page so that counting (an
 * update that changes no indexed column) stays a HOT update.
 */
async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create unlogged table if not exists shared_limit_windows (
      key text primary key,
      hits bigint not null,
      reset_at timestamptz not null
    ) with (fillfactor = 70)
  `.execute(db);
}

async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table if exists shared_limit_windows`.execute(db);
}

export const migration0013: Migration = { up, down };
