import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decide,
  evolve,
  foldClaim,
  initialClaimState,
  toClaimView,
  type Actor,
  type ClaimCommand,
  type ClaimEventEnvelope,
  type ClaimState,
  type ClaimStatus,
  type DecideContext,
} from '../src/index.ts';

const ID = '11111111-1111-4111-8111-111111111111';
const PENDING = '<pending>';
const OTHER = '22222222-2222-4222-8222-222222222222';

const ACTORS: Actor[] = [
  { id: 'fc-1', role: 'fact_checker' },
  { id: 'fc-2', role: 'fact_checker' },
  { id: 'ed-1', role: 'editor' },
  { id: 'ed-2', role: 'editor' },
  { id: 'aud-1', role: 'auditor' },
  { id: 'adm-1', role: 'admin' },
];
/** The user directory an assign is decided against: the actors (what the service looks up). */
const assigneeOf = (command: ClaimCommand): DecideContext => {
  if (command.type !== 'assign') return {};
  const user = ACTORS.find((a) => a.id === command.assignee);
  return { assignee: user ? { id: user.id, role: user.role, active: true } : null };
};
const STATUSES: ClaimStatus[] = ['submitted', 'triaged', 'in_research', 'in_review', 'published', 'rejected', 'merged', 'retracted'];

const text = fc.oneof(fc.constantFrom('Tyotkino', 'Tetkino', 'no breakthrough', '', '   '), fc.string({ maxLength: 12 }));
const rating = fc.constantFrom('true', 'mostly_true', 'mixed', 'mostly_false', 'false', 'misleading', 'unverifiable', 'bogus');
const stance = fc.constantFrom('supports', 'refutes', 'context', 'neutral');

const command: fc.Arbitrary<ClaimCommand> = fc.oneof(
  fc.record({ type: fc.constant('submit_claim'), text, appearances: fc.array(fc.record({ outlet: fc.constantFrom('AFP', null) }), { maxLength: 2 }) }),
  fc.constant({ type: 'triage' }),
  fc.record({ type: fc.constant('reject'), reason: text }),
  fc.record({ type: fc.constant('merge'), into: fc.constantFrom(OTHER, ID, '') }),
  fc.record({ type: fc.constant('assign'), assignee: fc.constantFrom('fc-1', 'fc-2', '') }),
  fc.record({ type: fc.constant('add_evidence'), summary: text, stance, appearance: fc.constantFrom(null, 'a1', 'a7') }),
  fc.record({ type: fc.constant('add_note'), body: text }),
  fc.record({ type: fc.constant('draft_verdict'), rating, rationale: text }),
  fc.constant({ type: 'submit_for_review' }),
  fc.record({ type: fc.constant('request_changes'), reason: text }),
  fc.constant({ type: 'publish' }),
  fc.record({ type: fc.constant('reopen'), reason: text }),
  fc.record({
    type: fc.constant('correct'),
    note: text,
    rating: fc.constantFrom(undefined, 'false', 'unverifiable', 'bogus'),
    rationale: fc.constantFrom(undefined, 'unconfirmed', 'new footage'),
  }),
  // PENDING stands for the id of the pending correction when the step runs (see run()).
  fc.record({ type: fc.constant('approve_correction'), correctionId: fc.constantFrom(PENDING, PENDING, 'c3', '') }),
  fc.record({ type: fc.constant('reject_correction'), reason: text }),
  fc.record({ type: fc.constant('retract'), reason: text }),
) as fc.Arbitrary<ClaimCommand>;

const mergeTarget = fc.oneof(
  fc.constant(null),
  fc.constant(undefined),
  fc.constantFrom(...STATUSES).map((status) => ({ id: OTHER, status })),
);

const step = fc.record({ command, actor: fc.constantFrom(...ACTORS), mergeTarget });
type Step = { command: ClaimCommand; actor: Actor; mergeTarget: DecideContext['mergeTarget'] };

// The happy path, with random steps interleaved, so deep states are reached often. Each
// step names the actors who may take it (one is picked): drafts by an admin too, so that
// the drafter of a published verdict is sometimes someone who could approve a correction.
const HAPPY: [ClaimCommand, number[]][] = [
  [{ type: 'submit_claim', text: 'The Legion holds Tyotkino', appearances: [{ outlet: 'AFP' }] }, [0]],
  [{ type: 'triage' }, [2]],
  [{ type: 'assign', assignee: 'fc-1' }, [2]],
  [{ type: 'add_evidence', summary: 'Governor: no breakthrough', stance: 'refutes' }, [0]],
  [{ type: 'draft_verdict', rating: 'unverifiable', rationale: 'unconfirmed' }, [0, 5]],
  [{ type: 'submit_for_review' }, [0]],
  [{ type: 'publish' }, [3]],
  [{ type: 'correct', note: 'new footage', rating: 'false' }, [2, 5]],
  [{ type: 'approve_correction', correctionId: PENDING }, [2, 3, 5]],
];
const guided = fc
  .record({
    noise: fc.array(fc.array(step, { maxLength: 3 }), { minLength: HAPPY.length, maxLength: HAPPY.length }),
    picks: fc.array(fc.nat(), { minLength: HAPPY.length, maxLength: HAPPY.length }),
  })
  .map(({ noise, picks }) =>
    HAPPY.flatMap(([c, choices], i): Step[] => [
      { command: c, actor: ACTORS[choices[picks[i]! % choices.length]!]!, mergeTarget: null },
      ...noise[i]!,
    ]),
  );
const sequences = fc.oneof(fc.array(step, { maxLength: 40 }), guided);

