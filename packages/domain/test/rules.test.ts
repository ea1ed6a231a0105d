import { describe, expect, it } from 'vitest';
import {
  CLAIM_STEPS,
  RATINGS,
  can,
  decide,
  evolve,
  foldClaim,
  initialClaimState,
  toClaimView,
  toEnvelope,
  type Actor,
  type ClaimCommand,
  type ClaimEventEnvelope,
  type ClaimState,
  type DecideContext,
  type DirectoryUser,
} from '../src/index.ts';

const fc1: Actor = { id: 'fc-1', role: 'fact_checker' };
const fc2: Actor = { id: 'fc-2', role: 'fact_checker' };
const ed1: Actor = { id: 'ed-1', role: 'editor' };
const ed2: Actor = { id: 'ed-2', role: 'editor' };
const adm: Actor = { id: 'adm-1', role: 'admin' };
const ID = '11111111-1111-4111-8111-111111111111';
const TARGET = '22222222-2222-4222-8222-222222222222';

/** The user directory an assign is decided against (what the service looks up). */
const DIRECTORY: DirectoryUser[] = [fc1, fc2, ed1, ed2, adm].map((a) => ({ id: a.id, role: a.role, active: true }));
const assigneeOf = (command: ClaimCommand): DecideContext =>
  command.type === 'assign' ? { assignee: DIRECTORY.find((u) => u.id === command.assignee) ?? null } : {};

class Claim {
  state: ClaimState = initialClaimState;
  log: ClaimEventEnvelope[] = [];
  run(command: ClaimCommand, actor: Actor, context: DecideContext = {}) {
    const result = decide(command, this.state, actor, { claimId: ID, ...assigneeOf(command), ...context });
    if (result.ok) {
      for (const event of result.events) {
        const envelope = { ...event, actor: actor.id, recordedAt: `2024-03-12T10:${String(this.log.length).padStart(2, '0')}:00Z`, version: this.state.version + 1 };
        this.log.push(envelope);
        this.state = evolve(this.state, envelope);
      }
    }
    return result;
  }
  ok(command: ClaimCommand, actor: Actor, context: DecideContext = {}) {
    const result = this.run(command, actor, context);
    if (!result.ok) throw new Error(`${command.type} refused: ${result.refusal.code} ${result.refusal.message}`);
    return this;
  }
}

function inResearch(): Claim {
  return new Claim()
    .ok({ type: 'submit_claim', text: 'The Legion holds Tyotkino', appearances: [{ outlet: 'AFP', excerpt: 'x' }] }, fc1)
    .ok({ type: 'triage' }, ed1)
    .ok({ type: 'assign', assignee: fc1.id }, ed1);
}

function inReview(drafter: Actor = fc1): Claim {
  return inResearch()
    .ok({ type: 'add_evidence', summary: 'Governor denies', stance: 'refutes', appearance: 'a1' }, fc1)
    .ok({ type: 'draft_verdict', rating: 'unverifiable', rationale: 'no confirmation' }, drafter)
    .ok({ type: 'submit_for_review' }, fc1);
}

describe('ratings and roles', () => {
  it('has the seven ClaimReview ratings, each self-consistent', () => {
    expect(Object.keys(RATINGS).sort()).toEqual(
      ['false', 'misleading', 'mixed', 'mostly_false', 'mostly_true', 'true', 'unverifiable'].sort(),
    );
    for (const info of Object.values(RATINGS)) {
      expect(info.label.length).toBeGreaterThan(0);
      expect(info.alternateName.length).toBeGreaterThan(0);
      expect(info.ratingValue).toBeGreaterThanOrEqual(info.worstRating);
      expect(info.ratingValue).toBeLessThanOrEqual(info.bestRating);
    }
    expect(RATINGS.true.ratingValue).toBeGreaterThan(RATINGS.false.ratingValue);
  });

  it('can(): auditors write nothing, admins everything', () => {
    for (const step of CLAIM_STEPS) {
      expect(can('auditor', step)).toBe(false);
      expect(can('admin', step)).toBe(true);
    }
    expect(can('editor', 'draft_verdict')).toBe(false);
    expect(can('fact_checker', 'publish')).toBe(false);
    expect(can('editor', 'add_evidence')).toBe(true);
  });
});

