/** The event-store stream of a claim: `claim-<uuid>`. */
const CLAIM_STREAM_PREFIX = 'claim-';

export function claimStreamId(claimId: string): string {
  return `${CLAIM_STREAM_PREFIX}${claimId}`;
}

/** The claim id of a claim's stream; null for a stream that is not a claim's. */
export function claimIdOfStream(streamId: string): string | null {
  return streamId.startsWith(CLAIM_STREAM_PREFIX) ? streamId.slice(CLAIM_STREAM_PREFIX.length) : null;
}
