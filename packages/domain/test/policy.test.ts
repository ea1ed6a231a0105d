import { describe, expect, it } from 'vitest';
import {
  CLAIM_STEPS,
  EVENT_STATUS,
  STEP_EVENTS,
  STEP_POLICY,
  claimIdOfStream,
  claimStreamId,
  targetStatus,
} from '../src/index.ts';

describe('policy table and recorded events', () => {
  it('each step’s target state is what its event means (or the event records it)', () => {
    for (const step of CLAIM_STEPS) {
      const meaning = EVENT_STATUS[STEP_EVENTS[step]];
      if (meaning !== 'recorded') expect(meaning, step).toBe(STEP_POLICY[step].to);
    }
  });

  it('targetStatus: assign moves a triaged claim to research and keeps in_research and in_review', () => {
    expect(targetStatus('assign', 'triaged')).toBe('in_research');
    expect(targetStatus('assign', 'in_research')).toBe('in_research');
    expect(targetStatus('assign', 'in_review')).toBe('in_review');
    expect(targetStatus('publish', 'in_review')).toBe('published');
    expect(targetStatus('add_note', 'merged')).toBe('merged');
  });
});

describe('claim streams', () => {
  it('claim-<uuid>, and back', () => {
    const id = '11111111-1111-4111-8111-111111111111';
    expect(claimStreamId(id)).toBe(`claim-${id}`);
    expect(claimIdOfStream(claimStreamId(id))).toBe(id);
    expect(claimIdOfStream('user-1')).toBeNull();
  });
});
