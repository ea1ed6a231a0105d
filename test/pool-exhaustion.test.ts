/**
 * Pool exhaustion and slow queries. The service runs with a pool of 2 (DB_POOL_SIZE=2), a
 * 1 s pool wait (DB_CONNECTION_TIMEOUT_MS) and a 5 s statement timeout
 * (DB_STATEMENT_TIMEOUT_MS), short so the test is quick; another
 * session takes the row lock of one claim (`SELECT … FOR UPDATE` in an open
 * transaction), so writes to that claim hold both pooled connections while they wait.
 * - Phase 1 (queued): more requests than connections. Those that cannot get a connection
 *   within the pool's wait are refused with 503 +
 *   Retry-After; the lock is then released and the blocked writes complete with 200.
 * - Phase 2 (slow query): the lock is held past the statement timeout:
 *   the blocked writes are answered 503 + Retry-After and append nothing; a retry with
 *   the same Idempotency-Key then applies them exactly once.
 * No request hangs (a 90 s hang detector on every call), nothing else is a 5xx, the
 * service stays ready.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { checkIntegrity, prepareDatabase, type Principal } from './support/db.ts';
import { call, type CallResult } from './support/http.ts';
import { Ledger } from './support/ledger.ts';
import { startService, stopAllServices, waitFor, type Service } from './support/service.ts';
import { newCounts, report, tally } from './support/summary.ts';

const pgUp = await requirePostgres();

describe.skipIf(!pgUp)('pool exhaustion and slow queries (pool of 2)', () => {
  let db: TestDatabase;
  let users: Record<'fact_checker' | 'editor' | 'auditor', Principal>;
  let service: Service;
  let locker: pg.Client | undefined;
  const counts = newCounts();
  const ledger = new Ledger(counts);

  beforeAll(async () => {
    db = await createTestDatabase('ct_rel_pool');
    users = await prepareDatabase(db.url);
    service = await startService({ databaseUrl: db.url, env: { DB_POOL_SIZE: '2', DB_CONNECTION_TIMEOUT_MS: '1000', DB_STATEMENT_TIMEOUT_MS: '5000' } });
  });

  afterAll(async () => {
    await locker?.end().catch(() => undefined);
    await stopAllServices();
    await db?.drop();
    report('pool-exhaustion.test.ts', counts);
  });

  async function read(path: string, token: string | null): Promise<CallResult> {
    const res = await call(service.url, path, { token, timeoutMs: 90_000 });
    if (res.status === 0) counts.requests++;
    else tally(counts, res.status, res.headers.get('retry-after'));
    return res;
  }

  async function lockClaim(claimId: string): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: db.url, application_name: 'reliability-locker' });
    await client.connect();
    await client.query('begin');
    await client.query('select id from claims where id = $1 for update', [claimId]);
    counts.faults++;
    return client;
  }

  /** Waits until `n` of the service's backends are waiting on a lock. */
  async function blockedBackends(n: number): Promise<void> {
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      await waitFor(`${n} backends blocked on the row lock`, async () => {
        const { rows } = await admin.query(
          `select count(*)::int as n from pg_stat_activity
            where datname = current_database() and application_name = 'claimtrail' and wait_event_type = 'Lock'`,
        );
        return rows[0].n >= n ? true : undefined;
      });
    } finally {
      await admin.end();
    }
  }

  it('queues or refuses with 503 + Retry-After, never hangs, and recovers', async () => {
    const create = ledger.submit(users.fact_checker.token);
    const created = await ledger.send(service.url, create);
    expect(created.status, created.text).toBe(201);
    const claimId: string = created.json.id;
    // Warm the token cache so the first phase exercises the pool, not authentication.
    for (const u of [users.fact_checker, users.editor, users.auditor]) expect((await read('/me', u.token)).status).toBe(200);

    // Phase 1: two writes hold both connections behind the lock; the rest queue for the pool.
    locker = await lockClaim(claimId);
    const blockedWrites = [ledger.note(users.fact_checker.token, claimId), ledger.note(users.editor.token, claimId)];
    const blocked = blockedWrites.map((w) => ledger.send(service.url, w, 90_000));
    await blockedBackends(2);
    const queued = await Promise.all([
      ...Array.from({ length: 6 }, () => read(`/claims/${claimId}`, users.auditor.token)),
      ...Array.from({ length: 3 }, () => read('/board', users.editor.token)),
      read('/readyz', null),
      ...Array.from({ length: 4 }, () => ledger.send(service.url, ledger.note(users.fact_checker.token, claimId), 90_000)),
    ]);
    for (const res of queued) {
      expect(res.status, `hung or failed: ${res.error}`).not.toBe(0);
      expect([200, 201, 503], res.text).toContain(res.status);
      if (res.status === 503) {
        expect(res.headers.get('retry-after')).toBeTruthy();
        if (res.headers.get('content-type')?.includes('problem')) expect(res.json.code).toBe('service_unavailable');
      }
    }
    expect(queued.filter((r) => r.status === 503).length, 'requests beyond the pool are refused').toBeGreaterThan(0);
    await locker.query('rollback');
    await locker.end();
    locker = undefined;
    for (const res of await Promise.all(blocked)) expect(res.status, res.text).toBe(200);

    // Phase 2: the lock outlives the statement timeout.
    locker = await lockClaim(claimId);
    const slowWrites = [ledger.note(users.fact_checker.token, claimId), ledger.note(users.editor.token, claimId)];
    const slow = slowWrites.map((w) => ledger.send(service.url, w, 90_000));
    await blockedBackends(2);
    const meanwhile = await read(`/claims/${claimId}`, users.auditor.token);
    expect([200, 503]).toContain(meanwhile.status);
    const slowResults = await Promise.all(slow);
    for (const res of slowResults) {
      expect(res.status, `${res.text}\n${service.errorLines()}`).toBe(503);
      expect(res.headers.get('retry-after')).toBeTruthy();
    }
    await locker.query('rollback');
    await locker.end();
    locker = undefined;

    // Refused writes appended nothing; retried with the same key they apply exactly once.
    const refused = await ledger.audit(db.url);
    for (const w of ledger.writes.filter((x) => !x.acked)) expect(refused.perWrite.get(w.marker) ?? 0, w.key).toBe(0);
    for (const w of ledger.writes.filter((x) => !x.acked)) {
      const res = await ledger.send(service.url, w, 90_000);
      expect(res.status, res.text).toBe(200);
    }
    const audit = await ledger.audit(db.url);
    counts.lost += audit.lost.length;
    counts.duplicated += audit.duplicated.length;
    expect(ledger.writes.filter((w) => audit.perWrite.get(w.marker) !== 1).map((w) => w.key)).toEqual([]);

    expect((await read('/readyz', null)).status).toBe(200);
    expect(service.exited()).toBeNull();
    const integrity = await checkIntegrity(db.url);
    counts.events += integrity.events;
    expect(integrity.chainOk).toBe(true);
    expect(integrity.diffs).toEqual([]);
  }, 150_000);
});
