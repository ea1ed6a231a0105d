/**
 * TypeBox schemas of the HTTP contract (PRODUCT.md "Contract v1"). The service uses them
 * for validation and OpenAPI; the client uses the static types. Plain JSON Schema comes
 * out, so any validator (Ajv in Fastify) can run them.
 *
 * Request schemas are strict (`additionalProperties: false`): a misspelt field is a 400
 * naming it, never silently ignored. Response schemas are open: the server may add fields.
 */
import { Type, type Static, type TSchema } from 'typebox';
import { CLAIM_STATUSES, LIMITS, RATING_NAMES, ROLES, STANCES } from '@claimtrail/domain';

const strict = { additionalProperties: false } as const;
const open = { additionalProperties: true } as const;

/** Non-blank text: at least one non-whitespace character. */
function Text(maxLength: number, description?: string) {
  return Type.String({ minLength: 1, maxLength, pattern: '\\S', ...(description ? { description } : {}) });
}
function Nullable<T extends TSchema>(schema: T) {
  return Type.Union([schema, Type.Null()]);
}
function OptionalText(maxLength: number, description?: string) {
  return Type.Optional(Nullable(Type.String({ maxLength, ...(description ? { description } : {}) })));
}

export const ClaimStatusSchema = Type.Enum([...CLAIM_STATUSES], { description: 'Workflow state of a claim' });
export const RatingSchema = Type.Enum([...RATING_NAMES], { description: 'Verdict rating (maps onto ClaimReview)' });
export const StanceSchema = Type.Enum([...STANCES]);
export const RoleSchema = Type.Enum([...ROLES]);

export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
const HTTP_URL_PATTERN = '^[hH][tT][tT][pP][sS]?://\\S+$';
const DATE_PATTERN = '^\\d{4}-\\d{2}-\\d{2}([T ]\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}:?\\d{2})?)?$';
const LANGUAGE_PATTERN = '^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$';

export const ClaimIdSchema = Type.String({ pattern: UUID_PATTERN, description: 'Claim id (uuid)' });

/**
 * What a value of each pattern or format looks like, for validation messages
 * ("<field> must be <expectation>"): a client reads what to send, not a regex.
 */
export const EXPECTED_SHAPES: Readonly<Record<string, string>> = {
  [UUID_PATTERN]: 'a uuid such as 6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b',
  [HTTP_URL_PATTERN]: 'an absolute http(s) URL without spaces, such as https://example.org/report',
  [DATE_PATTERN]: 'a date such as 2024-03-12 or a date-time such as 2024-03-12T10:00:00Z',
  [LANGUAGE_PATTERN]: 'a BCP-47 language tag such as "en" or "de-CH"',
  '\\S': 'text with at least one visible character',
  'date-time': 'a date-time with a time zone, such as 2024-03-12T10:00:00Z or 2024-03-12T11:00:00+01:00',
};

// ---------------------------------------------------------------------------------------
// Request bodies

export const AppearanceInputSchema = Type.Object(
  {
    url: Type.Optional(Nullable(Type.String({ maxLength: LIMITS.url, pattern: HTTP_URL_PATTERN }))),
    outlet: OptionalText(LIMITS.outlet),
    title: OptionalText(LIMITS.title),
    publishedAt: Type.Optional(
      Nullable(Type.String({ maxLength: 40, pattern: DATE_PATTERN, description: 'ISO-8601 date or date-time' })),
    ),
    excerpt: OptionalText(LIMITS.excerpt, 'Short excerpt, never a whole article'),
  },
  strict,
);

export const CreateClaimBodySchema = Type.Object(
  {
    text: Text(LIMITS.text, 'The claim as stated'),
    claimant: OptionalText(LIMITS.claimant, 'Who made the claim'),
    language: Type.Optional(Nullable(Type.String({ maxLength: LIMITS.language, pattern: LANGUAGE_PATTERN }))),
    tags: Type.Optional(Type.Array(Text(LIMITS.tag), { maxItems: LIMITS.tags })),
    appearances: Type.Optional(Type.Array(AppearanceInputSchema, { maxItems: LIMITS.appearances })),
  },
  { ...strict, title: 'CreateClaimBody' },
);

