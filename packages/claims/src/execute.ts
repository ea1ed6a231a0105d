import type { Actor, ClaimCommand, ClaimView } from '@claimtrail/domain';
import type { RecordedEvent } from '@claimtrail/event-store';

// What ClaimService.execute takes and answers. A module of its own because every stage of the
// write path (the service, the batch writer, decideWrite) speaks in these types, and none of
// them should import another just for them.

export interface ExecuteInput {
  /** Claim uuid (for submit_claim: the id the new claim gets). */
  claimId: string;
  command: ClaimCommand;
  actor: Actor;
  /** If-Match: the stream version the caller based the command on. Stale → precondition_failed. */
  expectedVersion?: number;
  /** Scoped per actor. Same key + same request → the first answer, nothing appended. */
  idempotencyKey?: string;
  /** Identifies "the same request" for the key; default: hash of claim id (except on create) + command. */
  requestHash?: string;
  /** Recorded in the events' metadata as correlationId. */
  correlationId?: string;
}

export interface ExecuteResult {
  view: ClaimView;
  /** `view` as JSON text: what was stored (projection, idempotency answer); a response can send it as is. */
  viewJson: string;
  /** Events appended by this call (empty when replayed). */
  events: RecordedEvent[];
  /** True when the answer is the stored one of an earlier call with the same idempotency key. */
  replayed: boolean;
}
