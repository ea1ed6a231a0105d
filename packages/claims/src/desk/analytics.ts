import { sql, type Kysely } from 'kysely';
import type { DeskProjection } from './follower.ts';

/**
 * Desk analytics (docs/desk-operations.md): a desk projection with one fact per event — when,
 * who, the claim's state before and after, its assignee after, who drafted a published
 * verdict — and the figures of `GET /stats`, aggregated over the facts of a period.
 */
export const analyticsProjection: DeskProjection = {
  name: 'analytics',
  async apply(tx, events) {
    const records = events.map((e) => ({
      position: e.position,
      claim_id: e.claimId,
      type: e.envelope.type,
      at: new Date(e.envelope.recordedAt).toISOString(),
      actor: e.envelope.actor,
      from_state: e.before.status,
      to_state: e.after.status,
      assignee: e.after.assignee,
      drafted_by: e.envelope.type === 'VerdictPublished' ? e.envelope.data.draftedBy : null,
    }));
    if (records.length === 0) return;
    await sql`insert into desk_facts (position, claim_id, type, at, actor, from_state, to_state, assignee, drafted_by)
              select * from json_to_recordset(${JSON.stringify(records)}::json)
                as r(position bigint, claim_id uuid, type text, at timestamptz, actor text, from_state text, to_state text, assignee text, drafted_by text)
              on conflict (position) do nothing`.execute(tx);
  },
  async reset(tx) {
    await sql`delete from desk_facts`.execute(tx);
  },
};

export interface Percentiles {
  count: number;
  p50Ms: number | null;
  p90Ms: number | null;
}

export interface DeskStats {
  from: string;
  to: string;
  /** Stays in each state that ended in the period: how many, their mean, median and 90th percentile. */
  timeInState: (Percentiles & { state: string; meanMs: number | null })[];
  /** Submission to first publication, for claims first published in the period. */
  cycleTime: Percentiles;
  /** Publications (VerdictPublished) per ISO week (starting Monday, UTC) in the period. */
  throughput: { weekStart: string; published: number }[];
  /** Per publication in the period: reopens, corrections (applied), retractions in the period. */
  rates: {
    published: number;
    reopened: number;
    corrected: number;
    retracted: number;
    reopenRate: number | null;
    correctionRate: number | null;
    retractionRate: number | null;
  };
  /**
   * Per researcher: claims assigned to them in the period, verdicts they drafted published
   * in the period, and claims assigned to them in research or review at the period's end.
   */
  load: { user: string; assigned: number; published: number; openAtEnd: number }[];
}

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

/** The figures of the period [from, to). */
export async function deskStats(db: Kysely<any>, from: Date, to: Date): Promise<DeskStats> {
  const f = from.toISOString();
  const t = to.toISOString();
  const stays = await sql<{ state: string; count: string; mean: number | null; p50: number | null; p90: number | null }>`
    with changes as (
      select claim_id, to_state as state, at as entered,
             lead(at) over (partition by claim_id order by position) as left_at
        from desk_facts where from_state is distinct from to_state
    ), ended as (
      select state, extract(epoch from (left_at - entered)) * 1000 as ms
        from changes where left_at is not null and left_at >= ${f}::timestamptz and left_at < ${t}::timestamptz
    )
    select state, count(*)::text as count, avg(ms)::float8 as mean,
           percentile_cont(0.5) within group (order by ms)::float8 as p50,
           percentile_cont(0.9) within group (order by ms)::float8 as p90
      from ended group by state order by state`.execute(db);
  const cycle = await sql<{ count: string; p50: number | null; p90: number | null }>`
    with firsts as (
      select claim_id, min(at) filter (where type = 'ClaimSubmitted') as submitted,
             min(at) filter (where type = 'VerdictPublished') as published
        from desk_facts group by claim_id
    ), cycles as (
      select extract(epoch from (published - submitted)) * 1000 as ms from firsts
       where published >= ${f}::timestamptz and published < ${t}::timestamptz and submitted is not null
    )
    select count(*)::text as count,
           percentile_cont(0.5) within group (order by ms)::float8 as p50,
           percentile_cont(0.9) within group (order by ms)::float8 as p90
      from cycles`.execute(db);
  const weeks = await sql<{ week: string; published: string }>`
    select to_char(date_trunc('week', at at time zone 'UTC'), 'YYYY-MM-DD') as week, count(*)::text as published
      from desk_facts where type = 'VerdictPublished' and at >= ${f}::timestamptz and at < ${t}::timestamptz
     group by 1 order by 1`.execute(db);
  const counts = await sql<{ type: string; n: string }>`
    select type, count(*)::text as n from desk_facts
     where type in ('VerdictPublished', 'ClaimReopened', 'VerdictCorrected', 'ClaimRetracted')
       and at >= ${f}::timestamptz and at < ${t}::timestamptz
     group by type`.execute(db);
  const load = await sql<{ user: string; assigned: string; published: string; open_at_end: string }>`
    with assigned as (
      select assignee as u, count(*) as n from desk_facts
       where type = 'ClaimAssigned' and at >= ${f}::timestamptz and at < ${t}::timestamptz group by assignee
    ), published as (
      select drafted_by as u, count(*) as n from desk_facts
       where type = 'VerdictPublished' and at >= ${f}::timestamptz and at < ${t}::timestamptz group by drafted_by
    ), latest as (
      select distinct on (claim_id) claim_id, to_state, assignee from desk_facts
       where at < ${t}::timestamptz order by claim_id, position desc
    ), open_now as (
      select assignee as u, count(*) as n from latest
       where assignee is not null and to_state in ('in_research', 'in_review') group by assignee
    ), users as (select u from assigned union select u from published union select u from open_now)
    select users.u as user, coalesce(a.n, 0)::text as assigned, coalesce(p.n, 0)::text as published, coalesce(o.n, 0)::text as open_at_end
      from users left join assigned a on a.u = users.u left join published p on p.u = users.u left join open_now o on o.u = users.u
     where users.u is not null order by users.u`.execute(db);
  const count = (type: string) => Number(counts.rows.find((r) => r.type === type)?.n ?? 0);
  const published = count('VerdictPublished');
  const rate = (n: number) => (published === 0 ? null : n / published);
  const c = cycle.rows[0];
  return {
    from: f,
    to: t,
    timeInState: stays.rows.map((r) => ({ state: r.state, count: Number(r.count), meanMs: num(r.mean), p50Ms: num(r.p50), p90Ms: num(r.p90) })),
    cycleTime: { count: Number(c?.count ?? 0), p50Ms: num(c?.p50), p90Ms: num(c?.p90) },
    throughput: weeks.rows.map((r) => ({ weekStart: r.week, published: Number(r.published) })),
    rates: {
      published,
      reopened: count('ClaimReopened'),
      corrected: count('VerdictCorrected'),
      retracted: count('ClaimRetracted'),
      reopenRate: rate(count('ClaimReopened')),
      correctionRate: rate(count('VerdictCorrected')),
      retractionRate: rate(count('ClaimRetracted')),
    },
    load: load.rows.map((r) => ({ user: r.user, assigned: Number(r.assigned), published: Number(r.published), openAtEnd: Number(r.open_at_end) })),
  };
}
