/**
 * Database outage under load, without touching the shared PostgreSQL server: only this
 * test's database is cut off.
 * - Outage 1: `ALTER DATABASE … ALLOW_CONNECTIONS false` and every backend of the
 *   database terminated (`pg_terminate_backend`), held until `/readyz` reports it, then
 *   connections allowed again.
 * - Outage 2: the database's backends terminated over and over for a while (connections
 *   allowed: the pool reconnects between kills).
 * Meanwhile 8 clients write (Idempotency-Key on each, retrying 503s and transport errors
 * with the same key) and two websocket watchers follow the feed: one stays connected, one
 * disconnects during the outage and resumes with `after` once it is over.
 * Then: the process never exited; `/readyz` went 503 and back to 200; writes during the
 * outage were answered 503 + Retry-After (never another 5xx) and writes after it succeed;
 * every acknowledged write is stored exactly once; both watchers saw every position
 * 1..head exactly once, in order; chains verify and projections equal a rebuild.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { adminQuery, expectWholeLog, prepareDatabase, query, terminateBackends, type Principal } from './support/db.ts';
import { call } from './support/http.ts';
import { Ledger, type LogicalWrite } from './support/ledger.ts';
import { sleep, startService, stopAllServices, waitFor, type Service } from './support/service.ts';
import { newCounts, report, tally } from './support/summary.ts';
import { FeedWatcher } from './support/watcher.ts';

const pg = await requirePostgres();
const WRITERS = 8;

describe.skipIf(!pg)('database outage: backends terminated, connections refused', () => {
  let db: TestDatabase;
  let users: Record<'fact_checker' | 'editor' | 'auditor', Principal>;
  let service: Service;
  const counts = newCounts();
  const ledger = new Ledger(counts);
  const watchers: FeedWatcher[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('ct_rel_outage');
    users = await prepareDatabase(db.url);
    service = await startService({ databaseUrl: db.url, env: { DATABASE_POOL_SIZE: '4' } });
  });

  afterAll(async () => {
    for (const w of watchers) await w.close();
    if (db) await adminQuery(`alter database "${db.name}" allow_connections true`).catch(() => undefined);
    await stopAllServices();
    await db?.drop();
    report('database-outage.test.ts', counts);
  });

  /** Sends a write until it is acknowledged; 503 and transport errors are retried with the same key (bounded). */
  async function writeUntilAcked(write: LogicalWrite, unexpected: string[]): Promise<void> {
    for (let attempt = 0; attempt < 150; attempt++) {
      const res = await ledger.send(service.url, write, 30_000);
      if (res.status >= 200 && res.status < 300) return;
      if (res.status === 503) {
        if (!res.headers.get('retry-after')) unexpected.push(`503 without Retry-After: ${res.text}`);
      } else if (res.status !== 0) {
        unexpected.push(`${res.status} ${res.text.slice(0, 300)}`);
        return;
      }
      await sleep(200);
    }
    unexpected.push(`${write.key}: not acknowledged after 150 attempts`);
  }

  async function readyz(): Promise<{ status: number; body: any }> {
    const res = await call(service.url, '/readyz', { timeoutMs: 30_000 });
    tally(counts, res.status, res.headers.get('retry-after'));
    return { status: res.status, body: res.json };
  }

  it('reports the outage, never exits, recovers, and loses or repeats nothing', async () => {
    const unexpected: string[] = [];
    const baseClaims: string[] = [];
    for (let i = 0; i < 4; i++) {
      const write = ledger.submit(users.fact_checker.token);
      await writeUntilAcked(write, unexpected);
      baseClaims.push(write.acked!.view.id);
    }
    expect((await readyz()).status).toBe(200);

    const steady = new FeedWatcher(service.url, users.auditor.token);
    const resumer = new FeedWatcher(service.url, users.editor.token);
    watchers.push(steady, resumer);
    await steady.connect(0);
    await resumer.connect(0);

    let stop = false;
    const workers = Array.from({ length: WRITERS }, async (_, worker) => {
      for (let i = 0; !stop && i < 5000; i++) {
        const token = worker % 2 === 0 ? users.fact_checker.token : users.editor.token;
        const write = i % 4 === 0 ? ledger.submit(token) : ledger.note(token, baseClaims[(worker + i) % baseClaims.length]!);
        await writeUntilAcked(write, unexpected);
      }
    });
    await waitFor('writes before the outage', () => (ledger.acknowledged().length >= 60 ? true : undefined));

    // Outage 1: no connection to this database is possible, and the open ones are cut.
    await resumer.close();
    await adminQuery(`alter database "${db.name}" allow_connections false`);
    counts.faults++;
    await terminateBackends(db.name);
    const readyzSeen: number[] = [];
    const seenDown = await waitFor(
      `/readyz to report the outage (seen: ${readyzSeen.join(',')})`,
      async () => {
        await terminateBackends(db.name);
        const r = await readyz();
        readyzSeen.push(r.status);
        return r.status === 503 ? r : undefined;
      },
      30_000,
      200,
    );
    expect(seenDown.body.status).toBe('database_unavailable');
    // A write while the database is unreachable: refused with 503 + Retry-After, nothing else.
    const during = await call(service.url, '/claims', {
      token: users.fact_checker.token,
      body: { text: 'written during the outage' },
      timeoutMs: 30_000,
    });
    tally(counts, during.status, during.headers.get('retry-after'));
    expect(during.status, `${during.text}\n${service.errorLines()}`).toBe(503);
    expect(during.headers.get('retry-after')).toBeTruthy();
    expect(during.json?.code).toBe('service_unavailable');
    expect(service.exited()).toBeNull();

    await adminQuery(`alter database "${db.name}" allow_connections true`);
    await waitFor('/readyz to report recovery', async () => ((await readyz()).status === 200 ? true : undefined), 60_000, 200);
    const ackedAtRecovery = ledger.acknowledged().length;
    await waitFor('writes after recovery', () => (ledger.acknowledged().length >= ackedAtRecovery + 30 ? true : undefined));
    await resumer.connect(); // resumes after the last position it saw

    // Outage 2: backends killed again and again while the pool keeps reconnecting.
    counts.faults++;
    for (let i = 0; i < 25; i++) {
      counts.faults += (await terminateBackends(db.name)) > 0 ? 1 : 0;
      await sleep(120);
    }
    await waitFor('/readyz after repeated terminations', async () => ((await readyz()).status === 200 ? true : undefined), 60_000, 200);
    const ackedAfter2 = ledger.acknowledged().length;
    await waitFor('writes after the second outage', () => (ledger.acknowledged().length >= ackedAfter2 + 30 ? true : undefined));

    stop = true;
    await Promise.all(workers);
    expect(service.exited(), 'the service must never exit').toBeNull();
    expect(unexpected, 'answers other than 2xx or 503 + Retry-After').toEqual([]);

    // Writes after recovery succeed.
    const fresh = ledger.submit(users.fact_checker.token);
    const res = await ledger.send(service.url, fresh);
    expect(res.status, res.text).toBe(201);

    // Every event positioned by the service itself; then both watchers must have all of them.
    await waitFor('every event positioned', async () => {
      const [row] = await query<{ n: string }>(db.url, 'select count(*) as n from events where position is null');
      return Number(row!.n) === 0 ? true : undefined;
    });
    const [headRow] = await query<{ head: string }>(db.url, 'select max(position) as head from events');
    const head = Number(headRow!.head);
    for (const watcher of [steady, resumer]) {
      if (!watcher.open) await watcher.connect();
      await waitFor(`watcher to reach position ${head}`, () => (watcher.last >= head ? true : undefined), 60_000);
      const check = watcher.check(head);
      expect(check.missing, 'positions never delivered').toEqual([]);
      expect(check.duplicates, 'positions delivered twice').toEqual([]);
      expect(check.outOfOrder).toBe(0);
      counts.events += watcher.positions.length;
    }

    const audit = await ledger.audit(db.url);
    counts.lost += audit.lost.length;
    counts.duplicated += audit.duplicated.length;
    expect(audit.lost.map((w) => w.key)).toEqual([]);
    expect(audit.duplicated.map((w) => w.key)).toEqual([]);
    expect(ledger.writes.every((w) => w.acked)).toBe(true);

    await expectWholeLog(db.url, counts);
    expect(service.exited()).toBeNull();
  });
});
