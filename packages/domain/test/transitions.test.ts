import { describe, expect, it } from 'vitest';
import {
  decide,
  evolve,
  initialClaimState,
  type Actor,
  type ClaimCommand,
  type ClaimEvent,
  type ClaimState,
  type ClaimStatus,
  type Role,
} from '../src/index.ts';

/*
 * The expected transition table, written here independently of src/policy.ts on purpose:
 * a change to the policy must be made twice to pass.
 *
 * Roles: F = fact_checker, E = editor, U = auditor, A = admin.
 * States: '-' = the claim does not exist yet; 'published+pending' = published, with a
 * correction proposed by someone else (neither the actor nor the verdict's drafter).
 */
type StateKey = '-' | ClaimStatus | 'published+pending';
const STATES: StateKey[] = [
  '-', 'submitted', 'triaged', 'in_research', 'in_review', 'published', 'published+pending', 'rejected', 'merged', 'retracted',
];
const ROLE_CODES: Record<Role, string> = { fact_checker: 'F', editor: 'E', auditor: 'U', admin: 'A' };

const EXPECTED: Record<ClaimCommand['type'], { roles: string; from: StateKey[]; to: StateKey | 'same' }> = {
  submit_claim: { roles: 'FEA', from: ['-'], to: 'submitted' },
  triage: { roles: 'EA', from: ['submitted'], to: 'triaged' },
  reject: { roles: 'EA', from: ['submitted', 'triaged'], to: 'rejected' },
  merge: { roles: 'EA', from: ['submitted', 'triaged', 'in_research'], to: 'merged' },
  assign: { roles: 'EA', from: ['triaged', 'in_research', 'in_review'], to: 'in_research' },
  add_evidence: { roles: 'FEA', from: ['submitted', 'triaged', 'in_research'], to: 'same' },
  add_note: {
    roles: 'FEA',
    from: ['submitted', 'triaged', 'in_research', 'in_review', 'published', 'published+pending', 'rejected', 'merged', 'retracted'],
    to: 'same',
  },
  draft_verdict: { roles: 'FA', from: ['in_research'], to: 'same' },
  submit_for_review: { roles: 'FA', from: ['in_research'], to: 'in_review' },
  request_changes: { roles: 'EA', from: ['in_review'], to: 'in_research' },
  publish: { roles: 'EA', from: ['in_review'], to: 'published' },
  reopen: { roles: 'EA', from: ['published', 'published+pending'], to: 'in_research' },
  correct: { roles: 'EA', from: ['published', 'published+pending'], to: 'same' },
  // Nothing to approve or reject on a published claim without a pending correction.
  approve_correction: { roles: 'EA', from: ['published+pending'], to: 'same' },
  reject_correction: { roles: 'EA', from: ['published+pending'], to: 'same' },
  retract: { roles: 'EA', from: ['published', 'published+pending'], to: 'retracted' },
  // The deadline watcher's step (a system actor with the admin role): open states only.
  escalate: { roles: 'A', from: ['submitted', 'triaged', 'in_research', 'in_review'], to: 'same' },
};

// From 'published+pending', the steps after which the correction is still pending (the
// table's correct is note-only: recorded at once, the proposal keeps waiting).
const KEEP_PENDING: ClaimCommand['type'][] = ['add_note', 'correct'];

// assign keeps in_review (re-assignment does not reset the review): override of `to`.
const ASSIGN_KEEPS: StateKey[] = ['in_review'];

const CLAIM_ID = '11111111-1111-4111-8111-111111111111';
const OTHER_ID = '22222222-2222-4222-8222-222222222222';
const DRAFTER = 'drafter-1';
const PROPOSER = 'proposer-1';
const PENDING_ID = 'c-pending';

const COMMANDS: Record<ClaimCommand['type'], ClaimCommand> = {
  submit_claim: { type: 'submit_claim', text: 'The Legion holds Tyotkino.', appearances: [{ outlet: 'AFP' }] },
  triage: { type: 'triage' },
  reject: { type: 'reject', reason: 'opinion, not check-worthy' },
  merge: { type: 'merge', into: OTHER_ID },
  assign: { type: 'assign', assignee: 'checker-new' },
  add_evidence: { type: 'add_evidence', summary: 'Governor: no breakthrough', stance: 'refutes' },
  add_note: { type: 'add_note', body: 'spelling: Tetkino / Tjotkino' },
  draft_verdict: { type: 'draft_verdict', rating: 'unverifiable', rationale: 'no independent confirmation' },
  submit_for_review: { type: 'submit_for_review' },
  request_changes: { type: 'request_changes', reason: 'cite the governor' },
  publish: { type: 'publish' },
  reopen: { type: 'reopen', reason: 'new footage' },
  correct: { type: 'correct', note: 'typo in rationale' },
  approve_correction: { type: 'approve_correction', correctionId: PENDING_ID },
  reject_correction: { type: 'reject_correction', reason: 'the footage is from 2023' },
  retract: { type: 'retract', reason: 'wrong claim' },
  escalate: { type: 'escalate', state: 'submitted', since: '2024-03-11T10:00:00.000Z', dueAt: '2024-03-12T10:00:00.000Z' },
};