describe('four eyes', () => {
  it('the draft author cannot publish it, even as admin', () => {
    const claim = inReview(adm);
    const refused = claim.run({ type: 'publish' }, adm);
    expect(refused).toMatchObject({ ok: false, refusal: { code: 'four_eyes' } });
    expect(claim.state.status).toBe('in_review');
    claim.ok({ type: 'publish' }, ed2);
    expect(claim.state.status).toBe('published');
    expect(claim.state.publishedVerdict).toMatchObject({ author: adm.id, publishedBy: ed2.id, rating: 'unverifiable' });
  });

  it('still holds for a reopened verdict (the draft keeps its author)', () => {
    const claim = inReview(fc2).ok({ type: 'publish' }, ed1).ok({ type: 'reopen', reason: 'new footage' }, ed1);
    expect(claim.state.verdictDraft?.author).toBe(fc2.id);
    claim.ok({ type: 'submit_for_review' }, fc1);
    // fc2 cannot publish anyway (role); an admin who drafted would be refused: covered above.
    claim.ok({ type: 'publish' }, ed2);
    expect(claim.state.status).toBe('published');
  });
});

describe('content preconditions', () => {
  it('a verdict needs evidence', () => {
    const claim = inResearch();
    expect(claim.run({ type: 'draft_verdict', rating: 'false', rationale: 'r' }, fc1)).toMatchObject({
      ok: false,
      refusal: { code: 'missing_evidence' },
    });
  });

  it('submit needs a verdict draft', () => {
    const claim = inResearch().ok({ type: 'add_evidence', summary: 's', stance: 'context' }, fc1);
    expect(claim.run({ type: 'submit_for_review' }, fc1)).toMatchObject({ ok: false, refusal: { code: 'missing_verdict' } });
  });

  it('request-changes sends it back with the reason, then it can be resubmitted', () => {
    const claim = inReview().ok({ type: 'request_changes', reason: 'add the FSB figure' }, ed1);
    expect(claim.state.status).toBe('in_research');
    expect(toClaimView(claim.state).changesRequestedReason).toBe('add the FSB figure');
    claim.ok({ type: 'draft_verdict', rating: 'mixed', rationale: 'better' }, fc1).ok({ type: 'submit_for_review' }, fc1);
    expect(toClaimView(claim.state).changesRequestedReason).toBeNull();
  });

  it('an approved correction changes the published verdict and records who proposed and who applied it; stays published', () => {
    const claim = inReview().ok({ type: 'publish' }, ed1).ok({ type: 'correct', note: 'rating too soft', rating: 'false' }, ed2);
    claim.ok({ type: 'approve_correction', correctionId: claim.state.pendingCorrection!.id }, ed1);
    const view = toClaimView(claim.state);
    expect(view.state).toBe('published');
    expect(view.pendingCorrection).toBeNull();
    expect(view.publishedVerdict).toMatchObject({ rating: 'false', ratingValue: RATINGS.false.ratingValue, rationale: 'no confirmation' });
    expect(view.publishedVerdict?.corrections).toEqual([
      expect.objectContaining({
        note: 'rating too soft',
        rating: 'false',
        previousRating: 'unverifiable',
        proposedBy: ed2.id,
        correctedBy: ed1.id,
      }),
    ]);
  });
});

