/**
 * Durable consumer groups: named groups with a server-kept checkpoint, a filter, and
 * at-least-once delivery to any number of members in any number of processes.
 *
 * How a fetch works (one statement each, so a crash between two leaves nothing half done):
 * 1. Take in: the events after the group's checkpoint, in position order, that match the
 *    filter, become rows of `consumer_pending`; the checkpoint moves to the last event
 *    read. Only positioned events are read and positions become visible as a growing prefix
 *    (the sequencer numbers under one lock, in commits that follow each other; see
 *    sequencer.ts and subscription.ts), so "position > checkpoint" never skips an event that
 *    gets its position late: it is not visible until every smaller position is. The group
 *    row is locked `skip locked`: while one member takes in, the others hand out.
 * 2. Expire: events whose lease ran out after `maxAttempts` hand-outs are parked.
 * 3. Hand out: the oldest outstanding event of each stream (`distinct on` over the
 *    stream index), if no lease (or retry delay) holds it, locked `skip locked` and leased
 *    to the member. A row another member is leasing is skipped, and the stream's next
 *    event is not a head in this snapshot, so it is not taken either. A stream's later event is
 *    never handed out while an earlier one is outstanding (not parked): per-stream order.
 *
 * Ack deletes the row. Nack makes it available again (after an optional delay) or parks
 * it once it has been handed out `maxAttempts` times. A parked event no longer holds its
 * stream back; replay makes it outstanding again (with a fresh attempt count).
 */
import type { Kysely } from 'kysely';
import { EVENT_COLUMNS, q, toRecorded, type EventRow } from '../row.ts';
import type { PositionedEvent } from '../types.ts';

export interface ConsumerGroupFilter {
  /** Only events of these types (absent: every type). */
  eventTypes?: readonly string[];
  /** Only streams whose id starts with this (absent: every stream). */
  streamPrefix?: string;
  /** Only these streams (absent: every stream). */
  streams?: readonly string[];
}

export interface ConsumerGroupSettings {
  filter?: ConsumerGroupFilter;
  /** Hand-outs before an event is parked (default 5). */
  maxAttempts?: number;
  /** How long a member holds a fetched event before it is handed out again (default 30 s). */
  leaseMs?: number;
  /** Start after this position (default 0: the whole log). */
  startAfter?: number;
}

export interface ConsumerGroupInfo {
  name: string;
  filter: ConsumerGroupFilter;
  maxAttempts: number;
  leaseMs: number;
  /** Every event at or below this position has been taken in (outstanding, acked or parked). */
  checkpoint: number;
  /** Every matching event at or below this position is acknowledged or parked. */
  acknowledgedThrough: number;
  outstanding: number;
  parked: number;
  createdAt: Date;
}

export interface ConsumerDelivery {
  event: PositionedEvent;
  /** 1 on the first hand-out, 2 on the next, … */
  attempt: number;
  /** When the lease ends: unacknowledged by then, the event is handed out again. */
  leaseUntil: Date;
}

export interface ParkedEvent {
  event: PositionedEvent;
  attempts: number;
  lastError: string | null;
  parkedAt: Date;
}

export interface FetchOptions {
  /** Most events to hand out (1–1000, default 100). */
  limit?: number;
  /** Overrides the group's lease for this fetch. */
  leaseMs?: number;
}

export interface NackOptions {
  /** Only if this member holds the lease (a stale nack after a redelivery is ignored). */
  member?: string;
  error?: string;
  /** Not handed out again before this many ms (default 0). */
  retryAfterMs?: number;
}

export class ConsumerGroupNotFoundError extends Error {
  constructor(readonly group: string) {
    super(`consumer group ${group} does not exist`);
    this.name = 'ConsumerGroupNotFoundError';
  }
}

export class ConsumerGroupExistsError extends Error {
  constructor(readonly group: string) {
    super(`consumer group ${group} exists already`);
    this.name = 'ConsumerGroupExistsError';
  }
}

const DEFAULT_MAX_ATTEMPTS = 5;
const DEFAULT_LEASE_MS = 30_000;
const MAX_FETCH = 1000;
/** Log events read per take-in statement. */
const TAKE_IN_PAGE = 2000;
/** Take-in pages per fetch at most when a filter matches nothing in them (a long catch-up). */
const TAKE_IN_ROUNDS = 20;

