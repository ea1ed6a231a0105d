import { CLAIM_STEPS, ROLES, type Actor, type ClaimCommand, type ClaimStep, type DecideContext, type DecideResult, type Refusal } from './commands.ts';
import { STEP_POLICY, type FourEyesRule, type StepRequirement } from './policy.ts';
import type { ClaimState } from './state.ts';
import type { ClaimView } from './view.ts';
import { STEP_PARTS } from './steps.ts';
import { Refused, isPlainObject } from './validation.ts';

function refuse(code: Refusal['code'], message: string, field?: string): DecideResult {
  return { ok: false, refusal: field === undefined ? { code, message } : { code, message, field } };
}

/**
 * Decide what a command does to a claim. Pure: same inputs, same output. Never throws
 * for bad input (commands arrive unchecked from outside): anything wrong becomes a refusal and no
 * events. Checks run in a fixed order so that the refusal is predictable:
 * command shape → role → state → field validation → content preconditions → four eyes.
 * All but field validation (each step's own part, steps.ts) are read from STEP_POLICY.
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
  try {
    return enforcePolicy(cmd.type as ClaimStep, cmd, state, actor, context);
  } catch (error) {
    if (error instanceof Refused) return { ok: false, refusal: error.refusal };
    throw error;
  }
}

/** The step's policy around its own part: the first check that fails refuses. */
function enforcePolicy(
  step: ClaimStep,
  fields: Record<string, unknown>,
  state: ClaimState,
  actor: Actor,
  context: DecideContext,
): DecideResult {
  const gate = gateRefusal(step, state, actor);
  if (gate) return { ok: false, refusal: gate };
  const build = STEP_PARTS[step](fields, state, context);
  const content = contentRefusal(step, state, actor);
  if (content) return { ok: false, refusal: content };
  return { ok: true, events: [build()] };
}

/**
 * What the policy needs to know of a claim: the claim state, or a claim view through
 * `policySubjectOfView` (the view carries the same facts under the name `state`).
 */
export type PolicySubject = Pick<ClaimState, 'status' | 'evidence' | 'verdictDraft' | 'publishedVerdict' | 'pendingCorrection'>;

export function policySubjectOfView(view: ClaimView): PolicySubject {
  return {
    status: view.state,
    evidence: view.evidence,
    verdictDraft: view.verdictDraft,
    publishedVerdict: view.publishedVerdict,
    pendingCorrection: view.pendingCorrection,
  };
}

/** Role, then state: the checks before the step's own fields are read. */
function gateRefusal(step: ClaimStep, state: PolicySubject, actor: Actor): Refusal | null {
  const policy = STEP_POLICY[step];
  if (!isPlainObject(actor) || !(ROLES as readonly string[]).includes(actor.role)) {
    return { code: 'forbidden_role', message: 'unknown actor role' };
  }
  if (!policy.roles.includes(actor.role)) {
    return { code: 'forbidden_role', message: `the role ${actor.role} may not ${describe(step)} (allowed roles: ${policy.roles.join(', ')})` };
  }
  if (!policy.from.includes(state.status)) {
    const where = state.status === null ? 'a claim that does not exist' : `a claim that is ${state.status}`;
    const allowed = policy.from.filter((s) => s !== null);
    return {
      code: 'illegal_transition',
      message: policy.from.includes(null)
        ? 'the claim already exists'
        : `cannot ${STEP_ACTIONS[step](where)}; the claim must be ${alternatives(allowed)}`,
    };
  }
  return null;
}

/** Content preconditions, then four eyes: the checks after the step's own fields. */
function contentRefusal(step: ClaimStep, state: PolicySubject, actor: Actor): Refusal | null {
  const policy = STEP_POLICY[step];
  for (const need of policy.requires) {
    const requirement = REQUIREMENTS[need];
    if (!requirement.met(state)) return { code: requirement.code, message: `cannot ${describe(step)}: the claim has no ${requirement.what}` };
  }
  for (const rule of policy.fourEyes) {
    const person = FOUR_EYES[rule].person(state);
    if (person !== undefined && person === actor.id) return { code: 'four_eyes', message: FOUR_EYES[rule].message };
  }
  return null;
}

/**
 * The steps this actor may take on this claim now, by the same checks decide makes (role,
 * state, content preconditions, four eyes), in CLAIM_STEPS order. A listed step can still
 * be refused for its own fields (an empty reason, an assignee who cannot research, a merge
 * target that is not open): those depend on what the caller sends, not on the claim.
 */
export function allowedSteps(state: PolicySubject, actor: Actor): ClaimStep[] {
  return CLAIM_STEPS.filter((step) => gateRefusal(step, state, actor) === null && contentRefusal(step, state, actor) === null);
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
  escalate: (claim) => `escalate ${claim}`,
};

/** "a", "a or b", "a, b or c". */
function alternatives(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

/**
 * What each content precondition of the policy checks, and how it refuses. Nothing to act
 * on (no pending correction) is an illegal transition rather than missing content.
 */
const REQUIREMENTS: Record<StepRequirement, { met: (state: PolicySubject) => boolean; code: Refusal['code']; what: string }> = {
  evidence: { met: (state) => state.evidence.length > 0, code: 'missing_evidence', what: 'evidence' },
  verdict: { met: (state) => state.verdictDraft !== null, code: 'missing_verdict', what: 'verdict draft' },
  pending_correction: { met: (state) => state.pendingCorrection !== null, code: 'illegal_transition', what: 'pending correction' },
};

/** Who each four-eyes rule of the policy names on a claim, and what the refusal says. */
const FOUR_EYES: Record<FourEyesRule, { person: (state: PolicySubject) => string | undefined; message: string }> = {
  draft_author: {
    person: (state) => state.verdictDraft?.author,
    message: 'the author of the verdict draft cannot publish it; another editor must',
  },
  verdict_author: {
    person: (state) => state.publishedVerdict?.author,
    message: 'the author of the published verdict cannot approve a change to it; another editor must',
  },
  correction_proposer: {
    person: (state) => state.pendingCorrection?.proposedBy,
    message: 'whoever proposed a correction cannot approve it; another editor must',
  },
};
