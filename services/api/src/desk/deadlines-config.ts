import type { ClaimStatus } from '@claimtrail/domain';

/**
 * Per-state ageing thresholds (`DESK_DEADLINES`): how long a claim may stay in a state
 * before it is overdue. States without one (published, rejected, merged, retracted) never
 * are. Written `state=duration` comma-separated, durations as `<n>m`, `<n>h` or `<n>d`;
 * states left out keep their default, `state=off` drops one.
 */
export type DeadlineThresholds = Partial<Record<ClaimStatus, number>>;

export const OPEN_STATES = ['submitted', 'triaged', 'in_research', 'in_review'] as const;

const HOUR = 3_600_000;
export const DEFAULT_DEADLINES: DeadlineThresholds = {
  submitted: 24 * HOUR,
  triaged: 24 * HOUR,
  in_research: 7 * 24 * HOUR,
  in_review: 48 * HOUR,
};

const UNITS: Record<string, number> = { m: 60_000, h: HOUR, d: 24 * HOUR };

/** The thresholds, or a problem naming what is wrong. */
export function parseDeadlines(raw: string | undefined): { thresholds: DeadlineThresholds } | { problem: string } {
  const thresholds: DeadlineThresholds = { ...DEFAULT_DEADLINES };
  if (raw === undefined || raw.trim() === '') return { thresholds };
  for (const entry of raw.split(',')) {
    const match = /^\s*([a-z_]+)\s*=\s*(?:(off)|(\d{1,6})\s*([mhd]))\s*$/.exec(entry);
    const state = match?.[1] as (typeof OPEN_STATES)[number] | undefined;
    if (!match || !state || !(OPEN_STATES as readonly string[]).includes(state)) {
      return {
        problem: `DESK_DEADLINES must be comma-separated state=duration entries (states: ${OPEN_STATES.join(', ')}; durations like 30m, 24h, 7d, or off); not valid: "${entry.trim().slice(0, 60)}"`,
      };
    }
    if (match[2] === 'off') delete thresholds[state];
    else {
      const ms = Number(match[3]) * UNITS[match[4]!]!;
      if (ms <= 0) return { problem: `DESK_DEADLINES: ${state} needs a duration above zero` };
      thresholds[state] = ms;
    }
  }
  return { thresholds };
}
