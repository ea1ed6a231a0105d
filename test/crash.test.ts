/**
 * Crash: the service is a child process on PostgreSQL; 16 clients write concurrently
 * (each write with its own Idempotency-Key), the process is killed with SIGKILL mid-load,
 * twice, and restarted. Then:
 * - every write that got a 2xx is in the event table exactly once (found by a marker in
 *   its body), and no write at all is in it twice;
 * - retrying every write with the same Idempotency-Key answers 2xx: the acknowledged ones
 *   get their original answer back (same view, `Idempotent-Replayed: true`) and append
 *   nothing; the ones cut off by the crash are applied once;
 * - every event gets a position (dense 1..N) even when its writer died before its
 *   sequencer ran, the hash chains verify, and the projections equal a fresh rebuild.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { expectWholeLog, prepareDatabase, type Principal } from './support/db.ts';
import { call, pool } from './support/http.ts';
import { Ledger, sameView, type LogicalWrite } from './support/ledger.ts';
import { startService, stopAllServices, waitFor, type Service } from './support/service.ts';
import { newCounts, report } from './support/summary.ts';

const pg = await requirePostgres();
const CONCURRENCY = 16;
const CRASHES = 2;
/** Acknowledged writes per cycle before the kill (a bound, not a timing). */
const ACKS_BEFORE_KILL = 120;

describe.skipIf(!pg)('crash: SIGKILL under concurrent writes', () => {
  let db: TestDatabase;
  let users: Record<'fact_checker' | 'editor', Principal>;
  const counts = newCounts();
  const ledger = new Ledger(counts);

  beforeAll(async () => {
    db = await createTestDatabase('ct_rel_crash');
    users = await prepareDatabase(db.url);
  });

  afterAll(async () => {
    await stopAllServices();
    await db?.drop();
    report('crash.test.ts', counts);
  });

  it('loses no acknowledged write, duplicates none, and replays the first answer to retries', async () => {
    const baseClaims: string[] = [];
    let service: Service | undefined;

    for (let cycle = 1; cycle <= CRASHES; cycle++) {
      service = await startService({ databaseUrl: db.url });
      // A few claims to add notes to (notes are allowed in every state: no If-Match needed).
      while (baseClaims.length < 6 * cycle) {
        const write = ledger.submit(users.fact_checker.token);
        const res = await ledger.send(service.url, write);
        expect(res.status, res.text).toBe(201);
        baseClaims.push(res.json.id);
      }

      const ackedBefore = ledger.acknowledged().length;
      let stop = false;
      const url = service.url;
      const workers = Array.from({ length: CONCURRENCY }, async (_, worker) => {
        for (let i = 0; !stop && i < 2000; i++) {
          const token = worker % 2 === 0 ? users.fact_checker.token : users.editor.token;
          const write: LogicalWrite =
            (worker + i) % 3 === 0 ? ledger.submit(token) : ledger.note(token, baseClaims[(worker * 7 + i) % baseClaims.length]!);
          const res = await ledger.send(url, write, 30_000);
          // The process is gone: stop this client (its last write's fate is unknown).
          if (res.status === 0) return;
          expect(res.status, res.text).toBeLessThan(300);
        }
      });

      await waitFor('acknowledged writes under load', () =>
        ledger.acknowledged().length - ackedBefore >= ACKS_BEFORE_KILL ? true : undefined,
      );
      service.child.kill('SIGKILL');
      counts.faults++;
      stop = true;
      await Promise.all(workers);
      await waitFor('the killed process to exit', () => (service!.exited() ? true : undefined));
      expect(service.exited()!.signal).toBe('SIGKILL');
    }

    // Before anyone retries: what the crashes left behind.
    const afterCrash = await ledger.audit(db.url);
    counts.lost += afterCrash.lost.length;
    counts.duplicated += afterCrash.duplicated.length;
    expect(afterCrash.lost.map((w) => w.key), 'acknowledged writes missing after the crash').toEqual([]);
    expect(afterCrash.duplicated.map((w) => w.key), 'writes stored twice').toEqual([]);
    const inFlight = ledger.writes.filter((w) => !w.acked);
    expect(inFlight.length, 'the kill should have cut some requests off').toBeGreaterThan(0);

    // Restart and retry every write with its original Idempotency-Key.
    service = await startService({ databaseUrl: db.url });
    const restarted = service;
    const mismatched: string[] = [];
    await pool(ledger.writes, CONCURRENCY, async (write) => {
      const original = write.acked;
      const res = await ledger.send(restarted.url, write);
      expect(res.status, `${write.key}: ${res.text}`).toBeGreaterThanOrEqual(200);
      expect(res.status, `${write.key}: ${res.text}`).toBeLessThan(300);
      if (original) {
        expect(res.status).toBe(original.status);
        expect(res.headers.get('idempotent-replayed'), write.key).toBe('true');
        if (!sameView(res.json, original.view)) mismatched.push(write.key);
        expect(res.headers.get('etag')).toBe(original.etag);
      }
    });
    expect(mismatched, 'retries that did not get the original answer').toEqual([]);

    const afterRetry = await ledger.audit(db.url);
    counts.duplicated += afterRetry.duplicated.length - afterCrash.duplicated.length;
    expect(afterRetry.duplicated.map((w) => w.key)).toEqual([]);
    const notExactlyOnce = ledger.writes.filter((w) => afterRetry.perWrite.get(w.marker) !== 1).map((w) => w.key);
    expect(notExactlyOnce, 'after the retries every write is stored exactly once').toEqual([]);

    // The service itself agrees: its audit endpoint verifies chains and projections.
    const verify = await call(restarted.url, '/audit/verify', { token: users.editor.token });
    counts.requests++;
    expect(verify.status, `${verify.text}\n${restarted.errorLines()}`).toBe(200);
    expect(verify.json.ok, verify.text).toBe(true);

    await restarted.kill('SIGTERM');
    await expectWholeLog(db.url, counts, ledger.writes.length);
  });
});
