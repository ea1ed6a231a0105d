import { STEP_POLICY, canResearch, type FourEyesRule } from './policy.ts';
import {
  CLAIM_STEPS,
  ROLES,
  type Actor,
  type AppearanceData,
  type ClaimCommand,
  type ClaimEvent,
  type ClaimState,
  type ClaimStep,
  type DecideContext,
  type DecideResult,
  type Refusal,
} from './types.ts';
import {
  LIMITS,
  ValidationError,
  fail,
  isPlainObject,
  objectOrFail,
  optionalDate,
  optionalLanguage,
  optionalString,
  optionalUrl,
  rating,
  requiredString,
  stance,
  tags,
} from './validation.ts';

function refuse(code: Refusal['code'], message: string, field?: string): DecideResult {
  return { ok: false, refusal: field === undefined ? { code, message } : { code, message, field } };
}

function accept(event: ClaimEvent): DecideResult {
  return { ok: true, events: [event] };
}

/**
 * Decide what a command does to a claim. Pure: same inputs, same output. Never throws
 * for bad input (commands arrive from HTTP): anything wrong becomes a refusal and no
 * events. Checks run in a fixed order so that the refusal is predictable:
 * command shape → role → state → field validation → content preconditions → four eyes.
 */
export function decide(
  command: ClaimCommand,
  state: ClaimState,
  actor: Actor,
  context: DecideContext = {},
): DecideResult {
  const cmd: unknown = command;
  if (!isPlainObject(cmd) || typeof cmd.type !== 'string' || !(CLAIM_STEPS as readonly string[]).includes(cmd.type)) {
    return refuse('validation', `unknown command; expected one of ${CLAIM_STEPS.join(', ')}`, 'type');
  }
  const step = cmd.type as ClaimStep;
  const policy = STEP_POLICY[step];

  if (!isPlainObject(actor) || !(ROLES as readonly string[]).includes(actor.role)) {
    return refuse('forbidden_role', 'unknown actor role');
  }
  if (!policy.roles.includes(actor.role)) {
    return refuse('forbidden_role', `the role ${actor.role} may not ${describe(step)} (allowed roles: ${policy.roles.join(', ')})`);
  }
  if (!policy.from.includes(state.status)) {
    const where = state.status === null ? 'a claim that does not exist' : `a claim that is ${state.status}`;
    const allowed = policy.from.filter((s) => s !== null);
    return refuse(
      'illegal_transition',
      step === 'submit_claim'
        ? 'the claim already exists'
        : `cannot ${STEP_ACTIONS[step](where)}; the claim must be ${alternatives(allowed)}`,
    );
  }

  try {
    return decideStep(command, state, actor, context);
  } catch (error) {
    if (error instanceof ValidationError) return { ok: false, refusal: error.toRefusal() };
    throw error;
  }
}

function describe(step: ClaimStep): string {
  return step.replace(/_/g, ' ');
}

/** Each step as a phrase about the claim it acts on: "publish a claim that is in_research". */
const STEP_ACTIONS: Record<ClaimStep, (claim: string) => string> = {
  submit_claim: (claim) => `submit ${claim}`,
  triage: (claim) => `triage ${claim}`,
  reject: (claim) => `reject ${claim}`,
  merge: (claim) => `merge ${claim}`,
  assign: (claim) => `assign ${claim}`,
  add_evidence: (claim) => `add evidence to ${claim}`,
  add_note: (claim) => `add a note to ${claim}`,
  draft_verdict: (claim) => `draft a verdict for ${claim}`,
  submit_for_review: (claim) => `submit ${claim} for review`,
  request_changes: (claim) => `request changes to ${claim}`,
  publish: (claim) => `publish ${claim}`,
  reopen: (claim) => `reopen ${claim}`,
  correct: (claim) => `correct ${claim}`,
  approve_correction: (claim) => `approve a correction of ${claim}`,
  reject_correction: (claim) => `reject a correction of ${claim}`,
  retract: (claim) => `retract ${claim}`,
};