describe('corrections: no single person changes the published verdict', () => {
  const published = (drafter: Actor = fc1, publisher: Actor = ed1) => inReview(drafter).ok({ type: 'publish' }, publisher);
  const approve = (claim: Claim, actor: Actor) =>
    claim.run({ type: 'approve_correction', correctionId: claim.state.pendingCorrection?.id ?? 'none' }, actor);

  it('the issue: admin drafts false, an editor publishes, the admin corrects to true → still false until a second editor approves', () => {
    const claim = inResearch().ok({ type: 'add_evidence', summary: 'Governor denies', stance: 'refutes' }, fc1);
    claim.ok({ type: 'draft_verdict', rating: 'false', rationale: 'denied by the governor' }, adm).ok({ type: 'submit_for_review' }, fc1);
    claim.ok({ type: 'publish' }, ed1).ok({ type: 'correct', note: 'new footage', rating: 'true' }, adm);
    expect(claim.log.at(-1)!.type).toBe('CorrectionProposed');
    expect(toClaimView(claim.state)).toMatchObject({
      state: 'published',
      publishedVerdict: { rating: 'false', corrections: [] },
      pendingCorrection: { rating: 'true', rationale: 'denied by the governor', note: 'new footage', proposedBy: adm.id },
    });
    // The admin is proposer and drafter: refused either way, nothing recorded.
    const before = claim.log.length;
    expect(approve(claim, adm)).toMatchObject({ ok: false, refusal: { code: 'four_eyes' } });
    expect(claim.log).toHaveLength(before);
    expect(approve(claim, ed2)).toMatchObject({ ok: true });
    expect(claim.state.publishedVerdict).toMatchObject({ rating: 'true', author: adm.id, publishedBy: ed1.id });
    expect(claim.state.pendingCorrection).toBeNull();
  });

  it('the proposer cannot approve their own correction, even as admin; the verdict’s drafter cannot either', () => {
    const byEditor = published().ok({ type: 'correct', note: 'n', rationale: 'better wording' }, ed2);
    expect(approve(byEditor, ed2)).toMatchObject({ ok: false, refusal: { code: 'four_eyes' } });
    const byAdmin = published().ok({ type: 'correct', note: 'n', rating: 'mixed' }, adm);
    expect(approve(byAdmin, adm)).toMatchObject({ ok: false, refusal: { code: 'four_eyes', message: expect.stringContaining('proposed') } });
    // The drafter (an admin here: fact-checkers may not approve at all) of the published verdict.
    const draftedByAdmin = published(adm).ok({ type: 'correct', note: 'n', rating: 'mixed' }, ed2);
    expect(approve(draftedByAdmin, adm)).toMatchObject({ ok: false, refusal: { code: 'four_eyes', message: expect.stringContaining('published verdict') } });
    expect(draftedByAdmin.state.publishedVerdict?.rating).toBe('unverifiable');
    // The publisher is neither: they may approve.
    expect(approve(draftedByAdmin, ed1)).toMatchObject({ ok: true });
    expect(draftedByAdmin.state.publishedVerdict?.rating).toBe('mixed');
  });

  it('a note-only correction, or one repeating the published values, applies at once and leaves a pending one waiting', () => {
    const claim = published().ok({ type: 'correct', note: 'typo in the note only' }, ed1);
    expect(claim.log.at(-1)!.type).toBe('VerdictCorrected');
    expect(claim.state.publishedVerdict?.corrections).toEqual([expect.objectContaining({ note: 'typo in the note only', proposedBy: null, correctedBy: ed1.id })]);
    claim.ok({ type: 'correct', note: 'rate it false', rating: 'false' }, ed2);
    claim.ok({ type: 'correct', note: 'same values', rating: 'unverifiable', rationale: 'no confirmation' }, ed1);
    expect(claim.log.at(-1)!.type).toBe('VerdictCorrected');
    expect(claim.state.publishedVerdict?.corrections).toHaveLength(2);
    expect(claim.state.pendingCorrection).toMatchObject({ rating: 'false', proposedBy: ed2.id });
  });

  it('a new proposal replaces the pending one; approving the replaced one is refused', () => {
    const claim = published().ok({ type: 'correct', note: 'first', rating: 'false' }, ed2);
    const first = claim.state.pendingCorrection!.id;
    claim.ok({ type: 'correct', note: 'second', rating: 'mostly_false' }, ed2);
    expect(claim.log.at(-1)!.data).toMatchObject({ replaces: first });
    expect(claim.run({ type: 'approve_correction', correctionId: first }, ed1)).toMatchObject({
      ok: false,
      refusal: { code: 'illegal_transition' },
    });
    expect(approve(claim, ed1)).toMatchObject({ ok: true });
    expect(claim.state.publishedVerdict?.rating).toBe('mostly_false');
  });

  it('nothing pending: approve and reject are illegal transitions; reject drops a proposal (its proposer may withdraw it)', () => {
    const claim = published();
    expect(approve(claim, ed2)).toMatchObject({ ok: false, refusal: { code: 'illegal_transition' } });
    expect(claim.run({ type: 'reject_correction', reason: 'r' }, ed2)).toMatchObject({ ok: false, refusal: { code: 'illegal_transition' } });
    claim.ok({ type: 'correct', note: 'n', rating: 'false' }, ed2).ok({ type: 'reject_correction', reason: 'withdrawn' }, ed2);
    expect(claim.state.pendingCorrection).toBeNull();
    expect(claim.state.publishedVerdict?.rating).toBe('unverifiable');
    expect(approve(claim, ed1)).toMatchObject({ ok: false, refusal: { code: 'illegal_transition' } });
  });

  it('reopen and retract drop the pending correction; the published verdict is unchanged', () => {
    const reopened = published().ok({ type: 'correct', note: 'n', rating: 'false' }, ed2).ok({ type: 'reopen', reason: 'new footage' }, ed1);
    expect(reopened.state.pendingCorrection).toBeNull();
    expect(reopened.state.verdictDraft?.rating).toBe('unverifiable');
    const retracted = published().ok({ type: 'correct', note: 'n', rating: 'false' }, ed2).ok({ type: 'retract', reason: 'wrong claim' }, ed1);
    expect(retracted.state.pendingCorrection).toBeNull();
    expect(retracted.state.publishedVerdict?.rating).toBe('unverifiable');
  });

  it('a correction stored before two-person corrections (no proposedBy) folds as it always did', () => {
    const claim = published();
    const legacy = {
      type: 'VerdictCorrected',
      data: {
        correctionId: 'c14',
        note: 'rating too soft',
        rating: 'false',
        rationale: 'no confirmation',
        previousRating: 'unverifiable',
        previousRationale: 'no confirmation',
      },
      actor: ed2.id,
      recordedAt: '2024-03-12T11:00:00Z',
      version: claim.state.version + 1,
    } as unknown as ClaimEventEnvelope;
    const state = evolve(claim.state, legacy);
    expect(state.pendingCorrection).toBeNull();
    expect(state.publishedVerdict).toMatchObject({ rating: 'false', ratingValue: RATINGS.false.ratingValue });
    expect(state.publishedVerdict?.corrections).toEqual([
      {
        id: 'c14',
        note: 'rating too soft',
        rating: 'false',
        rationale: 'no confirmation',
        previousRating: 'unverifiable',
        previousRationale: 'no confirmation',
        correctedBy: ed2.id,
        correctedAt: '2024-03-12T11:00:00.000Z',
        proposedBy: null,
      },
    ]);
  });
});

