/**
 * Configuration from the environment, validated once at start. Every problem is reported
 * together, by variable name, so a bad deployment fails with one readable message.
 */
export interface Config {
  port: number;
  /** Default 127.0.0.1: a newcomer's laptop does not expose the demo tokens to the network. Set HOST=0.0.0.0 in containers. */
  host: string;
  /** PostgreSQL URL; absent → embedded PGlite in `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Create one user per role and print fresh tokens at start. Default: on for PGlite, off for PostgreSQL. */
  demoTokens: boolean;
  /** Seed the case data when the database has no claims. Default: on for PGlite, off for PostgreSQL. */
  seed: boolean;
  poolSize: number;
  /** Request body limit in bytes (default 1 MiB). */
  bodyLimit: number;
  /** Requests per minute per client (token, else IP); 0 disables. */
  rateLimitMax: number;
  orgName: string;
  orgUrl: string;
  /** Public base URL used in links (Location is relative; ClaimReview needs absolute URLs). */
  publicUrl: string | undefined;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const value = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      problems.push(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return Number(raw);
  };
  const flag = (name: string, fallback: boolean): boolean => {
    const raw = value(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
    if (['0', 'false', 'no', 'off'].includes(raw)) return false;
    problems.push(`${name} must be 1/0, true/false, yes/no or on/off (got "${raw}")`);
    return fallback;
  };
  const url = (name: string, protocols: string[]): string | undefined => {
    const raw = value(name);
    if (raw === undefined) return undefined;
    try {
      const parsed = new URL(raw);
      if (!protocols.includes(parsed.protocol)) throw new Error('protocol');
      return raw;
    } catch {
      problems.push(`${name} must be a ${protocols.join(' or ')} URL`);
      return undefined;
    }
  };

  const databaseUrl = url('DATABASE_URL', ['postgres:', 'postgresql:']);
  const embedded = value('DATABASE_URL') === undefined;
  const logLevel = (value('LOG_LEVEL') ?? 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${logLevel}")`);
  }
  const host = value('HOST') ?? '127.0.0.1';
  if (!/^[A-Za-z0-9.:_\-[\]]+$/.test(host)) problems.push(`HOST must be a host name or IP address (got "${host}")`);

  const config: Config = {
    port: integer('PORT', 3000, 0, 65535),
    host,
    databaseUrl,
    dataDir: value('DATA_DIR') ?? '.data/pglite',
    logLevel: ((LOG_LEVELS as readonly string[]).includes(logLevel) ? logLevel : 'info') as Config['logLevel'],
    demoTokens: flag('DEMO_TOKENS', embedded),
    seed: flag('SEED', embedded),
    poolSize: integer('DATABASE_POOL_SIZE', 10, 1, 1000),
    bodyLimit: integer('BODY_LIMIT', 1024 * 1024, 1024, 100 * 1024 * 1024),
    rateLimitMax: integer('RATE_LIMIT_MAX', 10_000, 0, 100_000_000),
    orgName: value('ORG_NAME') ?? 'claimtrail',
    orgUrl: url('ORG_URL', ['http:', 'https:']) ?? 'https://claimtrail.dev',
    publicUrl: url('PUBLIC_URL', ['http:', 'https:']),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Defaults for tests and embedding: what loadConfig gives for an empty environment. */
export function defaultConfig(overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({}), ...overrides };
}
