/** WEBHOOK_* settings: the documented defaults, the schedule syntax, refusals at start. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { parseRetrySchedule, retryDelayMs } from '../src/webhooks/config.ts';

describe('webhook settings', () => {
  it('defaults to the Standard Webhooks schedule, guard on, worker on', () => {
    const { webhooks } = loadConfig({});
    expect(webhooks.retryScheduleMs).toEqual([5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]);
    expect(webhooks).toMatchObject({ timeoutMs: 10_000, allowPrivateTargets: false, worker: true, concurrency: 10, disableAfterMs: 5 * 86_400_000 });
  });

  it('reads a schedule with units and jitters each delay by at most 20 %', () => {
    expect(parseRetrySchedule('250ms, 2s,1m,1h')).toEqual([250, 2000, 60_000, 3_600_000]);
    const config = loadConfig({ WEBHOOK_RETRY_SCHEDULE: '10s', WEBHOOK_ALLOW_PRIVATE_TARGETS: '1', WEBHOOK_WORKER: '0' }).webhooks;
    expect(config).toMatchObject({ retryScheduleMs: [10_000], allowPrivateTargets: true, worker: false });
    for (let i = 0; i < 50; i++) {
      const delay = retryDelayMs(config, 1)!;
      expect(delay).toBeGreaterThanOrEqual(8_000);
      expect(delay).toBeLessThanOrEqual(12_000);
    }
    expect(retryDelayMs(config, 2)).toBeUndefined();
  });

  it('refuses malformed values at start, naming them', () => {
    for (const env of [
      { WEBHOOK_RETRY_SCHEDULE: '5' },
      { WEBHOOK_RETRY_SCHEDULE: '5s,,1m' },
      { WEBHOOK_RETRY_SCHEDULE: '8d' },
      { WEBHOOK_RETRY_SCHEDULE: '200h' },
      { WEBHOOK_TIMEOUT_MS: '0' },
      { WEBHOOK_ALLOW_PRIVATE_TARGETS: 'maybe' },
      { WEBHOOK_CONCURRENCY: '1.5' },
    ]) {
      expect(() => loadConfig(env), JSON.stringify(env)).toThrow(ConfigError);
      expect(() => loadConfig(env)).toThrow(Object.keys(env)[0]!);
    }
  });
});