describe('assign', () => {
  it('moves triaged to in_research, re-assigns in in_research and in_review without moving', () => {
    const claim = inReview();
    claim.ok({ type: 'assign', assignee: fc2.id }, ed1);
    expect(claim.state).toMatchObject({ status: 'in_review', assignee: fc2.id });
    expect(claim.run({ type: 'assign', assignee: fc2.id }, ed1)).toMatchObject({
      ok: false,
      refusal: { code: 'validation', field: 'assignee' },
    });
  });

  it('assigns only a user who can research (the roles that may draft a verdict), active, and looked up', () => {
    const triaged = () => new Claim().ok({ type: 'submit_claim', text: 'x' }, fc1).ok({ type: 'triage' }, ed1);
    const assign = (assignee: string, directory: DecideContext['assignee']) =>
      triaged().run({ type: 'assign', assignee }, ed1, { assignee: directory });
    expect(assign('fc-9', { id: 'fc-9', role: 'fact_checker', active: true })).toMatchObject({ ok: true });
    expect(assign('adm-9', { id: 'adm-9', role: 'admin', active: true })).toMatchObject({ ok: true });
    for (const role of ['editor', 'auditor'] as const) {
      expect(can(role, 'draft_verdict')).toBe(false);
      expect(assign('x-9', { id: 'x-9', role, active: true })).toMatchObject({ ok: false, refusal: { code: 'assignee_cannot_research' } });
    }
    const notAUser = { ok: false, refusal: { code: 'validation', field: 'assignee' } };
    expect(assign('fc-9', { id: 'fc-9', role: 'fact_checker', active: false })).toMatchObject(notAUser);
    expect(assign('fc-9', null)).toMatchObject(notAUser);
    expect(assign('fc-9', undefined)).toMatchObject(notAUser);
    // The directory entry must be the one named (a caller that looked up someone else).
    expect(assign('fc-9', { id: 'FC-9', role: 'fact_checker', active: true })).toMatchObject(notAUser);
  });
});