interface GroupRow {
  name: string;
  event_types: string[] | null;
  stream_prefix: string | null;
  streams: string[] | null;
  max_attempts: number;
  lease_ms: number;
  checkpoint: string | number;
  created_at: Date | string;
}

function toDate(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}

function filterOf(row: GroupRow): ConsumerGroupFilter {
  const filter: ConsumerGroupFilter = {};
  if (row.event_types) filter.eventTypes = row.event_types;
  if (row.stream_prefix !== null) filter.streamPrefix = row.stream_prefix;
  if (row.streams) filter.streams = row.streams;
  return filter;
}

function clampInt(value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined || !Number.isFinite(value)) return fallback;
  return Math.max(min, Math.min(max, Math.trunc(value)));
}

/** The consumer groups of one database (PostgreSQL or PGlite). Holds no state of its own. */
export class ConsumerGroups {
  constructor(private readonly db: Kysely<any>) {}

  async create(name: string, settings: ConsumerGroupSettings = {}): Promise<ConsumerGroupInfo> {
    const filter = settings.filter ?? {};
    const { rows } = await this.db.executeQuery<{ name: string }>(
      q(
        `insert into consumer_groups (name, event_types, stream_prefix, streams, max_attempts, lease_ms, checkpoint)
         values ($1, $2::text[], $3, $4::text[], $5, $6, $7) on conflict (name) do nothing returning name`,
        [
          name,
          filter.eventTypes ? [...filter.eventTypes] : null,
          filter.streamPrefix ?? null,
          filter.streams ? [...filter.streams] : null,
          clampInt(settings.maxAttempts, DEFAULT_MAX_ATTEMPTS, 1, 1000),
          clampInt(settings.leaseMs, DEFAULT_LEASE_MS, 100, 86_400_000),
          Math.max(0, Math.trunc(settings.startAfter ?? 0)),
        ],
      ),
    );
    if (rows.length === 0) throw new ConsumerGroupExistsError(name);
    return this.get(name);
  }

  async get(name: string): Promise<ConsumerGroupInfo> {
    const info = (await this.describe(name))[0];
    if (!info) throw new ConsumerGroupNotFoundError(name);
    return info;
  }

  list(): Promise<ConsumerGroupInfo[]> {
    return this.describe(null);
  }

  private async describe(name: string | null): Promise<ConsumerGroupInfo[]> {
    const { rows } = await this.db.executeQuery<GroupRow & { outstanding: number; parked: number; first_outstanding: string | number | null }>(
      q(
        `select g.*,
                (select count(*)::int from consumer_pending p where p.group_name = g.name and not p.parked) as outstanding,
                (select count(*)::int from consumer_pending p where p.group_name = g.name and p.parked) as parked,
                (select min(p.position) from consumer_pending p where p.group_name = g.name and not p.parked) as first_outstanding
           from consumer_groups g where $1::text is null or g.name = $1 order by g.name`,
        [name],
      ),
    );
    return rows.map((row) => {
      const checkpoint = Number(row.checkpoint);
      return {
        name: row.name,
        filter: filterOf(row),
        maxAttempts: row.max_attempts,
        leaseMs: row.lease_ms,
        checkpoint,
        acknowledgedThrough: row.first_outstanding === null ? checkpoint : Number(row.first_outstanding) - 1,
        outstanding: row.outstanding,
        parked: row.parked,
        createdAt: toDate(row.created_at),
      };
    });
  }

  /** Deletes the group and its outstanding and parked events; false when there was none. */
  async delete(name: string): Promise<boolean> {
    const { rows } = await this.db.executeQuery(q('delete from consumer_groups where name = $1 returning name', [name]));
    return rows.length > 0;
  }

