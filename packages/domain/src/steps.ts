import { ROLES, type ClaimStep, type DecideContext } from './commands.ts';
import type { AppearanceData, ClaimEvent } from './events.ts';
import { canResearch, targetStatus, type STEP_ALTERNATIVE_EVENTS, type STEP_EVENTS } from './policy.ts';
import type { ClaimState, ClaimStatus } from './state.ts';
import {
  LIMITS,
  fail,
  objectOrFail,
  optionalDate,
  optionalLanguage,
  optionalString,
  optionalUrl,
  rating,
  refuseWith,
  requiredString,
  stance,
  tags,
} from './validation.ts';

type Alternatives = typeof STEP_ALTERNATIVE_EVENTS;

/** The event a step records: the one STEP_EVENTS names, or its STEP_ALTERNATIVE_EVENTS one. */
export type StepEvent<S extends ClaimStep> = Extract<
  ClaimEvent,
  { type: (typeof STEP_EVENTS)[S] | (S extends keyof Alternatives ? Alternatives[S] : never) }
>;

/**
 * A step's own part of decide, run once role and state have passed the policy: it reads
 * and validates the command's fields (throwing a refusal for a bad one) and returns how to
 * build the event, which decide calls once the policy's content preconditions and four-eyes
 * rules have passed too (building may rely on them: a draft to submit, a pending correction).
 */
export type StepPart<S extends ClaimStep> = (
  fields: Record<string, unknown>,
  state: ClaimState,
  context: DecideContext,
) => () => StepEvent<S>;

/**
 * Ids of items inside a claim. Without a generator they are derived from the version the
 * event will get (and the position within the event): unique within the stream, and
 * identical when a retry or a replay decides the same command against the same state.
 */
function itemId(context: DecideContext, derived: string): string {
  return context.newId ? context.newId() : derived;
}

/** The status of a claim the policy let a step act on (every step but submit_claim needs one). */
function statusOf(state: ClaimState): ClaimStatus {
  return state.status!;
}

function reason(fields: Record<string, unknown>): string {
  return requiredString(fields.reason, 'reason', LIMITS.reason);
}

