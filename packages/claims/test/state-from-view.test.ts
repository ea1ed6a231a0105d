import { describe, expect, it } from 'vitest';
import { decide, evolve, initialClaimState, toClaimView, type ClaimState } from '@claimtrail/domain';
import { runSeed, seedDirectoryUser } from '../../../seeds/src/index.ts';
import { stateFromView } from '../src/index.ts';

// The projection row stores the view only; a write loads its state back with
// `stateFromView`. It must give back exactly the folded state, at every step of every
// seeded claim (the real case: every workflow step, merges, corrections, reopen…).
describe('stateFromView', () => {
  it('inverts toClaimView for every state the seed goes through', async () => {
    const states = new Map<string, ClaimState>();
    let checked = 0;
    await runSeed(async ({ claimId, command, actor }) => {
      let state = states.get(claimId) ?? initialClaimState;
      const mergeTarget = 'into' in command && typeof command.into === 'string' ? states.get(command.into) : undefined;
      const decision = decide(command, state, actor, {
        claimId,
        ...(mergeTarget?.status ? { mergeTarget: { id: mergeTarget.id!, status: mergeTarget.status } } : {}),
        ...(command.type === 'assign' ? { assignee: seedDirectoryUser(command.assignee) } : {}),
      });
      if (!decision.ok) throw new Error(`${decision.refusal.code}: ${decision.refusal.message}`);
      for (const event of decision.events) {
        state = evolve(state, { ...event, actor: actor.id, recordedAt: new Date(), version: state.version + 1, streamId: `claim-${claimId}` } as never);
        expect(stateFromView(toClaimView(state))).toStrictEqual(state);
        checked++;
      }
      states.set(claimId, state);
      return { view: toClaimView(state), replayed: false };
    });
    expect(checked).toBeGreaterThan(10);
  });
});
