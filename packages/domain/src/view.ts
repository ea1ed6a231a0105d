import type { Appearance, ClaimState, ClaimStatus, EvidenceItem, Note, PendingCorrection, PublishedVerdict, ReasonRecord, VerdictDraft } from './state.ts';

/** The claim as the desk sees it: what the API answers for one claim. */
export interface ClaimView {
  id: string;
  text: string;
  claimant: string | null;
  language: string | null;
  tags: string[];
  appearances: Appearance[];
  state: ClaimStatus;
  assignee: string | null;
  evidence: EvidenceItem[];
  notesCount: number;
  notes: Note[];
  verdictDraft: VerdictDraft | null;
  publishedVerdict: PublishedVerdict | null;
  mergedInto: string | null;
  rejectionReason: string | null;
  retractionReason: string | null;
  changesRequestedReason: string | null;
  reopenReason: string | null;
  rejection: ReasonRecord | null;
  retraction: ReasonRecord | null;
  changesRequested: ReasonRecord | null;
  reopened: ReasonRecord | null;
  /** Not public: ClaimReview and readers see `publishedVerdict` only. */
  pendingCorrection: PendingCorrection | null;
  version: number;
  createdAt: string;
  updatedAt: string;
  createdBy: string;
}

/**
 * The claim view (API answers, projections, live updates). Derived only from
 * the state evolve builds, so every reader sees the same thing. Throws for a claim that
 * does not exist (status null): callers answer "not found" before asking for a view.
 */
export function toClaimView(state: ClaimState): ClaimView {
  if (state.status === null) throw new Error('toClaimView: the claim does not exist');
  return {
    id: state.id ?? '',
    text: state.text,
    claimant: state.claimant,
    language: state.language,
    tags: [...state.tags],
    appearances: state.appearances.map((a) => ({ ...a })),
    state: state.status,
    assignee: state.assignee,
    evidence: state.evidence.map((e) => ({ ...e })),
    notesCount: state.notes.length,
    notes: state.notes.map((n) => ({ ...n })),
    verdictDraft: state.verdictDraft === null ? null : { ...state.verdictDraft },
    publishedVerdict:
      state.publishedVerdict === null
        ? null
        : { ...state.publishedVerdict, corrections: state.publishedVerdict.corrections.map((c) => ({ ...c })) },
    mergedInto: state.mergedInto,
    rejectionReason: state.rejection?.reason ?? null,
    retractionReason: state.retraction?.reason ?? null,
    changesRequestedReason: state.changesRequested?.reason ?? null,
    reopenReason: state.reopened?.reason ?? null,
    rejection: state.rejection === null ? null : { ...state.rejection },
    retraction: state.retraction === null ? null : { ...state.retraction },
    changesRequested: state.changesRequested === null ? null : { ...state.changesRequested },
    reopened: state.reopened === null ? null : { ...state.reopened },
    pendingCorrection: state.pendingCorrection === null ? null : { ...state.pendingCorrection },
    version: state.version,
    createdAt: state.createdAt ?? '',
    updatedAt: state.updatedAt ?? state.createdAt ?? '',
    createdBy: state.createdBy ?? '',
  };
}
