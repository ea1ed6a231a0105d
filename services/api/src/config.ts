import { isIP } from 'node:net';
import { loadWebhookConfig, type WebhookConfig } from './webhooks/config.ts';
import { defaultWriteConcurrency } from '@claimtrail/claims';
import { SIGNATURE_TYPE_COSIGNATURE_V1, parseVerifierKey } from '@claimtrail/transparency';
import { parseDeadlines, type DeadlineThresholds } from './desk/deadlines-config.ts';

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
  /**
   * A connection straight to PostgreSQL (DIRECT_DATABASE_URL) for what needs a session of
   * its own: LISTEN (live updates, token revocations), migrations, the whole-log verify and
   * the rebuild (a session advisory lock). Absent: DATABASE_URL serves them too. Required
   * with DATABASE_POOLER=transaction (see docs/scaling.md, "Connection poolers").
   */
  directDatabaseUrl: string | undefined;
  /**
   * What DATABASE_URL leads to (DATABASE_POOLER): `none` (default), or `transaction` — a
   * pooler in transaction mode (PgBouncer `pool_mode = transaction`): no startup
   * parameters, the statement timeout set per transaction, no named prepared statements.
   */
  databasePooler: 'none' | 'transaction';
  /**
   * With DATABASE_POOLER=transaction: the pooler keeps prepared statements across its server
   * connections (DATABASE_POOLER_PREPARED_STATEMENTS; PgBouncer ≥ 1.21 with
   * max_prepared_statements > 0), so named statements are used. Default off.
   */
  poolerPreparedStatements: boolean;
  dataDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Create one user per role and print fresh tokens at start. Default: on for PGlite, off for PostgreSQL. */
  demoTokens: boolean;
  /** Seed the case data when the database has no claims. Default: on for PGlite, off for PostgreSQL. */
  seed: boolean;
  /** PostgreSQL pool size (DB_POOL_SIZE; DATABASE_POOL_SIZE is the older name). */
  poolSize: number;
  /**
   * Group commit: write transactions in flight at once (WRITE_CONCURRENCY; PGlite always
   * 1); commands arriving meanwhile wait and share the next one, at most WRITE_BATCH_MAX
   * (default 64) per transaction. WRITE_BATCH_MAX=1 turns it off. Default concurrency: the
   * cores less one, 1 to 4 (on 2 cores, 1 measured best: bigger batches, less CPU per write).
   */
  writeConcurrency: number;
  writeBatchMax: number;
  /** Per-statement timeout on PostgreSQL (DB_STATEMENT_TIMEOUT_MS); a slow query becomes a 503. */
  statementTimeoutMs: number;
  /** How long a request waits for a pooled connection (DB_CONNECTION_TIMEOUT_MS) before a 503. */
  connectionTimeoutMs: number;
  /** Time allowed to receive a whole request, headers and body (REQUEST_TIMEOUT_MS); 0 = none. */
  requestTimeoutMs: number;
  /** Failed token checks per client IP per window before further checks get 429 (AUTH_FAILURE_MAX); 0 disables. */
  authFailureMax: number;
  authFailureWindowMs: number;
  /** How long a valid token is trusted without a database lookup (AUTH_CACHE_TTL_MS). */
  authCacheTtlMs: number;
  /**
   * Which peers are proxies whose X-Forwarded-For names the client (TRUST_PROXY): false
   * (default: the socket's peer is the client), true (any), a hop count, or addresses/CIDRs.
   * The client address keys the failed-authentication limit and the rate limit.
   */
  trustProxy: TrustProxy;
  /** Request body limit in bytes (default 1 MiB). */
  bodyLimit: number;
  /** Requests per minute per client (token, else IP); 0 disables. */
  rateLimitMax: number;
  /**
   * How long a read that carries a `Consistency-Token` waits for this instance to catch up
   * to it (CONSISTENCY_WAIT_MS, default 2000) before it is answered 503 `not_caught_up`.
   */
  consistencyWaitMs: number;
  /**
   * Read replicas of the primary (READ_DATABASE_URL, comma-separated PostgreSQL URLs, one
   * server each): lists, search, the board, the feed, history, the NDJSON export and
   * websocket catch-up read there (see read-replicas.ts). Empty: every read on the primary.
   */
  readDatabaseUrls: readonly string[];
  /** A replica further behind than this leaves the rotation (READ_REPLICA_MAX_LAG_MS, default 5000). */
  readReplicaMaxLagMs: number;
  /**
   * How long a read that needs a position (a Consistency-Token, a websocket replay) waits
   * for a replica to replay it before it reads the primary (READ_REPLICA_WAIT_MS, default 50).
   */
  readReplicaWaitMs: number;
  orgName: string;
  orgUrl: string;
  /** Public base URL used in links (Location is relative; ClaimReview needs absolute URLs). */
  publicUrl: string | undefined;
  /** Signed checkpoints of the log's Merkle tree (docs/transparency.md): the signer key file, the cadence, the witnesses' keys. */
  checkpointKeyFile: string | undefined;
  checkpointIntervalMs: number;
  witnessKeys: readonly string[];
  /** Webhook delivery (WEBHOOK_*): webhooks/config.ts. */
  webhooks: WebhookConfig;
  /** DESK_DEADLINES: per-state ageing thresholds in ms (docs/desk-operations.md); DESK_DEADLINE_CHECK_MS: how often the deadline watcher looks (0: never, tests drive it). */
  deskDeadlines: DeadlineThresholds;
  deskDeadlineCheckMs: number;
}