/** Steps without input: the body may be absent or `{}`. */
export const EmptyBodySchema = Type.Object({}, { ...strict, title: 'EmptyBody' });

export const ReasonBodySchema = Type.Object({ reason: Text(LIMITS.reason) }, { ...strict, title: 'ReasonBody' });
export const MergeBodySchema = Type.Object(
  { into: Type.String({ pattern: UUID_PATTERN, description: 'Id of the claim this one duplicates' }) },
  { ...strict, title: 'MergeBody' },
);
export const AssignBodySchema = Type.Object(
  { assignee: Text(LIMITS.id, 'User id of the fact-checker') },
  { ...strict, title: 'AssignBody' },
);
export const EvidenceBodySchema = Type.Object(
  {
    summary: Text(LIMITS.summary),
    stance: StanceSchema,
    url: Type.Optional(Nullable(Type.String({ maxLength: LIMITS.url, pattern: HTTP_URL_PATTERN }))),
    appearance: Type.Optional(Nullable(Type.String({ maxLength: LIMITS.id, description: 'Appearance id' }))),
  },
  { ...strict, title: 'EvidenceBody' },
);
export const NoteBodySchema = Type.Object({ body: Text(LIMITS.note) }, { ...strict, title: 'NoteBody' });
export const VerdictBodySchema = Type.Object(
  { rating: RatingSchema, rationale: Text(LIMITS.rationale) },
  { ...strict, title: 'VerdictBody' },
);
export const CorrectBodySchema = Type.Object(
  {
    note: Text(LIMITS.reason, 'What was corrected and why'),
    rating: Type.Optional(Nullable(RatingSchema)),
    rationale: Type.Optional(Nullable(Text(LIMITS.rationale))),
  },
  { ...strict, title: 'CorrectBody' },
);
export const ApproveCorrectionBodySchema = Type.Object(
  {
    correctionId: Text(LIMITS.id, 'Id of the pending correction being approved (`pendingCorrection.id`): a replaced one is refused'),
  },
  { ...strict, title: 'ApproveCorrectionBody' },
);

// ---------------------------------------------------------------------------------------
// Params, query strings, headers

export const ClaimParamsSchema = Type.Object(
  { id: Type.String({ maxLength: 200, description: 'Claim id (uuid)' }) },
  strict,
);

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

export const ListClaimsQuerySchema = Type.Object(
  {
    state: Type.Optional(
      Type.Array(ClaimStatusSchema, {
        minItems: 1,
        maxItems: 20,
        description: 'Claims in any of these states: repeat the parameter (state=a&state=b) or separate by commas (state=a,b)',
      }),
    ),
    assignee: Type.Optional(
      Type.String({ minLength: 1, maxLength: LIMITS.id, description: "Assigned to this user id; `me` is the caller's own id" }),
    ),
    tag: Type.Optional(Type.String({ minLength: 1, maxLength: LIMITS.tag, description: 'Has this tag (case-insensitive)' })),
    rating: Type.Optional(
      Type.Enum([...RATING_NAMES], { description: 'Published claims whose published verdict has this rating (what readers see)' }),
    ),
    draftRating: Type.Optional(
      Type.Enum([...RATING_NAMES], {
        description: 'Claims whose verdict draft (not yet published, or back in research after a reopen) has this rating',
      }),
    ),
    q: Type.Optional(Type.String({ maxLength: 200, description: 'Full-text search over text, claimant, excerpts' })),
    overdue: Type.Optional(Type.Boolean({ description: 'true: only claims past their state’s deadline (DESK_DEADLINES); false: only those that are not' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE })),
    cursor: Type.Optional(Type.String({ maxLength: 500, description: 'Opaque; nextCursor of the previous page' })),
    view: Type.Optional(
      Type.Enum(['full', 'card'], {
        default: 'full',
        description: '`full` (default): items are claim views; `card`: board cards (no notes, evidence, appearances; their counts instead), much smaller',
      }),
    ),
  },
  strict,
);