describe('merge', () => {
  const submitted = () => new Claim().ok({ type: 'submit_claim', text: 'Tetkino was raided' }, fc1);
  it('refuses itself, a missing target, a merged target; accepts a live one', () => {
    expect(submitted().run({ type: 'merge', into: ID }, ed1, { mergeTarget: { id: ID, status: 'submitted' } })).toMatchObject({
      ok: false,
      refusal: { code: 'validation', field: 'into' },
    });
    expect(submitted().run({ type: 'merge', into: TARGET }, ed1, { mergeTarget: null })).toMatchObject({
      ok: false,
      refusal: { code: 'validation', field: 'into' },
    });
    expect(submitted().run({ type: 'merge', into: TARGET }, ed1)).toMatchObject({ ok: false, refusal: { code: 'validation' } });
    expect(submitted().run({ type: 'merge', into: TARGET }, ed1, { mergeTarget: { id: TARGET, status: 'merged' } })).toMatchObject({
      ok: false,
      refusal: { code: 'validation', field: 'into' },
    });
    const claim = submitted().ok({ type: 'merge', into: TARGET }, ed1, { mergeTarget: { id: TARGET, status: 'published' } });
    expect(toClaimView(claim.state)).toMatchObject({ state: 'merged', mergedInto: TARGET });
  });
});

