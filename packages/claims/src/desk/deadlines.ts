import { sql, type Kysely } from 'kysely';
import type { DeskProjection } from './follower.ts';

/**
 * Deadlines (docs/desk-operations.md): a desk projection of when each claim's current
 * period began — when it entered its state, or was last (re)assigned, whichever is later —
 * and whether the period was escalated (`ClaimEscalated`). Thresholds are configuration:
 * a claim is overdue when `since + threshold(state) <= now`, computed when asked.
 */
export type Thresholds = Readonly<Partial<Record<string, number>>>;

interface AgeRow {
  claim_id: string;
  state: string;
  since: string;
  period_version: number;
  escalated_version: number | null;
}

export const deadlinesProjection: DeskProjection = {
  name: 'deadlines',
  async apply(tx, events) {
    const rows = new Map<string, Partial<AgeRow> & { claim_id: string }>();
    for (const e of events) {
      const row = rows.get(e.claimId) ?? { claim_id: e.claimId };
      const status = e.after.status;
      if (status === null) continue;
      if (status !== e.before.status || e.envelope.type === 'ClaimAssigned') {
        Object.assign(row, {
          state: status,
          since: new Date(e.envelope.recordedAt).toISOString(),
          period_version: e.envelope.version,
          escalated_version: null,
        });
      } else if (e.envelope.type === 'ClaimEscalated') {
        row.escalated_version = -1; // the current period's, resolved in SQL
      }
      rows.set(e.claimId, row);
    }
    if (rows.size === 0) return;
    const records = [...rows.values()];
    // New periods replace the row; an escalation alone marks the stored period.
    const periods = records.filter((r) => r.state !== undefined);
    if (periods.length > 0) {
      await sql`insert into desk_claim_ages (claim_id, state, since, period_version, escalated_version)
                select r.claim_id, r.state, r.since, r.period_version, null
                  from json_to_recordset(${JSON.stringify(periods)}::json) as r(claim_id uuid, state text, since timestamptz, period_version integer)
                on conflict (claim_id) do update set state = excluded.state, since = excluded.since,
                   period_version = excluded.period_version, escalated_version = null`.execute(tx);
    }
    const escalated = records.filter((r) => r.escalated_version === -1).map((r) => r.claim_id);
    if (escalated.length > 0) {
      await sql`update desk_claim_ages set escalated_version = period_version where claim_id = any(${escalated}::uuid[])`.execute(tx);
    }
  },
  async reset(tx) {
    await sql`delete from desk_claim_ages`.execute(tx);
  },
};

/** SQL: when row `a`'s period is due (null when its state has no threshold). */
function dueAt(thresholds: Thresholds) {
  return sql`(a.since + ((${JSON.stringify(thresholds)}::jsonb ->> a.state)::float8 * interval '1 millisecond'))`;
}

/** SQL condition on `claims c`: overdue at `at` (the desk projection agrees with the claim's state). */
export function overdueCondition(thresholds: Thresholds, at: Date) {
  return sql`exists (select 1 from desk_claim_ages a where a.claim_id = c.id and a.state = c.state and ${dueAt(thresholds)} <= ${at.toISOString()}::timestamptz)`;
}

/**
 * SQL: the text of a `claims c` row's card with `"deadline":{dueAt,overdue,escalated}` as of
 * `at` added last, the same fields `deadlineFlags` gives the lists. Needs `desk_claim_ages a`
 * left-joined on `a.claim_id = c.id`.
 */
export function cardWithDeadlineText(thresholds: Thresholds, at: Date) {
  const due = sql`(case when a.state = c.state then ${dueAt(thresholds)} end)`;
  return sql<string>`left(c.card::text, -1)
    || ',"deadline":{"dueAt":' || coalesce('"' || to_char(${due} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '"', 'null')
    || ',"overdue":' || (case when ${due} <= ${at.toISOString()}::timestamptz then 'true' else 'false' end)
    || ',"escalated":' || (case when a.escalated_version = a.period_version then 'true' else 'false' end) || '}}'`;
}

export interface DeadlineFlag {
  dueAt: string | null;
  overdue: boolean;
  escalated: boolean;
}

/** Each claim's deadline: when due (null: no threshold in its state), whether overdue at `at`, whether this period was escalated. */
export async function deadlineFlags(db: Kysely<any>, ids: readonly string[], thresholds: Thresholds, at: Date): Promise<Map<string, DeadlineFlag>> {
  const flags = new Map<string, DeadlineFlag>();
  if (ids.length === 0) return flags;
  const { rows } = await sql<{ id: string; due_at: Date | string | null; escalated: boolean }>`
    select c.id::text as id, case when a.state = c.state then ${dueAt(thresholds)} end as due_at,
           coalesce(a.escalated_version = a.period_version, false) as escalated
      from claims c left join desk_claim_ages a on a.claim_id = c.id
     where c.id = any(${[...ids]}::uuid[])`.execute(db);
  for (const r of rows) {
    const due = r.due_at === null ? null : new Date(r.due_at);
    flags.set(r.id, { dueAt: due?.toISOString() ?? null, overdue: due !== null && due.getTime() <= at.getTime(), escalated: r.escalated });
  }
  return flags;
}

export interface OverdueClaim {
  claimId: string;
  state: string;
  since: string;
  dueAt: string;
  /** The version that began the period (the escalation's idempotency key is made from it). */
  periodVersion: number;
  /** The claim's version now (the escalation's expected version). */
  version: number;
}

/** Claims overdue at `at` whose current period was not escalated yet, oldest due first. */
export async function unescalatedOverdue(db: Kysely<any>, thresholds: Thresholds, at: Date, limit = 500): Promise<OverdueClaim[]> {
  const { rows } = await sql<{ id: string; state: string; since: Date | string; due_at: Date | string; period_version: number; version: number }>`
    select c.id::text as id, a.state, a.since, ${dueAt(thresholds)} as due_at, a.period_version, c.version
      from desk_claim_ages a join claims c on c.id = a.claim_id and c.state = a.state
     where ${dueAt(thresholds)} <= ${at.toISOString()}::timestamptz
       and a.escalated_version is distinct from a.period_version
     order by 4, 1 limit ${limit}`.execute(db);
  return rows.map((r) => ({
    claimId: r.id,
    state: r.state,
    since: new Date(r.since).toISOString(),
    dueAt: new Date(r.due_at).toISOString(),
    periodVersion: Number(r.period_version),
    version: Number(r.version),
  }));
}
