/**
 * The service through Debian's PgBouncer in transaction mode (its own configuration on a
 * loopback port, three server connections for two instances; test/support/pgbouncer.ts):
 * DATABASE_URL is PgBouncer's address with DATABASE_POOLER=transaction, DIRECT_DATABASE_URL
 * the server itself.
 * - Without DATABASE_POOLER the service refuses to start and says what to set; with it but
 *   without DIRECT_DATABASE_URL the configuration is refused.
 * - Two instances, writes and reads alternating between them (each read on the other
 *   instance, with the write's Consistency-Token), list and feed reads: every answer 2xx,
 *   every acknowledged write stored once, and a websocket watcher on each instance receives
 *   every event of both (the sequencer's NOTIFY reaches LISTEN connections that are direct:
 *   PgBouncer lists no LISTEN client).
 * - The statement timeout holds through the pooler: a list read blocked by a lock is
 *   cancelled after DB_STATEMENT_TIMEOUT_MS (503), a pooled connection shows the timeout in
 *   and outside transactions, and nothing of it is left on PgBouncer's server connections.
 * - The whole-log verify (a rebuild under a session advisory lock) runs on the direct URL.
 * Then the log is checked whole: dense positions, hash chains, projections equal to a rebuild.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { CompiledQuery } from 'kysely';
import { openDatabase, type Database } from '@claimtrail/event-store';
import { createTestDatabase, requirePostgres, serverUrl, type TestDatabase } from '@claimtrail/testing';
import { expectWholeLog, prepareDatabase, query, type Principal } from './support/db.ts';
import { call, type CallResult } from './support/http.ts';
import { Ledger, type LogicalWrite } from './support/ledger.ts';
import { pgbouncerBinary, startPgBouncer, type PgBouncer } from './support/pgbouncer.ts';
import { startService, stopAllServices, waitFor, type Service } from './support/service.ts';
import { newCounts, report, tally } from './support/summary.ts';
import { FeedWatcher } from './support/watcher.ts';
import { loadConfig } from '../services/api/src/config.ts';

const available = await requirePostgres();
if (process.env.CI && !pgbouncerBinary()) throw new Error("pgbouncer is required in CI (.ci/run installs Debian's pgbouncer)");

const STATEMENT_TIMEOUT_MS = 5000;
const LANES = 6;
const WRITES_PER_LANE = 40;

/** A query on PgBouncer's admin console (simple protocol only). */
async function adminConsole<T>(bouncer: PgBouncer, text: string): Promise<T[]> {
  const client = new pg.Client({ host: '127.0.0.1', port: bouncer.port, user: new URL(serverUrl()).username || 'postgres', database: 'pgbouncer' });
  await client.connect();
  try {
    return (await client.query(text)).rows as T[];
  } finally {
    await client.end();
  }
}

describe('pooler settings (configuration only)', () => {
  const url = 'postgres://app@pgbouncer.internal:6432/claimtrail';
  const direct = 'postgres://app@db.internal:5432/claimtrail';
  it('are checked together, each problem by name', () => {
    expect(loadConfig({ DATABASE_URL: url, DATABASE_POOLER: 'transaction', DIRECT_DATABASE_URL: direct })).toMatchObject({
      databaseUrl: url,
      directDatabaseUrl: direct,
      databasePooler: 'transaction',
      poolerPreparedStatements: false,
    });
    expect(loadConfig({ DATABASE_URL: url })).toMatchObject({ databasePooler: 'none', directDatabaseUrl: undefined });
    expect(() => loadConfig({ DATABASE_URL: url, DATABASE_POOLER: 'transaction' })).toThrow(/DATABASE_POOLER=transaction needs DIRECT_DATABASE_URL/);
    expect(() => loadConfig({ DATABASE_POOLER: 'transaction', DIRECT_DATABASE_URL: direct })).toThrow(/needs DATABASE_URL/);
    expect(() => loadConfig({ DATABASE_URL: url, DATABASE_POOLER: 'statement' })).toThrow(/DATABASE_POOLER must be none or transaction/);
    expect(() => loadConfig({ DATABASE_URL: url, DATABASE_POOLER_PREPARED_STATEMENTS: '1' })).toThrow(/applies to DATABASE_POOLER=transaction only/);
    expect(() => loadConfig({ DATABASE_URL: url, DIRECT_DATABASE_URL: 'mysql://x' })).toThrow(/DIRECT_DATABASE_URL must be a postgres: or postgresql: URL/);
  });
});