export const STEP_PARTS: { readonly [S in ClaimStep]: StepPart<S> } = {
  submit_claim: (c, _state, context) => {
    const text = requiredString(c.text, 'text', LIMITS.text);
    const claimant = optionalString(c.claimant, 'claimant', LIMITS.claimant);
    const language = optionalLanguage(c.language, 'language');
    const tagList = tags(c.tags, 'tags');
    const rawAppearances = c.appearances ?? [];
    if (!Array.isArray(rawAppearances)) fail('appearances', 'appearances must be an array');
    if (rawAppearances.length > LIMITS.appearances) {
      fail('appearances', `appearances may hold at most ${LIMITS.appearances} items`);
    }
    const appearances: AppearanceData[] = rawAppearances.map((raw: unknown, i: number) => {
      const f = `appearances[${i}]`;
      const a = objectOrFail(raw, f);
      return {
        id: itemId(context, `a${i + 1}`),
        url: optionalUrl(a.url, `${f}.url`),
        outlet: optionalString(a.outlet, `${f}.outlet`, LIMITS.outlet),
        title: optionalString(a.title, `${f}.title`, LIMITS.title),
        publishedAt: optionalDate(a.publishedAt, `${f}.publishedAt`),
        excerpt: optionalString(a.excerpt, `${f}.excerpt`, LIMITS.excerpt),
      };
    });
    return () => ({
      type: 'ClaimSubmitted',
      data: { claimId: context.claimId ?? null, text, claimant, language, tags: tagList, appearances },
    });
  },

  triage: (_c, state) => () => ({ type: 'ClaimTriaged', data: { from: statusOf(state) } }),

  reject: (c, state) => {
    const why = reason(c);
    return () => ({ type: 'ClaimRejected', data: { reason: why, from: statusOf(state) } });
  },

  merge: (c, state, context) => {
    const into = requiredString(c.into, 'into', LIMITS.id);
    const self = state.id ?? context.claimId ?? null;
    if (self !== null && into === self) fail('into', 'a claim cannot be merged into itself');
    const target = context.mergeTarget;
    if (target === undefined || target === null || target.id !== into) {
      fail('into', `claim ${into} does not exist`);
    }
    if (target.status === 'merged') {
      fail('into', `claim ${into} is itself merged; merge into the claim it was merged into`);
    }
    return () => ({ type: 'ClaimMerged', data: { into, from: statusOf(state) } });
  },

  assign: (c, state, context) => {
    const from = statusOf(state);
    const assignee = requiredString(c.assignee, 'assignee', LIMITS.id);
    if (from !== 'triaged' && state.assignee === assignee) {
      fail('assignee', `the claim is already assigned to ${assignee}`);
    }
    const user = context.assignee;
    if (user === undefined || user === null || user.id !== assignee) fail('assignee', `assignee ${assignee} is not a user`);
    if (!user.active) fail('assignee', `assignee ${assignee} is a disabled user`);
    if (!canResearch(user.role)) {
      const researchers = ROLES.filter(canResearch).join(' or ');
      refuseWith(
        'assignee_cannot_research',
        `assignee ${assignee} has the role ${user.role}, which cannot research claims; assign a ${researchers}`,
      );
    }
    return () => ({
      type: 'ClaimAssigned',
      data: { assignee, previousAssignee: state.assignee, from, to: targetStatus('assign', from) },
    });
  },

  add_evidence: (c, state, context) => {
    const summary = requiredString(c.summary, 'summary', LIMITS.summary);
    const st = stance(c.stance, 'stance');
    const url = optionalUrl(c.url, 'url');
    const appearance = optionalString(c.appearance, 'appearance', LIMITS.id);
    if (appearance !== null && !state.appearances.some((a) => a.id === appearance)) {
      fail('appearance', `the claim has no appearance ${appearance}`);
    }
    return () => ({
      type: 'EvidenceAdded',
      data: { evidenceId: itemId(context, `e${state.version + 1}`), summary, stance: st, url, appearance },
    });
  },

  add_note: (c, state, context) => {
    const body = requiredString(c.body, 'body', LIMITS.body);
    return () => ({ type: 'NoteAdded', data: { noteId: itemId(context, `n${state.version + 1}`), body } });
  },

  draft_verdict: (c) => {
    const r = rating(c.rating, 'rating');
    const rationale = requiredString(c.rationale, 'rationale', LIMITS.rationale);
    return () => ({ type: 'VerdictDrafted', data: { rating: r, rationale } });
  },

  submit_for_review: (_c, state) => () => {
    const draft = state.verdictDraft!;
    return { type: 'ClaimSubmittedForReview', data: { rating: draft.rating, rationale: draft.rationale, draftedBy: draft.author } };
  },

  request_changes: (c) => {
    const why = reason(c);
    return () => ({ type: 'ChangesRequested', data: { reason: why } });
  },

  publish: (_c, state) => () => {
    const draft = state.verdictDraft!;
    return { type: 'VerdictPublished', data: { rating: draft.rating, rationale: draft.rationale, draftedBy: draft.author } };
  },

  reopen: (c) => {
    const why = reason(c);
    return () => ({ type: 'ClaimReopened', data: { reason: why } });
  },

  correct: (c, state, context) => {
    const note = requiredString(c.note, 'note', LIMITS.note);
    const published = state.publishedVerdict;
    if (published === null) refuseWith('missing_verdict', 'there is no published verdict to correct');
    const newRating = c.rating === undefined || c.rating === null ? published.rating : rating(c.rating, 'rating');
    const newRationale = optionalString(c.rationale, 'rationale', LIMITS.rationale) ?? published.rationale;
    const correctionId = itemId(context, `c${state.version + 1}`);
    // What readers see as the verdict changes only with a second person (approve_correction).
    if (newRating !== published.rating || newRationale !== published.rationale) {
      return () => ({
        type: 'CorrectionProposed',
        data: { correctionId, note, rating: newRating, rationale: newRationale, replaces: state.pendingCorrection?.id ?? null },
      });
    }
    return () => ({
      type: 'VerdictCorrected',
      data: {
        correctionId,
        note,
        rating: newRating,
        rationale: newRationale,
        previousRating: published.rating,
        previousRationale: published.rationale,
        proposedBy: null,
      },
    });
  },

  approve_correction: (c, state) => {
    const correctionId = requiredString(c.correctionId, 'correctionId', LIMITS.id);
    // Only when one is pending: without one, the policy's pending_correction precondition refuses.
    const pending = state.pendingCorrection;
    if (pending !== null && pending.id !== correctionId) {
      refuseWith(
        'illegal_transition',
        `correction ${correctionId} is not pending (the pending correction is ${pending.id}); read it before approving`,
      );
    }
    return () => {
      const applied = state.pendingCorrection!;
      const published = state.publishedVerdict!;
      return {
        type: 'VerdictCorrected',
        data: {
          correctionId: applied.id,
          note: applied.note,
          rating: applied.rating,
          rationale: applied.rationale,
          previousRating: published.rating,
          previousRationale: published.rationale,
          proposedBy: applied.proposedBy,
        },
      };
    };
  },

  reject_correction: (c, state) => {
    const why = reason(c);
    return () => ({ type: 'CorrectionRejected', data: { correctionId: state.pendingCorrection!.id, reason: why } });
  },

  retract: (c) => {
    const why = reason(c);
    return () => ({ type: 'ClaimRetracted', data: { reason: why } });
  },

  escalate: (c, state) => {
    // The watcher saw the claim in this state: if it has moved on since, there is nothing to escalate.
    if (c.state !== statusOf(state)) refuseWith('illegal_transition', `the claim is ${statusOf(state)}, not ${String(c.state)}`);
    const since = optionalDate(c.since, 'since');
    const dueAt = optionalDate(c.dueAt, 'dueAt');
    if (since === null || dueAt === null) fail('since', 'since and dueAt are required dates');
    return () => ({ type: 'ClaimEscalated', data: { state: statusOf(state), since, dueAt } });
  },
};