export type TrustProxy = boolean | number | readonly string[];

/** proxy-addr's named ranges, accepted in TRUST_PROXY lists. */
const PROXY_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** One TRUST_PROXY list entry: an IP address, an address/prefix, or a named range. */
function isProxyAddress(entry: string): boolean {
  if (PROXY_RANGE_NAMES.has(entry)) return true;
  const slash = entry.indexOf('/');
  const address = slash === -1 ? entry : entry.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return false;
  if (slash === -1) return true;
  const prefix = entry.slice(slash + 1);
  return /^\d{1,3}$/.test(prefix) && Number(prefix) >= 1 && Number(prefix) <= (version === 4 ? 32 : 128);
}

/**
 * Fastify's `trustProxy` for the configured value. A hop count trusts that many proxies
 * in front of the service whatever their address (Fastify alone would trust none), so it
 * is only safe when the service cannot be reached except through them.
 */
export function fastifyTrustProxy(value: TrustProxy): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof value === 'number') return (_address, hop) => hop < value;
  return typeof value === 'boolean' ? value : [...value];
}

/** WITNESS_KEYS: comma-separated witness verifier keys (`name+keyid+base64(0x04||key)`, C2SP tlog-cosignature). */
function witnessKeys(raw: string | undefined, problems: string[]): string[] {
  if (raw === undefined) return [];
  const entries = raw.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  entries.forEach((entry, i) => {
    try {
      if (parseVerifierKey(entry).type !== SIGNATURE_TYPE_COSIGNATURE_V1) throw new Error('not a cosignature key');
    } catch {
      problems.push(`WITNESS_KEYS entry ${i + 1} is not a witness verifier key (<name>+<key id>+<base64 of 0x04 and an Ed25519 key>)`);
    }
  });
  return entries;
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
  const directDatabaseUrl = url('DIRECT_DATABASE_URL', ['postgres:', 'postgresql:']);
  if (embedded && value('DIRECT_DATABASE_URL') !== undefined) problems.push('DIRECT_DATABASE_URL needs DATABASE_URL (the embedded database has no pooler in front)');
  const databasePooler = (): Config['databasePooler'] => {
    const raw = value('DATABASE_POOLER')?.toLowerCase() ?? 'none';
    if (raw !== 'none' && raw !== 'transaction') {
      problems.push(`DATABASE_POOLER must be none or transaction (got "${raw}")`);
      return 'none';
    }
    if (raw === 'transaction' && embedded) problems.push('DATABASE_POOLER=transaction needs DATABASE_URL (the pooler\'s address)');
    else if (raw === 'transaction' && value('DIRECT_DATABASE_URL') === undefined) {
      problems.push(
        'DATABASE_POOLER=transaction needs DIRECT_DATABASE_URL, a connection straight to PostgreSQL: LISTEN (live updates), migrations and the rebuild need a session of their own, which a transaction pooler does not give',
      );
    }
    return raw;
  };
  const pooler = databasePooler();
  const poolerPreparedStatements = flag('DATABASE_POOLER_PREPARED_STATEMENTS', false);
  if (poolerPreparedStatements && pooler !== 'transaction') problems.push('DATABASE_POOLER_PREPARED_STATEMENTS applies to DATABASE_POOLER=transaction only');
  const logLevel = (value('LOG_LEVEL') ?? 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${logLevel}")`);
  }
  const host = value('HOST') ?? '127.0.0.1';
  if (!/^[A-Za-z0-9.:_\-[\]]+$/.test(host)) problems.push(`HOST must be a host name or IP address (got "${host}")`);

  const poolSize = (): number => {
    const preferred = integer('DB_POOL_SIZE', 10, 1, 1000);
    const legacy = integer('DATABASE_POOL_SIZE', 10, 1, 1000);
    if (value('DB_POOL_SIZE') !== undefined && value('DATABASE_POOL_SIZE') !== undefined && preferred !== legacy) {
      problems.push(`DB_POOL_SIZE (${preferred}) and DATABASE_POOL_SIZE (${legacy}) disagree; set one`);
    }
    return value('DB_POOL_SIZE') !== undefined ? preferred : legacy;
  };
  // 0 disables; otherwise at least 1 s (a shorter one would cut off ordinary uploads).
  const requestTimeout = (): number => {
    const ms = integer('REQUEST_TIMEOUT_MS', 30_000, 0, 3_600_000);
    if (ms > 0 && ms < 1000) {
      problems.push(`REQUEST_TIMEOUT_MS must be 0 (none) or at least 1000 (got "${ms}")`);
      return 30_000;
    }
    return ms;
  };

  const trustProxy = (): TrustProxy => {
    const raw = value('TRUST_PROXY');
    if (raw === undefined || raw.toLowerCase() === 'false') return false;
    if (raw.toLowerCase() === 'true') return true;
    if (/^\d+$/.test(raw)) {
      if (Number(raw) >= 1 && Number(raw) <= 100) return Number(raw);
      problems.push(`TRUST_PROXY as a hop count must be from 1 to 100 (got "${raw}")`);
      return false;
    }
    const entries = raw.split(',').map((entry) => entry.trim());
    const bad = entries.filter((entry) => !isProxyAddress(entry));
    if (bad.length > 0) {
      problems.push(
        `TRUST_PROXY must be true, false, a hop count, or a comma-separated list of IP addresses, CIDRs (10.0.0.0/8) and loopback/linklocal/uniquelocal; not valid: ${bad.map((entry) => `"${entry}"`).join(', ')}`,
      );
      return false;
    }
    return entries;
  };

  // Each entry is checked like DATABASE_URL; an entry is named by its place, never echoed (it may hold a password).
  const readDatabaseUrls = (): string[] => {
    const raw = value('READ_DATABASE_URL');
    if (raw === undefined) return [];
    const entries = raw.split(',').map((entry) => entry.trim());
    const bad = entries.flatMap((entry, i) => {
      try {
        return ['postgres:', 'postgresql:'].includes(new URL(entry).protocol) ? [] : [i + 1];
      } catch {
        return [i + 1];
      }
    });
    if (bad.length > 0) problems.push(`READ_DATABASE_URL must be a comma-separated list of postgres: or postgresql: URLs (not one: entry ${bad.join(', ')})`);
    if (embedded) problems.push('READ_DATABASE_URL needs DATABASE_URL: read replicas are standbys of a PostgreSQL primary');
    return bad.length > 0 ? [] : entries;
  };

  const deskDeadlines = (): DeadlineThresholds => {
    const parsed = parseDeadlines(value('DESK_DEADLINES'));
    if ('problem' in parsed) problems.push(parsed.problem);
    return 'thresholds' in parsed ? parsed.thresholds : {};
  };

  const config: Config = {
    port: integer('PORT', 3000, 0, 65535),
    host,
    databaseUrl,
    directDatabaseUrl,
    databasePooler: pooler,
    poolerPreparedStatements,
    dataDir: value('DATA_DIR') ?? '.data/pglite',
    logLevel: ((LOG_LEVELS as readonly string[]).includes(logLevel) ? logLevel : 'info') as Config['logLevel'],
    demoTokens: flag('DEMO_TOKENS', embedded),
    seed: flag('SEED', embedded),
    poolSize: poolSize(),
    writeConcurrency: integer('WRITE_CONCURRENCY', defaultWriteConcurrency(), 1, 256),
    writeBatchMax: integer('WRITE_BATCH_MAX', 64, 1, 1000),
    statementTimeoutMs: integer('DB_STATEMENT_TIMEOUT_MS', 30_000, 100, 3_600_000),
    connectionTimeoutMs: integer('DB_CONNECTION_TIMEOUT_MS', 5_000, 100, 600_000),
    requestTimeoutMs: requestTimeout(),
    authFailureMax: integer('AUTH_FAILURE_MAX', 30, 0, 1_000_000),
    authFailureWindowMs: integer('AUTH_FAILURE_WINDOW_MS', 60_000, 1_000, 86_400_000),
    authCacheTtlMs: integer('AUTH_CACHE_TTL_MS', 5_000, 0, 300_000),
    trustProxy: trustProxy(),
    bodyLimit: integer('BODY_LIMIT', 1024 * 1024, 1024, 100 * 1024 * 1024),
    rateLimitMax: integer('RATE_LIMIT_MAX', 10_000, 0, 100_000_000),
    consistencyWaitMs: integer('CONSISTENCY_WAIT_MS', 2_000, 0, 60_000),
    readDatabaseUrls: readDatabaseUrls(),
    readReplicaMaxLagMs: integer('READ_REPLICA_MAX_LAG_MS', 5_000, 1, 3_600_000),
    readReplicaWaitMs: integer('READ_REPLICA_WAIT_MS', 50, 0, 60_000),
    orgName: value('ORG_NAME') ?? 'claimtrail',
    orgUrl: url('ORG_URL', ['http:', 'https:']) ?? 'https://claimtrail.dev',
    publicUrl: url('PUBLIC_URL', ['http:', 'https:']),
    checkpointKeyFile: value('CHECKPOINT_KEY_FILE'),
    checkpointIntervalMs: integer('CHECKPOINT_INTERVAL_MS', 2_000, 100, 3_600_000),
    witnessKeys: witnessKeys(value('WITNESS_KEYS'), problems),
    webhooks: loadWebhookConfig(env, problems),
    deskDeadlines: deskDeadlines(),
    deskDeadlineCheckMs: integer('DESK_DEADLINE_CHECK_MS', 60_000, 0, 86_400_000),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Defaults for tests and embedding: what loadConfig gives for an empty environment. */
export function defaultConfig(overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({}), ...overrides };
}
