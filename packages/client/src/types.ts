/**
 * Request and response types of the HTTP API, from the contract's TypeBox schemas (type
 * imports only: the browser bundle carries no schema code).
 */
import type {
  ApproveCorrectionBody,
  AssignBody,
  Board,
  BoardColumn,
  ClaimEvents,
  ClaimList,
  CorrectBody,
  CreateClaimBody,
  EventFeed,
  EventRecord,
  EvidenceBody,
  ListClaimsQuery,
  MergeBody,
  NoteBody,
  ReasonBody,
  VerdictBody,
  ClaimEventFilter,
  ConsumerGroupDto,
  ConsumerDeliveryDto,
  CreateConsumerGroupBody,
  CreateWebhookBody,
  CreatedWebhookDto,
  DeliveryAttemptDto,
  FetchBody,
  NackBody,
  NackResult,
  ParkedEventDto,
  WebhookDto,
} from '@claimtrail/contract';
import type { ClaimStatus, ClaimStep, ClaimView, Rating, Role, Stance } from '@claimtrail/domain';

export type {
  ApproveCorrectionBody,
  AssignBody,
  Board,
  BoardColumn,
  ClaimEvents,
  ClaimList,
  ClaimStatus,
  ClaimView,
  CorrectBody,
  CreateClaimBody,
  EventFeed,
  EventRecord,
  EvidenceBody,
  ListClaimsQuery,
  MergeBody,
  NoteBody,
  Rating,
  ReasonBody,
  Stance,
  VerdictBody,
  ClaimEventFilter,
  ConsumerGroupDto,
  ConsumerDeliveryDto,
  CreateConsumerGroupBody,
  CreateWebhookBody,
  CreatedWebhookDto,
  DeliveryAttemptDto,
  FetchBody,
  NackBody,
  NackResult,
  ParkedEventDto,
  WebhookDto,
};

/** `GET /claims/:id/allowed-steps`: per caller, never cached. */
export interface AllowedSteps {
  claimId: string;
  /** The claim version the answer was computed for. */
  version: number;
  role: Role;
  allowedSteps: ClaimStep[];
}

export interface VerifyResult {
  ok: boolean;
  checked: number;
  firstBroken?: {
    streamId: string;
    version: number;
    eventId: string;
    position: number | null;
    reason: string;
  };
}

/** ClaimReview (schema.org) JSON-LD. */
export interface ClaimReview {
  '@context': unknown;
  '@type': 'ClaimReview';
  [k: string]: unknown;
}

export interface WriteOptions {
  /** Expected version: sends `If-Match: "<version>"`; stale → ProblemError 412. */
  ifMatch?: number | string;
  /** Sends `Idempotency-Key`; a retry with the same key returns the first answer. */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

export interface ReadOptions {
  signal?: AbortSignal;
  /**
   * A consistency token (a write's `Consistency-Token`, another client's
   * `consistencyToken`): the answer is at least as new as that write. Sent together with
   * the client's own token — the later of the two.
   */
  consistencyToken?: string;
}
