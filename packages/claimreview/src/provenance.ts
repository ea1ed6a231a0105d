import type { ClaimReviewDocument } from './claim-review.ts';

/**
 * A verdict receipt (docs/transparency.md, "Verdict receipts"): where the published verdict
 * sits in the log's Merkle tree. It names the event that recorded the verdict (its author's
 * draft) and the one that approved it (the publication, or the latest correction, by a
 * second person: four eyes), each with its leaf and an RFC 9162 inclusion proof against the
 * signed checkpoint it carries. Anyone holding the log's verifier key can check, without the
 * service, that both events are in the log the checkpoint commits to.
 *
 * In the JSON-LD it is one member under a full IRI whose value is a JSON literal
 * (`@type: @json`), so schema.org readers keep the ClaimReview as it was and JSON-LD
 * processors (in safe mode too) carry the block through unchanged.
 */
export const PROVENANCE_PROPERTY = 'https://claimtrail.dev/ns#provenance';

export interface ProvenanceEvent {
  /** `verdict`: the draft that set the published rating; `approval`: its publication or latest correction. */
  readonly role: 'verdict' | 'approval';
  readonly type: string;
  readonly eventId: string;
  readonly streamId: string;
  readonly version: number;
  readonly position: number;
  readonly leafIndex: number;
  /** The event's chain hash (hex) and its leaf hash (base64, RFC 6962 leaf of the canonical leaf encoding). */
  readonly hash: string;
  readonly leafHash: string;
  readonly actor: string;
  readonly actorRole: string | null;
  /** Base64 hashes, leaf to root, against `treeSize`; null while no checkpoint covers the event yet. */
  readonly inclusionProof: readonly string[] | null;
}

export interface VerdictProvenance {
  /** The signed checkpoint note the proofs are against (null before the first covers them). */
  readonly checkpoint: string | null;
  readonly treeSize: number | null;
  readonly events: readonly ProvenanceEvent[];
}

export type ClaimReviewWithProvenance = ClaimReviewDocument & {
  readonly [PROVENANCE_PROPERTY]: { readonly '@type': '@json'; readonly '@value': VerdictProvenance };
};

export function withProvenance(document: ClaimReviewDocument, provenance: VerdictProvenance): ClaimReviewWithProvenance {
  return { ...document, [PROVENANCE_PROPERTY]: { '@type': '@json', '@value': provenance } };
}
