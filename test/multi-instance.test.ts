/**
 * Three instances of the service on one PostgreSQL database behind nginx (its own
 * configuration on a loopback port: round robin, websockets proxied; test/support/nginx.ts),
 * writers and websocket watchers through nginx, one instance killed with SIGKILL mid-run:
 * - every watcher (the typed client, `@claimtrail/client`, resuming after its socket
 *   dropped) sees every event of its channel exactly once, in position order;
 * - every acknowledged write is in the log exactly once; writes cut off by the kill (a 502
 *   from nginx, or no answer) are retried with their Idempotency-Key until acknowledged, and
 *   then every write is in the log exactly once;
 * - 300 write → read pairs on different instances (addressed directly), each read sending
 *   its write's Consistency-Token, return the written version every time, though the reading
 *   instance holds the claim's previous version in memory.
 * Then the log is checked whole: dense positions, hash chains, projections equal to a rebuild.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LiveConnection, type EventMessage, type WebSocketConstructor } from '@claimtrail/client';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { expectWholeLog, prepareDatabase, query, type Principal } from './support/db.ts';
import { call, type CallResult } from './support/http.ts';
import { Ledger, type LogicalWrite } from './support/ledger.ts';
import { nginxBinary, startNginx, type Nginx } from './support/nginx.ts';
import { sleep, startService, stopAllServices, waitFor, type Service } from './support/service.ts';
import { newCounts, report, tally } from './support/summary.ts';

const pg = await requirePostgres();
const INSTANCES = 3;
const WRITERS = 8;
/** Acknowledged writes before the kill, and after it (bounds, not timings). */
const ACKS_BEFORE_KILL = 80;
const ACKS_AFTER_KILL = 120;
const PAIRS = 300;
/** Write → read lanes run side by side, each on a claim of its own. */
const LANES = 3;

/** A claim channel or the feed, watched through nginx by the typed client. */
interface Watcher {
  label: string;
  channel: 'feed' | 'claim';
  claimId?: string;
  live: LiveConnection;
  positions: number[];
  reconnects: number;
}

/** An answer that says the request may be sent again with its key: nginx's 502/504, no answer, a 503. */
function retryable(res: CallResult): boolean {
  return res.status === 0 || res.status === 502 || res.status === 503 || res.status === 504;
}

