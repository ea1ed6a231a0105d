import type { RecordedEvent } from '@claimtrail/event-store';

/** What the API shows of a stored event (GET /claims/:id/events, GET /events). */
export interface EventRecordDto {
  id: string;
  position: number | null;
  version: number;
  streamId: string;
  claimId: string | null;
  type: string;
  data: Record<string, unknown>;
  actor: string;
  actorRole: string | null;
  recordedAt: string;
  hash: string;
  prevHash: string | null;
  /** The event's leaf in the log's Merkle tree (position − 1; null until positioned): docs/transparency.md. */
  leafIndex: number | null;
  /** Everything the event's hash covers besides the fields above (actor, actorRole, correlationId): lets an outside verifier recompute `hash`. */
  metadata: Record<string, unknown>;
}

const CLAIM_PREFIX = 'claim-';

export function claimIdOfStream(streamId: string): string | null {
  return streamId.startsWith(CLAIM_PREFIX) ? streamId.slice(CLAIM_PREFIX.length) : null;
}

export function toEventRecord(event: RecordedEvent): EventRecordDto {
  const role = event.metadata.actorRole;
  return {
    id: event.id,
    position: event.position,
    version: event.version,
    streamId: event.streamId,
    claimId: claimIdOfStream(event.streamId),
    type: event.type,
    data: event.data,
    actor: event.metadata.actor,
    actorRole: typeof role === 'string' ? role : null,
    recordedAt: toIso(event.recordedAt),
    hash: event.hash,
    prevHash: event.prevHash,
    leafIndex: event.position === null ? null : event.position - 1,
    metadata: event.metadata,
  };
}

function toIso(value: Date | string): string {
  return value instanceof Date ? value.toISOString() : new Date(value).toISOString();
}
