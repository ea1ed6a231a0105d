import { RATINGS } from './ratings.ts';
import { EVENT_STATUS, type ClaimEventEnvelope } from './events.ts';
import type { ClaimState, PublishedVerdict, Rating } from './state.ts';
import { claimIdOfStream } from './streams.ts';

export const initialClaimState: ClaimState = Object.freeze({
  id: null,
  status: null,
  text: '',
  claimant: null,
  language: null,
  tags: [],
  appearances: [],
  assignee: null,
  evidence: [],
  notes: [],
  verdictDraft: null,
  publishedVerdict: null,
  mergedInto: null,
  rejection: null,
  retraction: null,
  changesRequested: null,
  reopened: null,
  pendingCorrection: null,
  version: 0,
  createdAt: null,
  updatedAt: null,
  createdBy: null,
}) as ClaimState;

function iso(at: string | Date): string {
  if (at instanceof Date) return at.toISOString();
  const ms = Date.parse(at);
  return Number.isNaN(ms) ? at : new Date(ms).toISOString();
}

function claimIdFromStream(streamId: string | undefined): string | null {
  if (streamId === undefined) return null;
  return claimIdOfStream(streamId) ?? streamId;
}

function ratingFields(rating: Rating) {
  const info = RATINGS[rating];
  return {
    rating,
    ratingLabel: info.label,
    ratingValue: info.ratingValue,
    bestRating: info.bestRating,
    worstRating: info.worstRating,
    alternateName: info.alternateName,
  };
}

/**
 * Apply one recorded event. Pure and total: never mutates `state`, and an event type it
 * does not know (written by a newer version) only advances version and updatedAt.
 */