export const StateQuerySchema = Type.Object(
  {
    version: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647, description: 'Stream version (1-based)' })),
    at: Type.Optional(Type.String({ maxLength: 64, format: 'date-time', description: 'ISO-8601 instant' })),
  },
  strict,
);

export const EventsQuerySchema = Type.Object(
  {
    after: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  },
  strict,
);

export const BoardQuerySchema = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 200, default: 50, description: 'Claims per state' })),
    state: Type.Optional(
      Type.Array(ClaimStatusSchema, {
        minItems: 1,
        maxItems: 20,
        description: 'Only these columns: repeat the parameter (state=a&state=b) or separate by commas',
      }),
    ),
    cursor: Type.Optional(
      Type.Array(Type.String({ maxLength: 500 }), {
        minItems: 1,
        maxItems: 7,
        description: "A column's nextCursor: that column's page starts after it (at most one per state)",
      }),
    ),
  },
  strict,
);

export const WriteHeadersSchema = Type.Object(
  {
    'if-match': Type.Optional(Type.String({ maxLength: 100, description: 'ETag of the version the write is based on: "<version>"' })),
    'idempotency-key': Type.Optional(
      Type.String({ minLength: 1, maxLength: 255, description: 'Same key + same body → the first answer again' }),
    ),
  },
  open,
);

// ---------------------------------------------------------------------------------------
// Responses

const AppearanceSchema = Type.Object(
  {
    id: Type.String(),
    url: Nullable(Type.String()),
    outlet: Nullable(Type.String()),
    title: Nullable(Type.String()),
    publishedAt: Nullable(Type.String()),
    excerpt: Nullable(Type.String()),
  },
  open,
);
const EvidenceItemSchema = Type.Object(
  {
    id: Type.String(),
    summary: Type.String(),
    stance: StanceSchema,
    url: Nullable(Type.String()),
    appearance: Nullable(Type.String()),
    addedBy: Type.String(),
    addedAt: Type.String(),
  },
  open,
);
const NoteSchema = Type.Object(
  { id: Type.String(), body: Type.String(), author: Type.String(), createdAt: Type.String() },
  open,
);
const VerdictDraftSchema = Type.Object(
  { rating: RatingSchema, rationale: Type.String(), author: Type.String(), draftedAt: Type.String() },
  open,
);
const CorrectionSchema = Type.Object(
  {
    id: Type.String(),
    note: Type.String(),
    rating: RatingSchema,
    rationale: Type.String(),
    previousRating: RatingSchema,
    previousRationale: Type.String(),
    correctedBy: Type.String({ description: 'Who applied it: the approver of a proposed correction' }),
    correctedAt: Type.String(),
    proposedBy: Nullable(Type.String({ description: 'Proposer of an approved correction; null when recorded at once (note only)' })),
  },
  open,
);
const PendingCorrectionSchema = Type.Object(
  {
    id: Type.String(),
    note: Type.String(),
    rating: RatingSchema,
    rationale: Type.String(),
    proposedBy: Type.String(),
    proposedAt: Type.String(),
  },
  { ...open, description: 'A correction changing rating or rationale, waiting for a second person; not public' },
);
const PublishedVerdictSchema = Type.Object(
  {
    rating: RatingSchema,
    ratingLabel: Type.String(),
    ratingValue: Type.Number(),
    bestRating: Type.Number(),
    worstRating: Type.Number(),
    alternateName: Type.String(),
    rationale: Type.String(),
    author: Type.String(),
    publishedAt: Type.String(),
    publishedBy: Type.String(),
    corrections: Type.Array(CorrectionSchema),
  },
  open,
);
const ReasonRecordSchema = Type.Object({ reason: Type.String(), by: Type.String(), at: Type.String() }, open);