describe.skipIf(!available || !pgbouncerBinary())('the service through PgBouncer in transaction mode', () => {
  let db: TestDatabase;
  let users: Record<'fact_checker' | 'editor' | 'auditor', Principal>;
  let bouncer: PgBouncer;
  let pooledUrl: string;
  const services: Service[] = [];
  const watchers: FeedWatcher[] = [];
  const counts = newCounts();
  const ledger = new Ledger(counts);
  let pooled: Database | undefined;

  const env = (extra: Record<string, string> = {}) => ({
    DATABASE_POOLER: 'transaction',
    DIRECT_DATABASE_URL: db.url,
    DB_POOL_SIZE: '8',
    DB_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
    RATE_LIMIT_MAX: '0',
    LOG_LEVEL: 'warn',
    ...extra,
  });

  beforeAll(async () => {
    db = await createTestDatabase('ct_rel_pgbouncer');
    users = await prepareDatabase(db.url);
    const server = new URL(serverUrl());
    bouncer = await startPgBouncer({
      upstream: { host: server.hostname, port: Number(server.port || 5432) },
      user: server.username || 'postgres',
      poolSize: 3,
    });
    pooledUrl = bouncer.urlFor(db.url);
  }, 60_000);

  afterAll(async () => {
    for (const watcher of watchers) await watcher.close();
    await pooled?.close();
    await stopAllServices();
    await bouncer?.stop();
    await db?.drop();
    report('pgbouncer.test.ts', counts);
  });

  it('refuses to start through the pooler unless told, and names what to set', async () => {
    const unannounced = await startService({ databaseUrl: pooledUrl, env: { LOG_LEVEL: 'warn' } }).then(
      () => 'started',
      (error: Error) => error.message,
    );
    expect(unannounced).toMatch(/unsupported startup parameter/);
    expect(unannounced).toMatch(/Set DATABASE_POOLER=transaction and DIRECT_DATABASE_URL/);
    const withoutDirect = await startService({ databaseUrl: pooledUrl, env: { LOG_LEVEL: 'warn', DATABASE_POOLER: 'transaction' } }).then(
      () => 'started',
      (error: Error) => error.message,
    );
    expect(withoutDirect).toMatch(/"code":2/);
    expect(withoutDirect).toMatch(/DATABASE_POOLER=transaction needs DIRECT_DATABASE_URL/);
  }, 120_000);

  it('writes and reads on two instances: no error, every write once, live updates reach both', async () => {
    services.push(...(await Promise.all([startService({ databaseUrl: pooledUrl, env: env() }), startService({ databaseUrl: pooledUrl, env: env() })])));
    for (const service of services) {
      const watcher = new FeedWatcher(service.url, users.editor.token);
      await watcher.connect(0);
      watchers.push(watcher);
    }
    const failures: string[] = [];
    const check = (what: string, res: CallResult) => {
      tally(counts, res.status, res.headers.get('retry-after'));
      if (res.status < 200 || res.status >= 300) failures.push(`${what}: ${res.status} ${res.error ?? res.text.slice(0, 300)}`);
      return res;
    };
    const send = async (url: string, write: LogicalWrite) => {
      const res = await ledger.send(url, write, 60_000);
      if (res.status < 200 || res.status >= 300) failures.push(`${write.kind} ${write.key}: ${res.status} ${res.error ?? res.text.slice(0, 300)}`);
      return res;
    };

    await Promise.all(
      Array.from({ length: LANES }, async (_, lane) => {
        const created = await send(services[lane % 2]!.url, ledger.submit(users.fact_checker.token));
        const claimId = created.json?.id as string | undefined;
        if (!claimId) return;
        for (let i = 0; i < WRITES_PER_LANE; i++) {
          const writer = services[(lane + i) % 2]!;
          const reader = services[(lane + i + 1) % 2]!;
          const written = await send(writer.url, ledger.note(users.editor.token, claimId));
          const token = written.headers.get('consistency-token');
          if (!token) continue;
          const read = check('read', await call(reader.url, `/claims/${claimId}`, { token: users.editor.token, headers: { 'consistency-token': token } }));
          if (read.status === 200 && read.json.version !== written.json.version) {
            failures.push(`claim ${claimId}: wrote version ${written.json.version} on ${writer.port}, read ${read.json.version} on ${reader.port}`);
          }
          if (i % 5 === 0) {
            check('list', await call(reader.url, '/claims?limit=20', { token: users.editor.token }));
            check('feed', await call(reader.url, `/events?after=${Math.max(0, Number(token) - 10)}`, { token: users.editor.token }));
          }
        }
      }),
    );
    expect(failures, 'answers other than 2xx through PgBouncer').toEqual([]);

    const audit = await ledger.audit(db.url);
    counts.lost += audit.lost.length;
    counts.duplicated += audit.duplicated.length;
    expect(audit.lost.map((w) => w.key), 'acknowledged writes missing').toEqual([]);
    expect(audit.duplicated.map((w) => w.key), 'writes stored twice').toEqual([]);
    expect(ledger.acknowledged().length).toBe(LANES * (WRITES_PER_LANE + 1));

    // Each instance's watcher gets every event, its own instance's and the other's.
    const head = Number((await query<{ head: string }>(db.url, 'select max(position) as head from events'))[0]!.head);
    await waitFor('both watchers at the head', () => (watchers.every((w) => w.last >= head) ? true : undefined), 30_000);
    for (const [i, watcher] of watchers.entries()) {
      expect(watcher.check(head), `watcher on instance ${i + 1}`).toEqual({ missing: [], duplicates: [], outOfOrder: 0 });
      expect(watcher.errors).toEqual([]);
    }
    counts.events += watchers.reduce((n, w) => n + w.positions.length, 0);

    // The traffic went through PgBouncer; the LISTEN connections did not (they are direct).
    const stats = await adminConsole<{ database: string; total_xact_count: string }>(bouncer, 'show stats');
    const transactions = Number(stats.find((row) => row.database === db.name)?.total_xact_count ?? 0);
    expect(transactions).toBeGreaterThan(ledger.writes.length);
    const clients = await adminConsole<{ database: string; application_name: string }>(bouncer, 'show clients');
    const ours = clients.filter((client) => client.database === db.name);
    expect(ours.some((client) => client.application_name === 'claimtrail')).toBe(true);
    expect(ours.filter((client) => client.application_name === 'claimtrail-listen')).toEqual([]);
    const listening = await query<{ n: number }>(
      db.url,
      `select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = 'claimtrail-listen'`,
    );
    expect(listening[0]!.n).toBeGreaterThanOrEqual(2);
    expect(services.map((s) => s.errorLines())).toEqual(['', '']);
  }, 240_000);

  it('enforces the statement timeout through the pooler and leaves nothing on its server connections', async () => {
    // A list read behind a lock: cancelled by the statement timeout (503), not left waiting.
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    let blocked: CallResult;
    try {
      await locker.query('begin');
      await locker.query('lock table claims in access exclusive mode');
      blocked = await call(services[0]!.url, '/claims?limit=5', { token: users.editor.token, timeoutMs: 60_000 });
    } finally {
      await locker.query('rollback').catch(() => undefined);
      await locker.end();
    }
    expect(blocked.status, blocked.text).toBe(503);
    expect(blocked.headers.get('retry-after')).toBeTruthy();
    await waitFor('the cancellation in the log', () => (/statement timeout/.test(services[0]!.output()) ? true : undefined), 10_000);
    counts.faults++;
    counts.unavailable++;
    counts.requests++;
    expect(check200(await call(services[0]!.url, '/claims?limit=5', { token: users.editor.token }))).toBe(200);

    // A pooled connection as the service opens it: the timeout in and outside transactions.
    pooled = await openDatabase({ databaseUrl: pooledUrl, pooler: 'transaction', sessionUrl: db.url, statementTimeoutMs: 1500, poolSize: 2 });
    const raw = (text: string) => CompiledQuery.raw(text);
    expect((await pooled.db.executeQuery(raw('show statement_timeout'))).rows).toEqual([{ statement_timeout: '1500ms' }]);
    const inTransaction = await pooled.db.transaction().execute(async (tx) => {
      await tx.executeQuery(raw('select 1'));
      return (await tx.executeQuery(raw('show statement_timeout'))).rows;
    });
    expect(inTransaction).toEqual([{ statement_timeout: '1500ms' }]);
    await expect(pooled.db.executeQuery(raw('select pg_sleep(10)'))).rejects.toMatchObject({ code: '57014' });

    // A plain client on PgBouncer's server connections (three, used by everything above) sees the server's default.
    for (let i = 0; i < 6; i++) {
      const plain = new pg.Client({ connectionString: pooledUrl });
      await plain.connect();
      try {
        expect((await plain.query('show statement_timeout')).rows[0]).toEqual({ statement_timeout: '0' });
      } finally {
        await plain.end();
      }
    }
  }, 120_000);

  it('runs the whole-log verify (a rebuild under a session lock) on the direct connection', async () => {
    const res = await call(services[1]!.url, '/audit/verify', { token: users.auditor.token, timeoutMs: 120_000 });
    tally(counts, res.status, res.headers.get('retry-after'));
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({ ok: true, projections: { differences: 0 } });

    for (const service of services) await service.kill('SIGTERM');
    await expectWholeLog(db.url, counts, ledger.writes.length);
  }, 180_000);

  function check200(res: CallResult): number {
    tally(counts, res.status, res.headers.get('retry-after'));
    return res.status;
  }
});
