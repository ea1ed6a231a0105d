import { CompiledQuery, type Kysely, type Transaction } from 'kysely';
import { evolve, initialClaimState, toClaimView, toEnvelope, type ClaimState } from '@claimtrail/domain';
import { readStreamIn, type EventStore } from '@claimtrail/event-store';
import { claimIdOfStream } from '../events.ts';
import { writeClaimProjection } from '../projection.ts';
import { ident, liveSchema, parseTextArray, quoteLiteral } from './sql.ts';
import type { ProjectionDiff } from './types.ts';

/**
 * Comparing projection rows, in the database (so jsonb/timestamptz/tsvector equality is the
 * database's own): every column of the live table but `UNCOMPARED_COLUMNS`, read from the
 * catalog, so a column added by a migration is compared without a change here.
 */

/**
 * Columns NOT compared between live and rebuilt rows: `seq` is a surrogate for paging (the
 * swap carries it over). Every other column of the live table is compared, so a column
 * added by a later migration is covered without touching this file.
 */
export const UNCOMPARED_COLUMNS = ['seq'] as const;

export interface ClaimProjectionCheck {
  ok: boolean;
  diff?: ProjectionDiff;
  /** The stream's last event (to name it in a report). */
  lastEvent?: { id: string; version: number; position: number | null };
}

/**
 * Compares one claim's live projection row with the fold of its stream, in one snapshot
 * (REPEATABLE READ: the append and its projection commit together, so they agree there).
 */
export async function checkClaimProjection(store: EventStore, streamId: string): Promise<ClaimProjectionCheck> {
  return store.db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (tx) => {
      const schema = await liveSchema(tx);
      const events = await readStreamIn(tx, streamId, 0, 2_147_483_647);
      let state: ClaimState = initialClaimState;
      let headHash: string | null = null;
      for (const e of events) {
        state = evolve(state, toEnvelope(e));
        headHash = e.hash;
      }
      const last = events[events.length - 1];
      const lastEvent = last ? { id: last.id, version: last.version, position: last.position } : undefined;
      const claimId = claimIdOfStream(streamId) ?? streamId;
      const liveRow = await tx.executeQuery<{ version: number; view: string; state: string }>(
        CompiledQuery.raw(
          `select version, view::text as view, state from ${ident(schema)}.claims where stream_id = $1`,
          [streamId],
        ),
      );
      const live = liveRow.rows[0];
      if (state.status === null) {
        if (!live) return { ok: true, ...(lastEvent ? { lastEvent } : {}) };
        return {
          ok: false,
          diff: { claimId, streamId, reason: 'extra', liveVersion: Number(live.version), rebuiltVersion: null },
          ...(lastEvent ? { lastEvent } : {}),
        };
      }
      if (!live) {
        return {
          ok: false,
          diff: { claimId, streamId, reason: 'missing', liveVersion: null, rebuiltVersion: state.version },
          ...(lastEvent ? { lastEvent } : {}),
        };
      }
      // Compare in the database so jsonb/timestamptz/tsvector equality is the database's own:
      // the service's writer fills a temporary `claims` (pg_temp comes first in search_path).
      await tx.executeQuery(CompiledQuery.raw(`create temporary table claims (like ${ident(schema)}.claims including all) on commit drop`));
      await writeClaimProjection(tx, streamId, state, toClaimView(state), null, undefined, headHash);
      const diffRows = await tx.executeQuery<{ columns: string[] | string }>(
        CompiledQuery.raw(
          `select ${differingColumnsSql(await comparedColumns(tx, schema), 'l', 'r').list} as columns
             from ${ident(schema)}.claims l join pg_temp.claims r on r.stream_id = l.stream_id
            where l.stream_id = $1`,
          [streamId],
        ),
      );
      await tx.executeQuery(CompiledQuery.raw('drop table pg_temp.claims'));
      const columns = parseTextArray(diffRows.rows[0]?.columns ?? []);
      if (columns.length === 0) return { ok: true, ...(lastEvent ? { lastEvent } : {}) };
      return {
        ok: false,
        diff: { claimId, streamId, reason: 'different', columns, liveVersion: Number(live.version), rebuiltVersion: state.version },
        ...(lastEvent ? { lastEvent } : {}),
      };
    });
}

export interface ComparedColumn {
  name: string;
  /** SQL: true when the column differs between aliases `a` and `b`. */
  differs(a: string, b: string): string;
}