/** Verdict, merge and reason fields: the same in the claim view and in a board card. */
const claimOutcomeProperties = {
  verdictDraft: Nullable(VerdictDraftSchema),
  publishedVerdict: Nullable(PublishedVerdictSchema),
  mergedInto: Nullable(Type.String()),
  rejectionReason: Nullable(Type.String()),
  retractionReason: Nullable(Type.String()),
  changesRequestedReason: Nullable(Type.String()),
  reopenReason: Nullable(Type.String()),
  rejection: Nullable(ReasonRecordSchema),
  retraction: Nullable(ReasonRecordSchema),
  changesRequested: Nullable(ReasonRecordSchema),
  reopened: Nullable(ReasonRecordSchema),
  pendingCorrection: Nullable(PendingCorrectionSchema),
};

export const ClaimViewSchema = Type.Object(
  {
    id: Type.String({ description: 'Claim id (uuid)' }),
    text: Type.String(),
    claimant: Nullable(Type.String()),
    language: Nullable(Type.String()),
    tags: Type.Array(Type.String()),
    appearances: Type.Array(AppearanceSchema),
    state: ClaimStatusSchema,
    assignee: Nullable(Type.String()),
    evidence: Type.Array(EvidenceItemSchema),
    notesCount: Type.Integer(),
    notes: Type.Array(NoteSchema),
    ...claimOutcomeProperties,
    version: Type.Integer({ minimum: 1, description: 'Stream version; also the ETag' }),
    createdAt: Type.String(),
    updatedAt: Type.String(),
    createdBy: Type.String(),
  },
  { ...open, title: 'ClaimView' },
);

export const ClaimListSchema = Type.Object(
  {
    items: Type.Array(ClaimViewSchema),
    nextCursor: Nullable(Type.String({ description: 'Pass as ?cursor= for the next page; null on the last page' })),
  },
  { ...open, title: 'ClaimList' },
);

/** A board card: the claim view without notes, evidence and appearances (their counts instead). */
export const ClaimCardSchema = Type.Object(
  {
    id: Type.String(),
    text: Type.String(),
    claimant: Nullable(Type.String()),
    language: Nullable(Type.String()),
    tags: Type.Array(Type.String()),
    state: ClaimStatusSchema,
    assignee: Nullable(Type.String()),
    notesCount: Type.Integer(),
    // Always present; optional in the static type so that a full ClaimView is also a card.
    evidenceCount: Type.Optional(Type.Integer()),
    appearancesCount: Type.Optional(Type.Integer()),
    ...claimOutcomeProperties,
    version: Type.Integer({ minimum: 1 }),
    createdAt: Type.String(),
    updatedAt: Type.String(),
    createdBy: Type.String(),
  },
  { ...open, title: 'ClaimCard' },
);

/** `GET /claims?view=card`: the same page of cards. */
export const ClaimCardListSchema = Type.Object(
  {
    items: Type.Array(ClaimCardSchema),
    nextCursor: Nullable(Type.String({ description: 'Pass as ?cursor= for the next page; null on the last page' })),
  },
  { ...open, title: 'ClaimCardList' },
);

export const BoardColumnSchema = Type.Object(
  {
    state: ClaimStatusSchema,
    count: Type.Integer({ minimum: 0 }),
    claims: Type.Array(ClaimCardSchema, { description: 'Most recently changed first (up to ?limit= per state)' }),
    nextCursor: Type.Optional(Nullable(Type.String({ description: "Pass as ?cursor= for the column's next page; null on its last page" }))),
  },
  open,
);
export const BoardSchema = Type.Object(
  { states: Type.Array(BoardColumnSchema, { description: 'One entry per workflow state, in workflow order' }) },
  { ...open, title: 'Board' },
);