describe('validation', () => {
  const cases: [string, ClaimCommand, string][] = [
    ['empty text', { type: 'submit_claim', text: '   ' }, 'text'],
    ['missing text', { type: 'submit_claim' } as unknown as ClaimCommand, 'text'],
    ['long text', { type: 'submit_claim', text: 'x'.repeat(2001) }, 'text'],
    ['long claimant', { type: 'submit_claim', text: 't', claimant: 'c'.repeat(201) }, 'claimant'],
    ['bad language', { type: 'submit_claim', text: 't', language: 'english please' }, 'language'],
    ['tags not strings', { type: 'submit_claim', text: 't', tags: [1] as unknown as string[] }, 'tags[0]'],
    ['bad appearance url', { type: 'submit_claim', text: 't', appearances: [{ url: 'javascript:alert(1)' }] }, 'appearances[0].url'],
    ['bad appearance date', { type: 'submit_claim', text: 't', appearances: [{ publishedAt: '12 March' }] }, 'appearances[0].publishedAt'],
  ];
  for (const [name, command, field] of cases) {
    it(`refuses ${name}`, () => {
      const result = decide(command, initialClaimState, fc1);
      expect(result).toMatchObject({ ok: false, refusal: { code: 'validation', field } });
    });
  }

  it('refuses an unknown rating, a bad stance, an unknown appearance, an empty reason', () => {
    const claim = inResearch();
    expect(claim.run({ type: 'add_evidence', summary: 's', stance: 'maybe' as never }, fc1)).toMatchObject({
      refusal: { code: 'validation', field: 'stance' },
    });
    expect(claim.run({ type: 'add_evidence', summary: 's', stance: 'context', appearance: 'a9' }, fc1)).toMatchObject({
      refusal: { code: 'validation', field: 'appearance' },
    });
    claim.ok({ type: 'add_evidence', summary: 's', stance: 'context' }, fc1);
    expect(claim.run({ type: 'draft_verdict', rating: 'pants_on_fire' as never, rationale: 'r' }, fc1)).toMatchObject({
      refusal: { code: 'validation', field: 'rating' },
    });
    expect(claim.run({ type: 'draft_verdict', rating: 'false', rationale: '' }, fc1)).toMatchObject({
      refusal: { code: 'validation', field: 'rationale' },
    });
    expect(claim.run({ type: 'merge', into: '' }, ed1)).toMatchObject({ refusal: { code: 'validation', field: 'into' } });
  });

  it('refuses an unknown command type and garbage without throwing', () => {
    expect(decide({ type: 'delete_everything' } as never, initialClaimState, adm)).toMatchObject({
      refusal: { code: 'validation', field: 'type' },
    });
    expect(decide(null as never, initialClaimState, adm)).toMatchObject({ refusal: { code: 'validation' } });
    expect(decide({ type: 'triage' }, initialClaimState, { id: 'x', role: 'root' as never })).toMatchObject({
      refusal: { code: 'forbidden_role' },
    });
  });

  it('normalises: trims strings, lower-cases tags and language, drops blank optionals', () => {
    const result = decide(
      { type: 'submit_claim', text: '  Tyotkino  ', claimant: '  ', language: 'EN', tags: ['Kursk', 'kursk ', 'Tyotkino'] },
      initialClaimState,
      fc1,
      { claimId: ID },
    );
    expect(result).toMatchObject({
      ok: true,
      events: [{ type: 'ClaimSubmitted', data: { claimId: ID, text: 'Tyotkino', claimant: null, language: 'en', tags: ['kursk', 'tyotkino'] } }],
    });
  });
});

describe('events and view', () => {
  it('event data is plain JSON and the view is rebuilt identically from stored events', () => {
    const claim = inReview().ok({ type: 'add_note', body: 'n' }, ed1).ok({ type: 'publish' }, ed1);
    for (const envelope of claim.log) expect(JSON.parse(JSON.stringify(envelope.data))).toEqual(envelope.data);
    // as the store gives them back: jsonb data, Date recordedAt, metadata.actor
    const stored = claim.log.map((e) => ({
      type: e.type,
      data: JSON.parse(JSON.stringify(e.data)),
      version: e.version,
      recordedAt: new Date(e.recordedAt),
      streamId: `claim-${ID}`,
      metadata: { actor: e.actor },
    }));
    const rebuilt = foldClaim(stored.map(toEnvelope));
    expect(toClaimView(rebuilt)).toEqual(toClaimView(claim.state));
    const view = toClaimView(rebuilt);
    expect(view).toMatchObject({
      id: ID,
      state: 'published',
      version: claim.log.length,
      notesCount: 1,
      createdBy: fc1.id,
      assignee: fc1.id,
      appearances: [{ id: 'a1', outlet: 'AFP' }],
      evidence: [{ summary: 'Governor denies', stance: 'refutes', appearance: 'a1', addedBy: fc1.id }],
      verdictDraft: null,
      publishedVerdict: { rating: 'unverifiable', author: fc1.id, publishedBy: ed1.id, corrections: [] },
    });
    expect(view.evidence[0]!.id).toMatch(/^e\d+$/);
  });

  it('uses context.newId when given', () => {
    let n = 0;
    const result = decide({ type: 'submit_claim', text: 't', appearances: [{}, {}] }, initialClaimState, fc1, {
      newId: () => `id-${++n}`,
    });
    expect(result).toMatchObject({ ok: true, events: [{ data: { appearances: [{ id: 'id-1' }, { id: 'id-2' }] } }] });
  });

  it('toClaimView refuses a claim that does not exist', () => {
    expect(() => toClaimView(initialClaimState)).toThrow();
  });
});