export async function comparedColumns(db: Kysely<any> | Transaction<any>, schema: string): Promise<ComparedColumn[]> {
  const { rows } = await db.executeQuery<{ name: string; type: string }>(
    CompiledQuery.raw(
      `select a.attname as name, format_type(a.atttypid, a.atttypmod) as type
         from pg_attribute a
        where a.attrelid = to_regclass($1) and a.attnum > 0 and not a.attisdropped
        order by a.attnum`,
      [`${ident(schema)}.claims`],
    ),
  );
  return rows
    .filter((r) => !(UNCOMPARED_COLUMNS as readonly string[]).includes(r.name))
    .map((r) => {
      const column = ident(r.name);
      return {
        name: r.name,
        // json has no equality: equal texts are equal values (one memcmp); only when the
        // texts differ does the jsonb comparison (a parse of both sides) decide. Same
        // answer as comparing as jsonb, at a fraction of the cost on a whole table.
        differs:
          r.type === 'json'
            ? (a: string, b: string) =>
                `(${a}.${column}::text is distinct from ${b}.${column}::text and ${a}.${column}::jsonb is distinct from ${b}.${column}::jsonb)`
            : (a: string, b: string) => `${a}.${column} is distinct from ${b}.${column}`,
      };
    });
}

export function differingColumnsSql(columns: ComparedColumn[], live: string, rebuilt: string): { list: string; any: string } {
  return {
    list: `array_remove(array[${columns
      .map((c) => `case when ${c.differs(live, rebuilt)} then ${quoteLiteral(c.name)} end`)
      .join(', ')}]::text[], null)`,
    any: columns.map((c) => c.differs(live, rebuilt)).join(' or '),
  };
}

export type DiffScope = { except: readonly string[] } | { only: readonly string[] };

/**
 * The rows that differ between live (`l`) and rebuilt (`r`), paired by claim id: how many,
 * and the first `maxDiffs` by id. `except`: pairs where neither row belongs to one of those
 * streams; `only`: pairs where one does (together: every pair, once).
 */
export async function differences(
  tx: Transaction<any>,
  live: string,
  scratch: string,
  differing: { list: string; any: string },
  scope: DiffScope,
  maxDiffs: number,
): Promise<{ count: number; diffs: ProjectionDiff[] }> {
  const streams = 'only' in scope ? scope.only : scope.except;
  const differs = `(l.id is null or r.id is null or (${differing.any}))`;
  const from =
    'only' in scope
      ? `(select id from ${live} where stream_id = any($1::text[]) union select id from ${scratch} where stream_id = any($1::text[])) k
         left join ${live} l on l.id = k.id left join ${scratch} r on r.id = k.id
        where ${differs}`
      : `${live} l full join ${scratch} r on r.id = l.id
        where ${differs}${streams.length === 0 ? '' : ' and not coalesce(l.stream_id = any($1::text[]), false) and not coalesce(r.stream_id = any($1::text[]), false)'}`;
  const params = 'only' in scope || streams.length > 0 ? [streams] : [];
  const query = `
    select coalesce(l.id, r.id)::text as id, coalesce(l.stream_id, r.stream_id) as stream_id,
           l.version as live_version, r.version as rebuilt_version,
           case when l.id is null then 'missing' when r.id is null then 'extra' else 'different' end as reason,
           ${differing.list} as columns
      from ${from}`;
  const counted = await tx.executeQuery<{ n: number }>(CompiledQuery.raw(`select count(*)::int as n from (${query}) d`, params));
  const count = Number(counted.rows[0]!.n);
  if (count === 0) return { count, diffs: [] };
  const listed = await tx.executeQuery<{ id: string; stream_id: string; live_version: number | null; rebuilt_version: number | null; reason: ProjectionDiff['reason']; columns: string[] | string }>(
    CompiledQuery.raw(`${query} order by 1 limit ${Math.max(0, Math.floor(maxDiffs))}`, params),
  );
  const diffs = listed.rows.map((r) => ({
    claimId: r.id,
    streamId: r.stream_id,
    reason: r.reason,
    ...(r.reason === 'different' ? { columns: parseTextArray(r.columns) } : {}),
    liveVersion: r.live_version === null ? null : Number(r.live_version),
    rebuiltVersion: r.rebuilt_version === null ? null : Number(r.rebuilt_version),
  }));
  return { count, diffs };
}

/** Two id-ordered lists of differences as one, the first `maxDiffs` (ids are uuid texts). */
export function mergeDiffs(a: ProjectionDiff[], b: ProjectionDiff[], maxDiffs: number): ProjectionDiff[] {
  if (b.length === 0) return a;
  return [...a, ...b].sort((x, y) => (x.claimId < y.claimId ? -1 : x.claimId > y.claimId ? 1 : 0)).slice(0, Math.max(0, Math.floor(maxDiffs)));
}
