/**
 * Claim-level filters of consumer groups and webhooks, mapped onto what the event store
 * can filter:
 * - `eventTypes` → the group's event types (the store);
 * - `claimIds` → the group's exact streams `claim-<id>` (the store); without it the stream
 *   prefix `claim-` (claim events only);
 * - `tag`, `states` → not in the events: kept in `claim_consumer_filters` and checked here
 *   against the claim's projection row (its tags and state as they are when the event is
 *   handed out, not as they were when it was recorded). An event that fails them is
 *   acknowledged on the spot and never handed to the member.
 */
import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { ClaimEventFilter } from '@claimtrail/contract';
import { claimIdOfStream, claimStreamId } from '@claimtrail/domain';
import type { ConsumerDelivery, ConsumerGroupFilter, ConsumerGroups } from '@claimtrail/event-store';

export function storeFilterOf(filter: ClaimEventFilter): ConsumerGroupFilter {
  return {
    ...(filter.eventTypes ? { eventTypes: filter.eventTypes } : {}),
    ...(filter.claimIds ? { streams: filter.claimIds.map((id) => claimStreamId(id.toLowerCase())) } : { streamPrefix: 'claim-' }),
  };
}

/** Stores the part of `filter` the store cannot evaluate (nothing when there is none). */
export async function saveClaimFilter(db: Kysely<any>, group: string, filter: ClaimEventFilter): Promise<void> {
  if (filter.tag === undefined && filter.states === undefined) return;
  await sql`insert into claim_consumer_filters (group_name, tag, states)
            values (${group}, ${filter.tag?.trim().toLowerCase() ?? null}, ${filter.states ? [...filter.states] : null}::text[])`.execute(db);
}

/** The filter as the API shows it: the store's part read back as claim ids, plus tag/states. */
export async function claimFilterOf(db: Kysely<any>, group: string, stored: ConsumerGroupFilter): Promise<ClaimEventFilter> {
  const { rows } = await sql<{ tag: string | null; states: string[] | null }>`
    select tag, states from claim_consumer_filters where group_name = ${group}`.execute(db);
  const row = rows[0];
  const claimIds = stored.streams?.map((stream) => claimIdOfStream(stream) ?? stream);
  return {
    ...(stored.eventTypes ? { eventTypes: [...stored.eventTypes] } : {}),
    ...(claimIds ? { claimIds } : {}),
    ...(row?.tag ? { tag: row.tag } : {}),
    ...(row?.states ? { states: row.states as ClaimEventFilter['states'] } : {}),
  } as ClaimEventFilter;
}

/**
 * Fetches for `member` and drops (acknowledges) the events whose claim fails the group's
 * tag/states. May return fewer than asked, even none while more are outstanding: fetch again.
 */
export async function fetchMatching(
  db: Kysely<any>,
  groups: ConsumerGroups,
  group: string,
  member: string,
  options: { limit?: number; leaseMs?: number },
): Promise<ConsumerDelivery[]> {
  const deliveries = await groups.fetch(group, member, options);
  if (deliveries.length === 0) return deliveries;
  const { rows } = await sql<{ tag: string | null; states: string[] | null }>`
    select tag, states from claim_consumer_filters where group_name = ${group}`.execute(db);
  const narrowing = rows[0];
  if (!narrowing) return deliveries;
  const claimIds = [...new Set(deliveries.map((d) => claimIdOfStream(d.event.streamId)).filter((id): id is string => id !== null))];
  const { rows: claims } = await sql<{ id: string; state: string; tags: string[] }>`
    select id::text as id, state, tags from claims where id = any (${claimIds}::uuid[])`.execute(db);
  const byId = new Map(claims.map((claim) => [claim.id, claim]));
  const keep: ConsumerDelivery[] = [];
  const drop: number[] = [];
  for (const delivery of deliveries) {
    const claimId = claimIdOfStream(delivery.event.streamId);
    const claim = claimId === null ? undefined : byId.get(claimId);
    const matches =
      claim !== undefined &&
      (narrowing.tag === null || claim.tags.includes(narrowing.tag)) &&
      (narrowing.states === null || narrowing.states.includes(claim.state));
    if (matches) keep.push(delivery);
    else drop.push(delivery.event.position);
  }
  if (drop.length > 0) await groups.ack(group, drop);
  return keep;
}