describe.skipIf(!pg || !nginxBinary())('several instances behind nginx', () => {
  let db: TestDatabase;
  let users: Record<'fact_checker' | 'editor', Principal>;
  let services: Service[] = [];
  let nginx: Nginx | undefined;
  const watchers: Watcher[] = [];
  const counts = newCounts();
  // The ledger's own tally would count nginx's 502s as the service's 5xx: counted here instead.
  const ledger = new Ledger(newCounts());
  let proxy502 = 0;

  beforeAll(async () => {
    db = await createTestDatabase('ct_rel_multi');
    users = await prepareDatabase(db.url);
    services = await Promise.all(
      Array.from({ length: INSTANCES }, () =>
        startService({ databaseUrl: db.url, env: { LOG_LEVEL: 'warn', RATE_LIMIT_MAX: '0', TRUST_PROXY: 'loopback' } }),
      ),
    );
    nginx = await startNginx({ upstreams: services.map((s) => `127.0.0.1:${s.port}`), balance: 'round-robin' });
  }, 180_000);

  afterAll(async () => {
    for (const watcher of watchers) watcher.live.close();
    await nginx?.stop();
    await stopAllServices();
    await db?.drop();
    report('multi-instance.test.ts', counts);
  });

  /** One write through `url`, retried with its key until acknowledged. */
  async function acknowledge(url: string, write: LogicalWrite): Promise<CallResult> {
    for (let attempt = 1; ; attempt++) {
      const res = await ledger.send(url, write, 20_000);
      if (res.status !== 0) tally(counts, res.status, res.headers.get('retry-after'));
      else counts.requests++;
      if (res.status === 502 && /nginx/i.test(res.headers.get('server') ?? '')) {
        proxy502++;
        counts.serverErrors--;
      }
      if (res.status >= 200 && res.status < 300) return res;
      if (!retryable(res) || attempt >= 50) throw new Error(`${write.key}: ${res.status} ${res.text.slice(0, 300)}`);
      await sleep(Math.min(1000, 20 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2));
    }
  }

  function watch(label: string, channel: 'feed' | 'claim', after: number, claimId?: string): Watcher {
    const watcher: Watcher = {
      label,
      channel,
      ...(claimId ? { claimId } : {}),
      live: new LiveConnection({
        url: `${nginx!.url.replace(/^http/, 'ws')}/ws`,
        token: users.editor.token,
        WebSocket: WebSocket as unknown as WebSocketConstructor,
        reconnectDelayMs: 50,
        maxReconnectDelayMs: 1000,
      }),
      positions: [],
      reconnects: 0,
    };
    watcher.live.onStatus((status) => {
      if (status === 'reconnecting') watcher.reconnects++;
    });
    watcher.live.subscribe({ channel, ...(claimId ? { claimId } : {}), after }, { onEvent: (m: EventMessage) => watcher.positions.push(m.position) });
    watchers.push(watcher);
    return watcher;
  }

  it('loses and repeats nothing when an instance is killed, and reads of a write on another instance see it', async () => {
    const proxy = nginx!.url;
    const claims: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await acknowledge(proxy, ledger.submit(users.fact_checker.token));
      claims.push(res.json.id);
    }
    const start = Number((await query<{ head: string | null }>(db.url, 'select max(position) as head from events'))[0]!.head ?? 0);

    // Watchers connect one after another: round robin spreads them over the instances.
    watch('feed #1', 'feed', start);
    watch('feed #2', 'feed', start);
    watch('feed #3', 'feed', start);
    for (const [i, claimId] of claims.entries()) watch(`claim ${i}`, 'claim', start, claimId);
    await waitFor('every watcher connected', () => (watchers.every((w) => w.live.status === 'open') ? true : undefined), 30_000);

    let stop = false;
    const writing = Array.from({ length: WRITERS }, async (_, n) => {
      for (let i = 0; !stop; i++) {
        const token = n % 2 === 0 ? users.fact_checker.token : users.editor.token;
        const write = (n + i) % 5 === 0 ? ledger.submit(token) : ledger.note(token, claims[(n * 7 + i) % claims.length]!);
        await acknowledge(proxy, write);
      }
    });

    await waitFor('writes before the kill', () => (ledger.acknowledged().length >= ACKS_BEFORE_KILL ? true : undefined));
    const victim = services[INSTANCES - 1]!;
    victim.child.kill('SIGKILL');
    counts.faults++;
    const ackedAtKill = ledger.acknowledged().length;
    await waitFor('writes after the kill', () => (ledger.acknowledged().length - ackedAtKill >= ACKS_AFTER_KILL ? true : undefined));
    stop = true;
    await Promise.all(writing);
    expect(victim.exited()?.signal).toBe('SIGKILL');

    // Every write was retried until acknowledged: each is in the log exactly once.
    const audit = await ledger.audit(db.url);
    counts.lost += audit.lost.length;
    counts.duplicated += audit.duplicated.length;
    expect(audit.lost.map((w) => w.key), 'acknowledged writes missing').toEqual([]);
    expect(audit.duplicated.map((w) => w.key), 'writes stored twice').toEqual([]);
    expect(ledger.writes.filter((w) => audit.perWrite.get(w.marker) !== 1).map((w) => w.key)).toEqual([]);
    expect(ledger.writes.every((w) => w.acked)).toBe(true);

    // Every watcher, resumed after its instance died where it had to, has its channel's events once, in order.
    const events = await query<{ position: string; stream_id: string }>(db.url, 'select position, stream_id from events where position > $1 order by position', [start]);
    const head = Number(events.at(-1)!.position);
    const expected = (w: Watcher) =>
      events.filter((e) => w.channel === 'feed' || e.stream_id === `claim-${w.claimId}`).map((e) => Number(e.position));
    await waitFor(
      'every watcher at the head',
      () => (watchers.every((w) => (w.positions.at(-1) ?? start) >= Math.max(start, ...expected(w).slice(-1))) ? true : undefined),
      30_000,
    );
    for (const watcher of watchers) {
      expect(watcher.positions, `${watcher.label}: every event of its channel once, in position order`).toEqual(expected(watcher));
    }
    counts.events += watchers.reduce((n, w) => n + w.positions.length, 0);
    const resumed = watchers.filter((w) => w.reconnects > 0);
    expect(resumed.length, 'watchers on the killed instance reconnected and resumed').toBeGreaterThan(0);
    expect(head).toBeGreaterThan(start);

    // 300 write → read pairs on different instances, the read with the write's token. The
    // reader holds the claim's previous version in memory (it read it in the pair before).
    const alive = services.filter((s) => s !== victim);
    const lanes = await Promise.all(
      Array.from({ length: LANES }, async (_, lane) => {
        const created = await acknowledge(alive[lane % 2]!.url, ledger.submit(users.fact_checker.token));
        const claimId: string = created.json.id;
        const mismatches: string[] = [];
        for (let i = 0; i < PAIRS / LANES; i++) {
          const writer = alive[(lane + i) % 2]!;
          const reader = alive[(lane + i + 1) % 2]!;
          const written = await acknowledge(writer.url, ledger.note(users.editor.token, claimId));
          const version = written.json.version as number;
          const token = written.headers.get('consistency-token');
          expect(token, 'a write answers with its consistency token').toMatch(/^\d+$/);
          const read = await call(reader.url, `/claims/${claimId}`, { token: users.editor.token, headers: { 'consistency-token': token! } });
          tally(counts, read.status, read.headers.get('retry-after'));
          expect(read.status, read.text).toBe(200);
          if (read.json.version !== version || read.headers.get('etag') !== `"${version}"`) {
            mismatches.push(`pair ${i}: wrote version ${version} on ${writer.port}, read ${read.json.version} on ${reader.port}`);
          }
        }
        return mismatches;
      }),
    );
    expect(lanes.flat(), 'reads with the token that missed their write').toEqual([]);

    // The survivors shut down cleanly; the log is whole.
    for (const service of alive) await service.kill('SIGTERM');
    await expectWholeLog(db.url, counts, ledger.writes.length);
    console.log(
      `multi-instance: ${ledger.writes.length} writes, ${watchers.length} watchers (${resumed.length} resumed after the kill), ` +
        `${PAIRS} write → read pairs, nginx 502s retried: ${proxy502}`,
    );
  }, 240_000);
});
