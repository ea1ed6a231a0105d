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
  };
}

function toIso(value: Date | string): string {
  return value instanceof Date ? value.toISOString() : new Date(value).toISOString();
}
