/**
 * Every refusal the API knows, with its status and title. The `code` is the stable name
 * clients switch on; `type` in a problem document is `https://claimtrail.dev/problems/<code>`.
 */
export const ERROR_CATALOGUE = {
  validation: { status: 400, title: 'Invalid request' },
  // Refused by the HTTP parser before routing (malformed request line, headers, chunking).
  bad_request: { status: 400, title: 'Malformed HTTP request' },
  unauthorized: { status: 401, title: 'Authentication required' },
  forbidden_role: { status: 403, title: 'Your role may not do this' },
  // Four eyes is a policy on *who* acts, not on the claim's state: 403 like other role refusals.
  four_eyes: { status: 403, title: 'Four eyes: the verdict author may not approve or publish it' },
  not_found: { status: 404, title: 'Not found' },
  // ClaimReview (GET /claims/:id/claim-review): no verdict is public (yet, or while reopened).
  not_published: { status: 404, title: 'The claim has no published verdict' },
  // ClaimReview of a retracted verdict: it existed and was withdrawn on purpose.
  retracted: { status: 410, title: 'The verdict was retracted' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  not_acceptable: { status: 406, title: 'Not acceptable' },
  request_timeout: { status: 408, title: 'Request not received in time' },
  illegal_transition: { status: 409, title: 'Step not allowed in the current state' },
  // The claim's content is not ready for the step (a state-dependent conflict, like illegal_transition).
  missing_evidence: { status: 409, title: 'The claim needs at least one evidence item' },
  missing_verdict: { status: 409, title: 'The claim needs a verdict draft' },
  // POST /consumer-groups with a name that is taken.
  already_exists: { status: 409, title: 'Already exists' },
  // A transparency proof or root over a stored Merkle tree that lacks nodes (a damaged database).
  tree_incomplete: { status: 409, title: 'The stored Merkle tree lacks nodes this answer needs' },
  precondition_failed: { status: 412, title: 'The claim changed since the version you sent (If-Match)' },
  payload_too_large: { status: 413, title: 'Request body too large' },
  uri_too_long: { status: 414, title: 'URI too long' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  // GET /ws without a websocket handshake, or asking to upgrade to another protocol.
  upgrade_required: { status: 426, title: 'Upgrade to websocket required' },
  idempotency_key_reuse: { status: 422, title: 'Idempotency-Key reused with a different request' },
  // assign names a user whose role may not research (draft a verdict): nobody could work on the claim.
  assignee_cannot_research: { status: 422, title: 'The assignee cannot research claims' },
  rate_limited: { status: 429, title: 'Too many requests' },
  headers_too_large: { status: 431, title: 'Request headers too large' },
  internal: { status: 500, title: 'Internal server error' },
  service_unavailable: { status: 503, title: 'Service temporarily unavailable' },
  // A read's Consistency-Token names a position this instance has not reached within CONSISTENCY_WAIT_MS.
  not_caught_up: { status: 503, title: 'This instance has not caught up to the consistency token yet' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export const PROBLEM_TYPE_BASE = 'https://claimtrail.dev/problems/';

export function problemType(code: string): string {
  return `${PROBLEM_TYPE_BASE}${code}`;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