function run(steps: Step[]) {
  let state: ClaimState = initialClaimState;
  const log: ClaimEventEnvelope[] = [];
  const states: ClaimState[] = [];
  steps.forEach(({ command: given, actor, mergeTarget: target }, i) => {
    const c =
      given.type === 'approve_correction' && given.correctionId === PENDING
        ? { ...given, correctionId: state.pendingCorrection?.id ?? 'none' }
        : given;
    const context: DecideContext = { claimId: ID, ...assigneeOf(c) };
    if (target !== undefined) context.mergeTarget = target;
    const result = decide(c, state, actor, context);
    if (!result.ok) {
      expect(Object.keys(result)).toEqual(['ok', 'refusal']);
      return;
    }
    for (const event of result.events) {
      const envelope = { ...event, actor: actor.id, recordedAt: new Date(Date.UTC(2024, 2, 12, 0, i)), version: state.version + 1 };
      log.push(envelope);
      state = evolve(state, envelope);
      states.push(state);
    }
  });
  return { state, log, states };
}

function checkInvariants(state: ClaimState, eventsSoFar: number) {
  expect(state.version).toBe(eventsSoFar);
  if (state.status === null) return;
  if (state.status === 'published') {
    expect(state.publishedVerdict).not.toBeNull();
    expect(state.evidence.length).toBeGreaterThanOrEqual(1);
    expect(state.publishedVerdict!.author).not.toBe(state.publishedVerdict!.publishedBy);
  }
  if (state.status === 'in_review') {
    expect(state.verdictDraft).not.toBeNull();
    expect(state.evidence.length).toBeGreaterThanOrEqual(1);
  }
  if (state.status === 'merged') {
    expect(state.mergedInto).toBe(OTHER);
  } else {
    expect(state.mergedInto).toBeNull();
  }
  if (state.status === 'rejected') expect(state.rejection?.reason).toBeTruthy();
  if (state.status === 'retracted') expect(state.retraction?.reason).toBeTruthy();
  if (state.verdictDraft !== null) expect(state.evidence.length).toBeGreaterThanOrEqual(1);
  // A proposed correction exists only against a verdict readers see.
  if (state.pendingCorrection !== null) expect(state.status).toBe('published');
  expect(state.id).toBe(ID);
  expect(state.text.trim().length).toBeGreaterThan(0);
  const ids = [...state.evidence.map((e) => e.id), ...state.notes.map((n) => n.id)];
  expect(new Set(ids).size).toBe(ids.length);
  const view = toClaimView(state);
  expect(view.notesCount).toBe(state.notes.length);
  expect(view.version).toBe(eventsSoFar);
}

describe('properties', () => {
  it('random command sequences never break an invariant', () => {
    const reached = new Set<string>();
    fc.assert(
      fc.property(sequences, (steps) => {
        const { log, states } = run(steps);
        states.forEach((s, i) => {
          checkInvariants(s, i + 1);
          reached.add(s.status!);
        });
        for (const envelope of log) expect(JSON.parse(JSON.stringify(envelope.data))).toEqual(envelope.data);
      }),
      { numRuns: 400 },
    );
    // The generators do reach the interesting states (not a timing check).
    expect(reached).toContain('published');
    expect(reached).toContain('in_review');
    expect(reached).toContain('merged');
  });

  it('evolve folded over decide output is deterministic and equals replay from the log', () => {
    fc.assert(
      fc.property(sequences, (steps) => {
        const first = run(steps);
        const second = run(steps);
        expect(second.log).toEqual(first.log);
        expect(second.state).toEqual(first.state);
        // Replaying the stored log (as jsonb text) from scratch gives the same state.
        const stored = JSON.parse(JSON.stringify(first.log)) as ClaimEventEnvelope[];
        const replayed = foldClaim(stored);
        expect(replayed).toEqual(first.state);
        if (first.state.status !== null) expect(toClaimView(replayed)).toEqual(toClaimView(first.state));
      }),
      { numRuns: 200 },
    );
  });

  it('the published verdict changes only through publish or a correction approved by neither its proposer nor the verdict’s author', () => {
    let approved = 0;
    fc.assert(
      fc.property(sequences, (steps) => {
        const { log, states } = run(steps);
        log.forEach((event, i) => {
          const before = i === 0 ? null : states[i - 1]!.publishedVerdict;
          const after = states[i]!.publishedVerdict;
          const changed = before?.rating !== after?.rating || before?.rationale !== after?.rationale;
          if (!changed) return;
          if (event.type === 'VerdictPublished') {
            expect(event.actor).not.toBe(event.data.draftedBy);
            return;
          }
          expect(event.type).toBe('VerdictCorrected');
          if (event.type !== 'VerdictCorrected') return;
          approved++;
          expect(typeof event.data.proposedBy).toBe('string');
          expect(event.actor).not.toBe(event.data.proposedBy);
          expect(event.actor).not.toBe(before!.author);
        });
      }),
      { numRuns: 400 },
    );
    // The generators do reach approved corrections (not a timing check).
    expect(approved).toBeGreaterThan(0);
  });

  it('a refused command leaves the state untouched', () => {
    fc.assert(
      fc.property(sequences, step, (steps, extra) => {
        const { state } = run(steps);
        const snapshot = JSON.stringify(state);
        const result = decide(extra.command, state, extra.actor, { claimId: ID, mergeTarget: extra.mergeTarget ?? null, ...assigneeOf(extra.command) });
        expect(JSON.stringify(state)).toBe(snapshot);
        if (!result.ok) expect(result.refusal.message.length).toBeGreaterThan(0);
      }),
      { numRuns: 200 },
    );
  });
});