export function evolve(state: ClaimState, envelope: ClaimEventEnvelope): ClaimState {
  const at = envelope.recordedAtIso ?? iso(envelope.recordedAt);
  const by = envelope.actor;
  const version = envelope.version;
  // Each case spreads `state` once with its own changes (one copy per event: a rebuild folds
  // hundreds of thousands of them). Statuses come from EVENT_STATUS, what each event means.
  switch (envelope.type) {
    case 'ClaimSubmitted': {
      const d = envelope.data;
      return {
        ...state, version, updatedAt: at,
        id: d.claimId ?? state.id ?? claimIdFromStream(envelope.streamId),
        status: EVENT_STATUS.ClaimSubmitted,
        text: d.text,
        claimant: d.claimant,
        language: d.language,
        tags: [...d.tags],
        appearances: d.appearances.map((a) => ({ ...a })),
        createdAt: at,
        createdBy: by,
      };
    }
    case 'ClaimTriaged':
      return { ...state, version, updatedAt: at, status: EVENT_STATUS.ClaimTriaged };
    case 'ClaimRejected':
      return { ...state, version, updatedAt: at, status: EVENT_STATUS.ClaimRejected, rejection: { reason: envelope.data.reason, by, at } };
    case 'ClaimMerged':
      return { ...state, version, updatedAt: at, status: EVENT_STATUS.ClaimMerged, mergedInto: envelope.data.into };
    case 'ClaimAssigned':
      return { ...state, version, updatedAt: at, status: envelope.data.to, assignee: envelope.data.assignee };
    case 'EvidenceAdded': {
      const d = envelope.data;
      return {
        ...state, version, updatedAt: at,
        evidence: [
          ...state.evidence,
          { id: d.evidenceId, summary: d.summary, stance: d.stance, url: d.url, appearance: d.appearance, addedBy: by, addedAt: at },
        ],
      };
    }
    case 'NoteAdded':
      return {
        ...state, version, updatedAt: at,
        notes: [...state.notes, { id: envelope.data.noteId, body: envelope.data.body, author: by, createdAt: at }],
      };
    case 'VerdictDrafted':
      return {
        ...state, version, updatedAt: at,
        verdictDraft: { rating: envelope.data.rating, rationale: envelope.data.rationale, author: by, draftedAt: at },
      };
    case 'ClaimSubmittedForReview':
      return { ...state, version, updatedAt: at, status: EVENT_STATUS.ClaimSubmittedForReview, changesRequested: null };
    case 'ChangesRequested':
      return { ...state, version, updatedAt: at, status: EVENT_STATUS.ChangesRequested, changesRequested: { reason: envelope.data.reason, by, at } };
    case 'VerdictPublished': {
      const d = envelope.data;
      const published: PublishedVerdict = {
        ...ratingFields(d.rating),
        rationale: d.rationale,
        author: d.draftedBy,
        publishedAt: at,
        publishedBy: by,
        corrections: [],
      };
      // The draft became the published verdict; a reopen brings it back as the draft.
      return { ...state, version, updatedAt: at, status: EVENT_STATUS.VerdictPublished, publishedVerdict: published, verdictDraft: null, reopened: null };
    }
    case 'ClaimReopened': {
      const p = state.publishedVerdict;
      return {
        ...state, version, updatedAt: at,
        status: EVENT_STATUS.ClaimReopened,
        reopened: { reason: envelope.data.reason, by, at },
        // A proposal was against the verdict as published; the revision starts over.
        pendingCorrection: null,
        // The last published verdict stays visible (publishedVerdict) until a new one is
        // published; it comes back as the draft (same author, so four eyes still holds).
        verdictDraft: p === null ? state.verdictDraft : { rating: p.rating, rationale: p.rationale, author: p.author, draftedAt: at },
      };
    }
    case 'VerdictCorrected': {
      const p = state.publishedVerdict;
      if (p === null) return { ...state, version, updatedAt: at };
      const d = envelope.data;
      // An approval applies the pending proposal; a correction recorded at once leaves any
      // pending one waiting (it changed neither rating nor rationale).
      const applied = d.proposedBy !== undefined && d.proposedBy !== null;
      return {
        ...state, version, updatedAt: at,
        pendingCorrection: applied ? null : state.pendingCorrection,
        publishedVerdict: {
          ...p,
          ...ratingFields(d.rating),
          rationale: d.rationale,
          corrections: [
            ...p.corrections,
            {
              id: d.correctionId,
              note: d.note,
              rating: d.rating,
              rationale: d.rationale,
              previousRating: d.previousRating,
              previousRationale: d.previousRationale,
              correctedBy: by,
              correctedAt: at,
              // Absent from events recorded before corrections needed a second person.
              proposedBy: d.proposedBy ?? null,
            },
          ],
        },
      };
    }
    case 'CorrectionProposed': {
      const d = envelope.data;
      return {
        ...state, version, updatedAt: at,
        pendingCorrection: { id: d.correctionId, note: d.note, rating: d.rating, rationale: d.rationale, proposedBy: by, proposedAt: at },
      };
    }
    case 'CorrectionRejected':
      return { ...state, version, updatedAt: at, pendingCorrection: null };
    case 'ClaimRetracted':
      return {
        ...state, version, updatedAt: at,
        status: EVENT_STATUS.ClaimRetracted,
        retraction: { reason: envelope.data.reason, by, at },
        pendingCorrection: null,
      };
    default:
      return { ...state, version, updatedAt: at };
  }
}

/** Fold a stream (in version order) from the initial state. */
export function foldClaim(envelopes: Iterable<ClaimEventEnvelope>, from: ClaimState = initialClaimState): ClaimState {
  let state = from;
  for (const envelope of envelopes) state = evolve(state, envelope);
  return state;
}

/**
 * Adapt an event as the event store records it (`metadata.actor`) to the envelope evolve
 * takes. Structural, so the domain does not depend on the store.
 */
export function toEnvelope(recorded: {
  type: string;
  data: unknown;
  version: number;
  recordedAt: string | Date;
  streamId?: string;
  metadata: { actor: string };
}): ClaimEventEnvelope {
  const envelope = {
    type: recorded.type,
    data: recorded.data,
    actor: recorded.metadata.actor,
    recordedAt: recorded.recordedAt,
    version: recorded.version,
  } as ClaimEventEnvelope;
  if (recorded.streamId !== undefined) envelope.streamId = recorded.streamId;
  return envelope;
}