/** "a", "a or b", "a, b or c". */
function alternatives(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

/**
 * Ids of items inside a claim. Without a generator they are derived from the version the
 * event will get (and the position within the event): unique within the stream, and
 * identical when a retry or a replay decides the same command against the same state.
 */
function itemId(context: DecideContext, derived: string): string {
  return context.newId ? context.newId() : derived;
}

function checkPreconditions(step: ClaimStep, state: ClaimState): DecideResult | null {
  for (const need of STEP_POLICY[step].requires) {
    if (need === 'verdict' && state.verdictDraft === null) {
      return refuse('missing_verdict', `cannot ${describe(step)}: the claim has no verdict draft`);
    }
    if (need === 'evidence' && state.evidence.length === 0) {
      return refuse('missing_evidence', `cannot ${describe(step)}: the claim has no evidence`);
    }
    if (need === 'pending_correction' && state.pendingCorrection === null) {
      return refuse('illegal_transition', `cannot ${describe(step)}: the claim has no pending correction`);
    }
  }
  return null;
}

const FOUR_EYES_MESSAGES: Record<FourEyesRule, string> = {
  draft_author: 'the author of the verdict draft cannot publish it; another editor must',
  verdict_author: 'the author of the published verdict cannot approve a change to it; another editor must',
  correction_proposer: 'whoever proposed a correction cannot approve it; another editor must',
};

/** The policy's four-eyes rules for the step: the first that names the actor refuses. */
function checkFourEyes(step: ClaimStep, state: ClaimState, actor: Actor): DecideResult | null {
  for (const rule of STEP_POLICY[step].fourEyes) {
    const person =
      rule === 'draft_author'
        ? state.verdictDraft?.author
        : rule === 'verdict_author'
          ? state.publishedVerdict?.author
          : state.pendingCorrection?.proposedBy;
    if (person !== undefined && person === actor.id) return refuse('four_eyes', FOUR_EYES_MESSAGES[rule]);
  }
  return null;
}

function decideStep(command: ClaimCommand, state: ClaimState, actor: Actor, context: DecideContext): DecideResult {
  const c = command as unknown as Record<string, unknown>;
  const from = state.status!;
  switch (command.type) {
    case 'submit_claim': {
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
      return accept({
        type: 'ClaimSubmitted',
        data: { claimId: context.claimId ?? null, text, claimant, language, tags: tagList, appearances },
      });
    }
    case 'triage':
      return accept({ type: 'ClaimTriaged', data: { from } });
    case 'reject':
      return accept({ type: 'ClaimRejected', data: { reason: requiredString(c.reason, 'reason', LIMITS.reason), from } });
    case 'merge': {
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
      return accept({ type: 'ClaimMerged', data: { into, from } });
    }
    case 'assign': {
      const assignee = requiredString(c.assignee, 'assignee', LIMITS.id);
      if (from !== 'triaged' && state.assignee === assignee) {
        fail('assignee', `the claim is already assigned to ${assignee}`);
      }
      const user = context.assignee;
      if (user === undefined || user === null || user.id !== assignee) fail('assignee', `assignee ${assignee} is not a user`);
      if (!user.active) fail('assignee', `assignee ${assignee} is a disabled user`);
      if (!canResearch(user.role)) {
        const researchers = ROLES.filter(canResearch).join(' or ');
        return refuse('assignee_cannot_research', `assignee ${assignee} has the role ${user.role}, which cannot research claims; assign a ${researchers}`);
      }
      return accept({
        type: 'ClaimAssigned',
        data: { assignee, previousAssignee: state.assignee, from, to: from === 'triaged' ? 'in_research' : from },
      });
    }
    case 'add_evidence': {
      const summary = requiredString(c.summary, 'summary', LIMITS.summary);
      const st = stance(c.stance, 'stance');
      const url = optionalUrl(c.url, 'url');
      const appearance = optionalString(c.appearance, 'appearance', LIMITS.id);
      if (appearance !== null && !state.appearances.some((a) => a.id === appearance)) {
        fail('appearance', `the claim has no appearance ${appearance}`);
      }
      return accept({
        type: 'EvidenceAdded',
        data: { evidenceId: itemId(context, `e${state.version + 1}`), summary, stance: st, url, appearance },
      });
    }
    case 'add_note':
      return accept({
        type: 'NoteAdded',
        data: { noteId: itemId(context, `n${state.version + 1}`), body: requiredString(c.body, 'body', LIMITS.body) },
      });
    case 'draft_verdict': {
      const r = rating(c.rating, 'rating');
      const rationale = requiredString(c.rationale, 'rationale', LIMITS.rationale);
      return checkPreconditions('draft_verdict', state) ?? accept({ type: 'VerdictDrafted', data: { rating: r, rationale } });
    }
    case 'submit_for_review': {
      const missing = checkPreconditions('submit_for_review', state);
      if (missing) return missing;
      const draft = state.verdictDraft!;
      return accept({
        type: 'ClaimSubmittedForReview',
        data: { rating: draft.rating, rationale: draft.rationale, draftedBy: draft.author },
      });
    }
    case 'request_changes':
      return accept({ type: 'ChangesRequested', data: { reason: requiredString(c.reason, 'reason', LIMITS.reason) } });
    case 'publish': {
      const missing = checkPreconditions('publish', state);
      if (missing) return missing;
      const sameHands = checkFourEyes('publish', state, actor);
      if (sameHands) return sameHands;
      const draft = state.verdictDraft!;
      return accept({
        type: 'VerdictPublished',
        data: { rating: draft.rating, rationale: draft.rationale, draftedBy: draft.author },
      });
    }
    case 'reopen':
      return accept({ type: 'ClaimReopened', data: { reason: requiredString(c.reason, 'reason', LIMITS.reason) } });
    case 'correct': {
      const note = requiredString(c.note, 'note', LIMITS.note);
      const published = state.publishedVerdict;
      if (published === null) return refuse('missing_verdict', 'there is no published verdict to correct');
      const newRating = c.rating === undefined || c.rating === null ? published.rating : rating(c.rating, 'rating');
      const newRationale = optionalString(c.rationale, 'rationale', LIMITS.rationale) ?? published.rationale;
      const correctionId = itemId(context, `c${state.version + 1}`);
      // What readers see as the verdict changes only with a second person (approve_correction).
      if (newRating !== published.rating || newRationale !== published.rationale) {
        return accept({
          type: 'CorrectionProposed',
          data: { correctionId, note, rating: newRating, rationale: newRationale, replaces: state.pendingCorrection?.id ?? null },
        });
      }
      return accept({
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
    }
    case 'approve_correction': {
      const correctionId = requiredString(c.correctionId, 'correctionId', LIMITS.id);
      const missing = checkPreconditions('approve_correction', state);
      if (missing) return missing;
      const pending = state.pendingCorrection!;
      if (pending.id !== correctionId) {
        return refuse(
          'illegal_transition',
          `correction ${correctionId} is not pending (the pending correction is ${pending.id}); read it before approving`,
        );
      }
      const sameHands = checkFourEyes('approve_correction', state, actor);
      if (sameHands) return sameHands;
      const published = state.publishedVerdict!;
      return accept({
        type: 'VerdictCorrected',
        data: {
          correctionId: pending.id,
          note: pending.note,
          rating: pending.rating,
          rationale: pending.rationale,
          previousRating: published.rating,
          previousRationale: published.rationale,
          proposedBy: pending.proposedBy,
        },
      });
    }
    case 'reject_correction': {
      const reason = requiredString(c.reason, 'reason', LIMITS.reason);
      return (
        checkPreconditions('reject_correction', state) ??
        accept({ type: 'CorrectionRejected', data: { correctionId: state.pendingCorrection!.id, reason } })
      );
    }
    case 'retract':
      return accept({ type: 'ClaimRetracted', data: { reason: requiredString(c.reason, 'reason', LIMITS.reason) } });
  }
}