export const EventRecordSchema = Type.Object(
  {
    id: Type.String(),
    position: Nullable(Type.Integer({ minimum: 1, description: 'Global position (null until sequenced)' })),
    version: Type.Integer({ minimum: 1 }),
    streamId: Type.String(),
    claimId: Nullable(Type.String()),
    type: Type.String(),
    data: Type.Object({}, open),
    actor: Type.String({ description: 'User id of whoever caused the event' }),
    actorRole: Nullable(Type.String()),
    recordedAt: Type.String(),
    hash: Type.String(),
    prevHash: Nullable(Type.String()),
    leafIndex: Type.Optional(Nullable(Type.Integer({ minimum: 0, description: "The event's leaf in the log's Merkle tree: position − 1 (docs/transparency.md)" }))),
    metadata: Type.Optional(Type.Object({}, { ...open, description: 'What the hash covers besides the other fields (actor, actorRole, correlationId)' })),
  },
  { ...open, title: 'EventRecord' },
);

export const ClaimEventsSchema = Type.Object({ events: Type.Array(EventRecordSchema) }, open);
export const EventFeedSchema = Type.Object(
  {
    events: Type.Array(EventRecordSchema),
    next: Type.Integer({ minimum: 0, description: 'Pass as ?after= for the next page' }),
  },
  open,
);

export const FieldErrorSchema = Type.Object({ field: Type.String(), message: Type.String() }, open);

/** RFC 9457 problem details, with a stable `code`. */
export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ description: 'Stable machine-readable error code' }),
    instance: Type.Optional(Type.String()),
    field: Type.Optional(Type.String({ description: 'The offending field for validation errors' })),
    errors: Type.Optional(Type.Array(FieldErrorSchema)),
    currentVersion: Type.Optional(Type.Integer({ description: 'On 412: the version to retry against' })),
    requestId: Type.Optional(Type.String()),
  },
  { ...open, title: 'Problem' },
);

export const HealthSchema = Type.Object({ status: Type.String() }, open);

// ---------------------------------------------------------------------------------------
// Static types

export type CreateClaimBody = Static<typeof CreateClaimBodySchema>;
export type AppearanceInputBody = Static<typeof AppearanceInputSchema>;
export type ReasonBody = Static<typeof ReasonBodySchema>;
export type MergeBody = Static<typeof MergeBodySchema>;
export type AssignBody = Static<typeof AssignBodySchema>;
export type EvidenceBody = Static<typeof EvidenceBodySchema>;
export type NoteBody = Static<typeof NoteBodySchema>;
export type VerdictBody = Static<typeof VerdictBodySchema>;
export type CorrectBody = Static<typeof CorrectBodySchema>;
export type ApproveCorrectionBody = Static<typeof ApproveCorrectionBodySchema>;
export type EmptyBody = Static<typeof EmptyBodySchema>;
/** The list's query; `state` may be one state or several (the server takes either). */
export type ListClaimsQuery = Omit<Static<typeof ListClaimsQuerySchema>, 'state'> & {
  state?: Static<typeof ClaimStatusSchema> | readonly Static<typeof ClaimStatusSchema>[];
};
export type StateQuery = Static<typeof StateQuerySchema>;
export type EventsQuery = Static<typeof EventsQuerySchema>;
export type BoardQuery = Static<typeof BoardQuerySchema>;
export type ClaimViewBody = Static<typeof ClaimViewSchema>;
export type ClaimList = Static<typeof ClaimListSchema>;
export type ClaimCard = Static<typeof ClaimCardSchema>;
export type ClaimCardList = Static<typeof ClaimCardListSchema>;
export type BoardColumn = Static<typeof BoardColumnSchema>;
export type Board = Static<typeof BoardSchema>;
export type EventRecord = Static<typeof EventRecordSchema>;
export type ClaimEvents = Static<typeof ClaimEventsSchema>;
export type EventFeed = Static<typeof EventFeedSchema>;
export type Problem = Static<typeof ProblemSchema>;