  /**
   * Takes in new events and leases up to `limit` to `member`: at most one per stream, the
   * oldest outstanding of each, in position order.
   */
  async fetch(name: string, member: string, options: FetchOptions = {}): Promise<ConsumerDelivery[]> {
    const limit = clampInt(options.limit, 100, 1, MAX_FETCH);
    const exists = await this.takeIn(name);
    if (!exists) throw new ConsumerGroupNotFoundError(name);
    // Lease ran out after the last allowed hand-out (the member died or hung each time): park.
    await this.db.executeQuery(
      q(
        `update consumer_pending p set parked = true, parked_at = now(), leased_by = null, lease_until = null,
                last_error = coalesce(p.last_error, 'lease expired without acknowledgement')
           from consumer_groups g
          where p.group_name = $1 and g.name = p.group_name and not p.parked and p.leased_by is not null
            and p.lease_until <= now() and p.attempts >= g.max_attempts`,
        [name],
      ),
    );
    const { rows } = await this.db.executeQuery<EventRow & { attempt: number; lease_until: Date | string }>(
      q(
        `with heads as (
           select distinct on (h.stream_id) h.position, h.lease_until from consumer_pending h
            where h.group_name = $1 and not h.parked
            order by h.stream_id, h.position
         ), picked as (
           select d.position from consumer_pending d
            where d.group_name = $1 and not d.parked and (d.lease_until is null or d.lease_until <= now())
              and d.position in (select position from heads where lease_until is null or lease_until <= now())
            order by d.position limit $2
            for update of d skip locked
         ), leased as (
           update consumer_pending p
              set leased_by = $3, attempts = p.attempts + 1,
                  lease_until = now() + (coalesce($4::int, (select g.lease_ms from consumer_groups g where g.name = $1)) * interval '1 millisecond')
             from picked where p.group_name = $1 and p.position = picked.position
           returning p.position, p.attempts, p.lease_until
         )
         select ${EVENT_COLUMNS.split(', ').map((column) => `e.${column}`).join(', ')}, l.attempts as attempt, l.lease_until
           from leased l join events e on e.position = l.position
          order by e.position`,
        [name, limit, member, options.leaseMs === undefined ? null : clampInt(options.leaseMs, DEFAULT_LEASE_MS, 100, 86_400_000)],
      ),
    );
    return rows.map((row) => ({
      event: toRecorded(row) as PositionedEvent,
      attempt: row.attempt,
      leaseUntil: toDate(row.lease_until),
    }));
  }

  /**
   * Moves the checkpoint over new positioned events, recording those that match. False
   * when the group does not exist. Another member taking in at the same time: skipped.
   */
  private async takeIn(name: string): Promise<boolean> {
    for (let round = 0; round < TAKE_IN_ROUNDS; round++) {
      const { rows } = await this.db.executeQuery<{ locked: boolean; scanned: number; taken: number; exists: boolean }>(
        q(
          `with g as (
             select * from consumer_groups where name = $1 for update skip locked
           ), scanned as (
             select e.position, e.stream_id, e.type from events e, g
              where e.position > g.checkpoint order by e.position limit $2
           ), matching as (
             select s.position, s.stream_id from scanned s, g
              where (g.event_types is null or s.type = any (g.event_types))
                and (g.stream_prefix is null or starts_with(s.stream_id, g.stream_prefix))
                and (g.streams is null or s.stream_id = any (g.streams))
           ), taken as (
             insert into consumer_pending (group_name, position, stream_id)
             select $1, m.position, m.stream_id from matching m
             on conflict do nothing returning 1
           ), moved as (
             update consumer_groups c set checkpoint = (select max(position) from scanned)
              where c.name = $1 and exists (select 1 from g) and exists (select 1 from scanned)
             returning 1
           )
           select exists (select 1 from g) as locked,
                  (select count(*)::int from scanned) as scanned,
                  (select count(*)::int from taken) as taken,
                  exists (select 1 from consumer_groups where name = $1) as exists`,
          [name, TAKE_IN_PAGE],
        ),
      );
      const row = rows[0];
      if (!row || !row.exists) return false;
      // Another member is taking in; or this page matched something or reached the head.
      if (!row.locked || row.taken > 0 || row.scanned < TAKE_IN_PAGE) return true;
    }
    return true;
  }

  /** Acknowledges events (by position): done, never handed out again. Returns how many were outstanding. */
  async ack(name: string, positions: readonly number[]): Promise<number> {
    if (positions.length === 0) return 0;
    const { rows } = await this.db.executeQuery(
      q('delete from consumer_pending where group_name = $1 and position = any ($2::bigint[]) and not parked returning position', [
        name,
        [...positions],
      ]),
    );
    return rows.length;
  }