/** The command of `step` on a claim in `state`: an escalation names the state it saw the claim in. */
function commandIn(step: ClaimCommand['type'], state: ClaimState): ClaimCommand {
  const command = COMMANDS[step];
  return command.type === 'escalate' ? { ...command, state: state.status ?? '-' } : command;
}

let version = 0;
function apply(state: ClaimState, event: ClaimEvent, actor = 'setup'): ClaimState {
  version = state.version + 1;
  return evolve(state, { ...event, actor, recordedAt: '2024-03-12T10:00:00.000Z', version } as never);
}

/** Builds a claim in each state from hand-written events (not through decide). */
function stateIn(status: StateKey): ClaimState {
  if (status === '-') return initialClaimState;
  let s = apply(initialClaimState, {
    type: 'ClaimSubmitted',
    data: {
      claimId: CLAIM_ID,
      text: 'The Legion holds Tyotkino.',
      claimant: 'Freedom of Russia Legion',
      language: 'en',
      tags: [],
      appearances: [{ id: 'a1', url: null, outlet: 'AFP', title: null, publishedAt: null, excerpt: null }],
    },
  });
  s = apply(s, { type: 'EvidenceAdded', data: { evidenceId: 'e2', summary: 's', stance: 'context', url: null, appearance: null } });
  if (status === 'submitted') return s;
  if (status === 'rejected') return apply(s, { type: 'ClaimRejected', data: { reason: 'r', from: 'submitted' } });
  if (status === 'merged') return apply(s, { type: 'ClaimMerged', data: { into: OTHER_ID, from: 'submitted' } });
  s = apply(s, { type: 'ClaimTriaged', data: { from: 'submitted' } });
  if (status === 'triaged') return s;
  s = apply(s, { type: 'ClaimAssigned', data: { assignee: 'checker-1', previousAssignee: null, from: 'triaged', to: 'in_research' } });
  s = apply(s, { type: 'VerdictDrafted', data: { rating: 'mixed', rationale: 'r' } }, DRAFTER);
  if (status === 'in_research') return s;
  s = apply(s, { type: 'ClaimSubmittedForReview', data: { rating: 'mixed', rationale: 'r', draftedBy: DRAFTER } }, DRAFTER);
  if (status === 'in_review') return s;
  s = apply(s, { type: 'VerdictPublished', data: { rating: 'mixed', rationale: 'r', draftedBy: DRAFTER } }, 'editor-x');
  if (status === 'published') return s;
  if (status === 'published+pending') {
    return apply(
      s,
      { type: 'CorrectionProposed', data: { correctionId: PENDING_ID, note: 'n', rating: 'false', rationale: 'r2', replaces: null } },
      PROPOSER,
    );
  }
  return apply(s, { type: 'ClaimRetracted', data: { reason: 'r' } }, 'editor-x');
}

const ROLES: Role[] = ['fact_checker', 'editor', 'auditor', 'admin'];

describe('transition table: every step × every state × every role', () => {
  for (const [step, expected] of Object.entries(EXPECTED) as [ClaimCommand['type'], (typeof EXPECTED)[keyof typeof EXPECTED]][]) {
    for (const status of STATES) {
      for (const role of ROLES) {
        const roleAllowed = expected.roles.includes(ROLE_CODES[role]);
        const stateAllowed = expected.from.includes(status);
        const outcome = !roleAllowed ? 'forbidden_role' : !stateAllowed ? 'illegal_transition' : 'ok';
        it(`${step} on ${status} as ${role} → ${outcome}`, () => {
          const state = stateIn(status);
          const actor: Actor = { id: `${role}-actor`, role };
          const result = decide(commandIn(step, state), state, actor, {
            claimId: CLAIM_ID,
            mergeTarget: { id: OTHER_ID, status: 'triaged' },
            assignee: { id: 'checker-new', role: 'fact_checker', active: true },
          });
          if (outcome === 'ok') {
            expect(result).toMatchObject({ ok: true });
            if (!result.ok) return;
            expect(result.events).toHaveLength(1);
            const next = evolve(state, { ...result.events[0]!, actor: actor.id, recordedAt: new Date(), version: state.version + 1 });
            const to = step === 'assign' && ASSIGN_KEEPS.includes(status) ? status : expected.to;
            expect(next.status).toBe(to === 'same' ? state.status : to);
            expect(next.version).toBe(state.version + 1);
            if (status === 'published+pending') {
              expect(next.pendingCorrection === null).toBe(!KEEP_PENDING.includes(step));
            }
          } else {
            expect(result.ok).toBe(false);
            if (result.ok) return;
            expect(result.refusal.code).toBe(outcome);
            expect(result.refusal.message.length).toBeGreaterThan(0);
            expect('events' in result).toBe(false);
          }
        });
      }
    }
  }
});
