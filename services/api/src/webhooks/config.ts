/**
 * Webhook delivery settings (environment variables, documented in docs/webhooks.md):
 * - WEBHOOK_RETRY_SCHEDULE: delays before each retry, comma-separated, with a unit
 *   (ms, s, m, h; default `5s,5m,30m,2h,5h,10h,10h`, the Standard Webhooks schedule). An
 *   event is tried once plus once per entry, then parked (redeliver brings it back).
 *   Each delay gets ±20 % jitter.
 * - WEBHOOK_TIMEOUT_MS: one attempt's limit (connect + answer), default 10000.
 * - WEBHOOK_DISABLE_AFTER_MS: an endpoint that has failed every attempt for this long is
 *   disabled (and the event `WebhookDisabled` recorded), default 5 days.
 * - WEBHOOK_ALLOW_PRIVATE_TARGETS: `1` allows targets that resolve to loopback, private,
 *   link-local or other non-public addresses (SSRF guard off; for tests and closed networks).
 * - WEBHOOK_WORKER: `0` runs no delivery worker in this instance (default on).
 * - WEBHOOK_CONCURRENCY: deliveries in flight per webhook and instance, default 10.
 * - WEBHOOK_POLL_MS: how often an idle worker looks for work without a wake-up, default 1000.
 */
export interface WebhookConfig {
  retryScheduleMs: readonly number[];
  timeoutMs: number;
  disableAfterMs: number;
  allowPrivateTargets: boolean;
  worker: boolean;
  concurrency: number;
  pollMs: number;
}

const DEFAULT_SCHEDULE = '5s,5m,30m,2h,5h,10h,10h';
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `5s,5m,1h` → milliseconds; undefined when malformed. */
export function parseRetrySchedule(text: string): number[] | undefined {
  const entries = text.split(',').map((entry) => entry.trim());
  if (entries.length === 0 || entries.length > 50) return undefined;
  const delays: number[] = [];
  for (const entry of entries) {
    const match = /^(\d{1,9})(ms|s|m|h)$/.exec(entry);
    if (!match) return undefined;
    const ms = Number(match[1]) * UNITS[match[2]!]!;
    if (ms > 7 * 86_400_000) return undefined;
    delays.push(ms);
  }
  return delays;
}

export function loadWebhookConfig(env: NodeJS.ProcessEnv, problems: string[]): WebhookConfig {
  const value = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const v = value(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be an integer from ${min} to ${max} (got "${v}")`);
      return fallback;
    }
    return n;
  };
  const flag = (name: string, fallback: boolean): boolean => {
    const v = value(name)?.toLowerCase();
    if (v === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    problems.push(`${name} must be 1 or 0 (got "${v}")`);
    return fallback;
  };
  const scheduleText = value('WEBHOOK_RETRY_SCHEDULE') ?? DEFAULT_SCHEDULE;
  let retryScheduleMs = parseRetrySchedule(scheduleText);
  if (!retryScheduleMs) {
    problems.push(`WEBHOOK_RETRY_SCHEDULE must be 1–50 comma-separated delays such as 5s,5m,2h (each at most 7 days; got "${scheduleText}")`);
    retryScheduleMs = parseRetrySchedule(DEFAULT_SCHEDULE)!;
  }
  return {
    retryScheduleMs,
    timeoutMs: integer('WEBHOOK_TIMEOUT_MS', 10_000, 100, 120_000),
    disableAfterMs: integer('WEBHOOK_DISABLE_AFTER_MS', 5 * 86_400_000, 1000, 365 * 86_400_000),
    allowPrivateTargets: flag('WEBHOOK_ALLOW_PRIVATE_TARGETS', false),
    worker: flag('WEBHOOK_WORKER', true),
    concurrency: integer('WEBHOOK_CONCURRENCY', 10, 1, 200),
    pollMs: integer('WEBHOOK_POLL_MS', 1000, 10, 60_000),
  };
}

/** The delay before retry number `retry` (1-based) with ±20 % jitter; undefined: no retry left. */
export function retryDelayMs(config: WebhookConfig, retry: number): number | undefined {
  const base = config.retryScheduleMs[retry - 1];
  if (base === undefined) return undefined;
  return Math.round(base * (0.8 + Math.random() * 0.4));
}
