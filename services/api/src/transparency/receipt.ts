/**
 * The provenance block of a published ClaimReview (@claimtrail/claimreview provenance.ts):
 * the verdict's draft and its approval in the log, with inclusion proofs against the latest
 * signed checkpoint (the first that covers them). O(log n) reads per event.
 */
import type { FastifyInstance } from 'fastify';
import { claimStreamId } from '@claimtrail/domain';
import { leafHashOfRow, storedInclusionProof, type RecordedEvent } from '@claimtrail/event-store';
import type { ProvenanceEvent, VerdictProvenance } from '@claimtrail/claimreview';

const APPROVALS = new Set(['VerdictPublished', 'VerdictCorrected']);
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

/** The draft behind the published verdict and the event that approved it (publication or latest correction). */
function verdictEvents(events: readonly RecordedEvent[]): { verdict?: RecordedEvent; approval?: RecordedEvent } {
  let approvalAt = -1;
  for (let i = events.length - 1; i >= 0; i--) {
    if (APPROVALS.has(events[i]!.type)) {
      approvalAt = i;
      break;
    }
  }
  if (approvalAt === -1) return {};
  let publishedAt = approvalAt;
  for (let i = approvalAt; i >= 0; i--) {
    if (events[i]!.type === 'VerdictPublished') {
      publishedAt = i;
      break;
    }
  }
  let verdict: RecordedEvent | undefined;
  for (let i = publishedAt; i >= 0; i--) {
    if (events[i]!.type === 'VerdictDrafted') {
      verdict = events[i];
      break;
    }
  }
  return { approval: events[approvalAt], ...(verdict ? { verdict } : {}) };
}

export async function verdictProvenance(app: FastifyInstance, claimId: string): Promise<VerdictProvenance> {
  const events = await app.store.readStream(claimStreamId(claimId));
  const { verdict, approval } = verdictEvents(events);
  // The first checkpoint that covers both events, not the latest: the receipt (and the
  // ClaimReview's ETag, the claim's version) stays the same while the log grows. Until one
  // covers them, the latest, and no proofs.
  const last = Math.max(verdict?.position ?? 0, approval?.position ?? 0);
  const latest = (last > 0 ? await app.transparency.checkpoint(undefined, { covering: last }) : undefined) ?? (await app.transparency.checkpoint());
  const size = latest?.checkpoint.treeSize ?? null;
  const entries: ProvenanceEvent[] = [];
  for (const [role, event] of [['verdict', verdict], ['approval', approval]] as const) {
    if (!event || event.position === null) continue;
    const position = event.position;
    const covered = size !== null && position <= size;
    const role_ = event.metadata.actorRole;
    entries.push({
      role,
      type: event.type,
      eventId: event.id,
      streamId: event.streamId,
      version: event.version,
      position,
      leafIndex: position - 1,
      hash: event.hash,
      leafHash: b64(leafHashOfRow({ position, streamId: event.streamId, version: event.version, hash: event.hash })),
      actor: event.metadata.actor,
      actorRole: typeof role_ === 'string' ? role_ : null,
      inclusionProof: covered ? (await storedInclusionProof(app.database.db, position - 1, size)).map(b64) : null,
    });
  }
  return { checkpoint: latest?.note ?? null, treeSize: size, events: entries };
}