  /**
   * Negative acknowledgement: the member could not process these events. Each is handed
   * out again (after `retryAfterMs`), or parked once handed out `maxAttempts` times.
   * Returns the positions parked by this call and how many were changed.
   */
  async nack(name: string, positions: readonly number[], options: NackOptions = {}): Promise<{ changed: number; parked: number[] }> {
    if (positions.length === 0) return { changed: 0, parked: [] };
    const { rows } = await this.db.executeQuery<{ position: string | number; parked: boolean }>(
      q(
        `update consumer_pending p
            set parked = p.attempts >= g.max_attempts,
                parked_at = case when p.attempts >= g.max_attempts then now() end,
                leased_by = null,
                lease_until = case when p.attempts >= g.max_attempts then null
                                   else now() + ($5::int * interval '1 millisecond') end,
                last_error = coalesce($4, p.last_error)
           from consumer_groups g
          where p.group_name = $1 and g.name = p.group_name and p.position = any ($2::bigint[]) and not p.parked
            and p.leased_by is not null and ($3::text is null or p.leased_by = $3)
          returning p.position, p.parked`,
        [name, [...positions], options.member ?? null, options.error?.slice(0, 2000) ?? null, clampInt(options.retryAfterMs, 0, 0, 86_400_000)],
      ),
    );
    return { changed: rows.length, parked: rows.filter((row) => row.parked).map((row) => Number(row.position)) };
  }

  /** The group's parked events, oldest first. */
  async parked(name: string, options: { after?: number; limit?: number } = {}): Promise<ParkedEvent[]> {
    await this.get(name);
    const { rows } = await this.db.executeQuery<EventRow & { attempts: number; last_error: string | null; parked_at: Date | string }>(
      q(
        `select ${EVENT_COLUMNS.split(', ').map((column) => `e.${column}`).join(', ')}, p.attempts, p.last_error, p.parked_at
           from consumer_pending p join events e on e.position = p.position
          where p.group_name = $1 and p.parked and p.position > $2
          order by p.position limit $3`,
        [name, Math.max(0, Math.trunc(options.after ?? 0)), clampInt(options.limit, 100, 1, MAX_FETCH)],
      ),
    );
    return rows.map((row) => ({
      event: toRecorded(row) as PositionedEvent,
      attempts: row.attempts,
      lastError: row.last_error,
      parkedAt: toDate(row.parked_at),
    }));
  }

  /**
   * Makes parked events outstanding again with a fresh attempt count (all of them, or
   * those at `positions`). Returns how many.
   */
  async replayParked(name: string, positions?: readonly number[]): Promise<number> {
    await this.get(name);
    const { rows } = await this.db.executeQuery(
      q(
        `update consumer_pending set parked = false, parked_at = null, attempts = 0, leased_by = null, lease_until = null
          where group_name = $1 and parked and ($2::bigint[] is null or position = any ($2::bigint[]))
          returning position`,
        [name, positions ? [...positions] : null],
      ),
    );
    return rows.length;
  }

  /**
   * Hands events at these positions out again: parked ones are replayed, acknowledged
   * ones become outstanding again (the group's filter still applies; positions beyond the
   * checkpoint are left to the normal take-in). Returns the positions requeued.
   */
  async requeue(name: string, positions: readonly number[]): Promise<number[]> {
    await this.get(name);
    if (positions.length === 0) return [];
    const { rows } = await this.db.executeQuery<{ position: string | number }>(
      q(
        `insert into consumer_pending (group_name, position, stream_id)
         select g.name, e.position, e.stream_id from consumer_groups g, events e
          where g.name = $1 and e.position = any ($2::bigint[]) and e.position <= g.checkpoint
            and (g.event_types is null or e.type = any (g.event_types))
            and (g.stream_prefix is null or starts_with(e.stream_id, g.stream_prefix))
            and (g.streams is null or e.stream_id = any (g.streams))
         on conflict (group_name, position) do update
            set parked = false, parked_at = null, attempts = 0, leased_by = null, lease_until = null
          where consumer_pending.parked
         returning position`,
        [name, [...positions]],
      ),
    );
    return rows.map((row) => Number(row.position)).sort((a, b) => a - b);
  }
}
