/**
 * Read replicas against a real streaming replica (test/support/replica.ts: pg_basebackup
 * of the running server, started on another loopback port):
 * - the service starts with READ_DATABASE_URL and serves list, search, board, feed,
 *   history, time travel and the NDJSON export from the replica (its counters, the
 *   replica's own pg_stat_activity, and — with replay paused — an answer only the replica
 *   can give);
 * - a write on the primary then a read with its Consistency-Token never returns the older
 *   state (300 pairs), also while the replica's replay is paused;
 * - websocket watchers get every event exactly once (LISTEN stays on the primary; replays
 *   read the replica);
 * - a replica further behind than READ_REPLICA_MAX_LAG_MS leaves the rotation and comes
 *   back; one stopped with `pg_ctl stop -m immediate` does too, and no client sees an error;
 * - DATABASE_URL naming the standby is refused with a message that says so.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { buildApp } from '../services/api/src/app.ts';
import type { ReadReplicasReport } from '../services/api/src/read-replicas.ts';
import { createReplica, replicaToolsAvailable, type Replica } from './support/replica.ts';
import { query } from './support/db.ts';
import { FeedWatcher } from './support/watcher.ts';
import { freePort } from './support/service.ts';

const pg = await requirePostgres();
const tools = pg ? await replicaToolsAvailable() : false;
if (pg && !tools && process.env.CI) throw new Error('CI must run the read-replica test: pg_basebackup and pg_ctl of the server version are missing');

const PAIRS_PER_LANE = 100;
const LANES = 3;

interface Json {
  [key: string]: any;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe.skipIf(!pg || !tools)('read replicas: a real streaming replica', () => {
  let db: TestDatabase;
  let replica: Replica;
  let app: FastifyInstance;
  let baseUrl: string;
  let writer: Record<string, string>;
  let reader: Record<string, string>;
  const claims: string[] = [];

  const report = async (instance: FastifyInstance = app): Promise<ReadReplicasReport> => {
    const ready = await instance.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode, ready.body).toBe(200);
    return (ready.json() as { replicas: ReadReplicasReport }).replicas;
  };
  const get = async (url: string, headers: Record<string, string> = {}): Promise<Json> => {
    const response = await app.inject({ method: 'GET', url, headers: { ...reader, ...headers } });
    expect(response.statusCode, `${url}: ${response.body}`).toBe(200);
    return headers.accept === 'application/x-ndjson' ? { text: response.body } : (response.json() as Json);
  };
  const note = async (claimId: string, body: string, instance: FastifyInstance = app) => {
    const response = await instance.inject({ method: 'POST', url: `/claims/${claimId}/notes`, headers: writer, payload: { body } });
    expect(response.statusCode, response.body).toBe(200);
    return { version: Number(String(response.headers.etag).replaceAll('"', '')), token: String(response.headers['consistency-token']) };
  };

  beforeAll(async () => {
    db = await createTestDatabase('ct_replica');
    replica = await createReplica();
    // CREATE DATABASE replicates: the new database appears on the replica by itself.
    app = await buildApp({
      logger: false,
      seed: false,
      demoTokens: true,
      // A window of one event: every replay after the first reads the store (the replica).
      live: { replayBufferEvents: 1 },
      config: {
        databaseUrl: db.url,
        rateLimitMax: 0,
        readDatabaseUrls: [replica.url(db.name)],
        // The paused-replay checks below must not take the replica out of rotation.
        readReplicaMaxLagMs: 600_000,
        // Generous, so that a replica replaying the WAL of a busy server (the rest of the
        // suite) still serves the tokened reads; a read it cannot serve in time goes to the primary.
        readReplicaWaitMs: 500,
      },
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    writer = { authorization: `Bearer ${app.demoTokens.fact_checker}`, 'content-type': 'application/json' };
    reader = { authorization: `Bearer ${app.demoTokens.editor}` };
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await replica?.destroy();
    await db?.drop();
  });

  it('refuses a standby as DATABASE_URL, saying why', async () => {
    await replica.waitForPosition(db.name, 0);
    await expect(
      buildApp({ logger: false, seed: false, demoTokens: false, config: { databaseUrl: replica.url(db.name), rateLimitMax: 0 } }),
    ).rejects.toThrow(/DATABASE_URL points at a database that cannot be written: a standby in recovery.*READ_DATABASE_URL/s);
  });

  it('starts when a replica does not answer: it is reported down and reads go to the primary', async () => {
    const nobody = new URL(replica.url(db.name));
    nobody.port = String(await freePort());
    const lonely = await buildApp({
      logger: false,
      seed: false,
      demoTokens: false,
      config: { databaseUrl: db.url, rateLimitMax: 0, readDatabaseUrls: [nobody.toString()] },
    });
    try {
      const status = await report(lonely);
      expect(status.servers[0]).toMatchObject({ state: 'down', inUse: false, error: expect.any(String) });
      const listed = await lonely.inject({ method: 'GET', url: '/claims', headers: reader });
      expect(listed.statusCode, listed.body).toBe(200);
      expect((await report(lonely)).readsOnPrimary).toBe(1);
    } finally {
      await lonely.close();
    }
  });

  it('starts with the replica in rotation and serves list, search, board, feed, history and the export from it', async () => {
    const first = await report();
    expect(first.servers).toHaveLength(1);
    expect(first.servers[0]).toMatchObject({ state: 'in_use', inUse: true, standby: true, error: null });

    let token = '0';
    for (const text of ['Border crossings doubled last year', 'The bridge was built in 1931', 'Border wall cost overruns']) {
      const created = await app.inject({ method: 'POST', url: '/claims', headers: writer, payload: { text } });
      expect(created.statusCode, created.body).toBe(201);
      claims.push((created.json() as { id: string }).id);
      token = String(created.headers['consistency-token']);
    }
    await replica.waitForPosition(db.name, Number(token));
    const before = await report();

    const listed = await get('/claims');
    expect(listed.items.map((c: Json) => c.id).sort()).toEqual([...claims].sort());
    const searched = await get('/claims?q=border');
    expect(searched.items).toHaveLength(2);
    const board = await get('/board');
    expect(board.states.find((s: Json) => s.state === 'submitted').count).toBe(3);
    const feed = await get('/events');
    expect(feed.events).toHaveLength(Number(token));
    const history = await get(`/claims/${claims[0]}/events`);
    expect(history.events).toHaveLength(1);
    const state = await get(`/claims/${claims[0]}/state?version=1`);
    expect(state.version).toBe(1);
    const exported = await get('/events', { accept: 'application/x-ndjson' });
    expect(exported.text.trim().split('\n')).toHaveLength(Number(token));

    const after = await report();
    expect(after.servers[0]!.reads - before.servers[0]!.reads).toBe(7);
    expect(after.readsOnPrimary).toBe(before.readsOnPrimary);
    expect(after.retriedOnPrimary).toBe(0);
    // The service's connections on the replica itself.
    const [row] = await query<{ n: number }>(
      replica.url('postgres'),
      "select count(*)::int as n from pg_stat_activity where datname = $1 and application_name = 'claimtrail'",
      [db.name],
    );
    expect(row!.n).toBeGreaterThan(0);
  });

  it('with replay paused: a read without a token is the replica\'s older state, one with the write\'s token is the new state', async () => {
    const claimId = claims[0]!;
    await replica.pauseReplay();
    try {
      const { version, token } = await note(claimId, 'written while the replica does not replay');
      const before = await report();
      // Only the replica can answer the older history: the primary has the note.
      const stale = await get(`/claims/${claimId}/events`);
      expect(stale.events).toHaveLength(version - 1);
      const fresh = await get(`/claims/${claimId}/events`, { 'consistency-token': token });
      expect(fresh.events).toHaveLength(version);
      const listed = await get('/claims', { 'consistency-token': token });
      expect(listed.items.find((c: Json) => c.id === claimId).version).toBe(version);
      const feed = await get('/events', { 'consistency-token': token });
      expect(feed.events.at(-1).position).toBe(Number(token));
      const after = await report();
      expect(after.servers[0]!.reads - before.servers[0]!.reads).toBe(1);
      expect(after.readsOnPrimary - before.readsOnPrimary).toBe(3);
    } finally {
      await replica.resumeReplay();
    }
  });

  it(`${PAIRS_PER_LANE * LANES} write → read pairs: a read with the write's token never returns the older state`, async () => {
    const before = await report();
    const stale: string[] = [];
    await Promise.all(
      claims.map(async (claimId, lane) => {
        for (let i = 0; i < PAIRS_PER_LANE; i++) {
          const { version, token } = await note(claimId, `lane ${lane} note ${i}`);
          const headers = { 'consistency-token': token };
          const [history, listed, feed] = await Promise.all([
            get(`/claims/${claimId}/events`, headers),
            get('/claims', headers),
            get(`/events?after=${Number(token) - 1}&limit=1`, headers),
          ]);
          if (history.events.length !== version) stale.push(`history of ${claimId}: ${history.events.length} events, wrote version ${version}`);
          const item = listed.items.find((c: Json) => c.id === claimId);
          if (item.version < version) stale.push(`list: ${claimId} at ${item.version}, wrote ${version}`);
          if (feed.events[0]?.position !== Number(token)) stale.push(`feed after ${Number(token) - 1}: no event ${token}`);
        }
      }),
    );
    expect(stale).toEqual([]);
    const after = await report();
    expect(after.retriedOnPrimary).toBe(before.retriedOnPrimary);
    // The replica served (some of) them: it is not the primary answering everything.
    expect(after.servers[0]!.reads).toBeGreaterThan(before.servers[0]!.reads);
  }, 60_000);

  it('websocket watchers get every event exactly once: wake-ups from the primary, replays from the replica', async () => {
    const token = app.demoTokens.editor!;
    const before = await report();
    // From the beginning: every page of the replay is read from the store, i.e. the replica.
    const watcher = new FeedWatcher(baseUrl, token);
    await watcher.connect(0);
    const replayed = await report();
    expect(replayed.servers[0]!.reads).toBeGreaterThan(before.servers[0]!.reads);
    let last = 0;
    for (let i = 0; i < 10; i++) last = Number((await note(claims[1]!, `live ${i}`)).token);
    await until('the watcher to see the last write', async () => (watcher.last >= last ? true : undefined));
    expect(watcher.check(last)).toEqual({ missing: [], duplicates: [], outOfOrder: 0 });
    // A watcher resuming from the middle of the log.
    const resumed = new FeedWatcher(baseUrl, token);
    await resumed.connect(Math.floor(last / 2));
    for (let i = 0; i < 5; i++) last = Number((await note(claims[2]!, `live again ${i}`)).token);
    await until('both watchers to see the last write', async () => (watcher.last >= last && resumed.last >= last ? true : undefined));
    expect(watcher.check(last)).toEqual({ missing: [], duplicates: [], outOfOrder: 0 });
    const tail = resumed.check(last);
    expect(tail.missing.filter((p) => p > Math.floor(last / 2))).toEqual([]);
    expect(tail.duplicates).toEqual([]);
    await watcher.close();
    await resumed.close();
  });

  it('a replica further behind than READ_REPLICA_MAX_LAG_MS leaves the rotation (reads go to the primary) and comes back', async () => {
    const strict = await buildApp({
      logger: false,
      seed: false,
      demoTokens: false,
      config: { databaseUrl: db.url, rateLimitMax: 0, readDatabaseUrls: [replica.url(db.name)], readReplicaMaxLagMs: 200 },
    });
    try {
      await until('the replica in rotation', async () => ((await report(strict)).servers[0]!.state === 'in_use' ? true : undefined));
      const claimId = claims[0]!;
      await replica.pauseReplay();
      let version = 0;
      try {
        version = (await note(claimId, 'the replica falls behind')).version;
        const lagging = await until('the replica to be reported lagging', async () => {
          const now = await report(strict);
          return now.servers[0]!.state === 'lagging' ? now : undefined;
        });
        expect(lagging.servers[0]).toMatchObject({ inUse: false, behind: expect.any(Number) });
        expect(lagging.servers[0]!.lagMs).toBeGreaterThan(200);
        // No token, yet the new state: the primary answers while the replica lags.
        const response = await strict.inject({ method: 'GET', url: `/claims/${claimId}/events`, headers: reader });
        expect(response.statusCode).toBe(200);
        expect((response.json() as Json).events).toHaveLength(version);
        expect((await report(strict)).readsOnPrimary).toBeGreaterThan(lagging.readsOnPrimary);
      } finally {
        await replica.resumeReplay();
      }
      await until('the replica back in rotation', async () => ((await report(strict)).servers[0]!.state === 'in_use' ? true : undefined));
    } finally {
      await strict.close();
    }
  });

  it('a replica stopped at once (pg_ctl stop -m immediate): no client sees an error, reads go to the primary, and it comes back', async () => {
    const statuses = new Map<number, number>();
    let reading = true;
    const urls = ['/claims', '/claims?q=border', '/board', '/events', `/claims/${claims[0]}/events`, `/claims/${claims[1]}/state?version=1`];
    const readers = Array.from({ length: 4 }, async (_, n) => {
      for (let i = n; reading; i++) {
        const response = await app.inject({ method: 'GET', url: urls[i % urls.length]!, headers: reader });
        statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
      }
    });
    try {
      const serving = await report();
      await until('reads served by the replica', async () => ((await report()).servers[0]!.reads > serving.servers[0]!.reads ? true : undefined));
      await replica.stop('immediate');
      const down = await until('the replica reported down', async () => {
        const now = await report();
        return now.servers[0]!.state === 'down' ? now : undefined;
      });
      expect(down.servers[0]!.error).not.toBeNull();
      // Writes and reads go on, and a replay of the whole feed, while the replica is down.
      const last = Number((await note(claims[2]!, 'while the replica is down')).token);
      const watcher = new FeedWatcher(baseUrl, app.demoTokens.editor!);
      await watcher.connect(0);
      await until('the watcher to reach the last write', async () => (watcher.last >= last ? true : undefined));
      expect(watcher.check(last)).toEqual({ missing: [], duplicates: [], outOfOrder: 0 });
      await watcher.close();
      expect((await report()).readsOnPrimary).toBeGreaterThan(down.readsOnPrimary);

      await replica.start();
      const back = await until('the replica back in rotation', async () => {
        const now = await report();
        return now.servers[0]!.state === 'in_use' ? now : undefined;
      });
      await until('reads served by the replica again', async () => ((await report()).servers[0]!.reads > back.servers[0]!.reads ? true : undefined));
    } finally {
      reading = false;
      await Promise.all(readers);
    }
    expect([...statuses.keys()]).toEqual([200]);
    expect(statuses.get(200)).toBeGreaterThan(urls.length);
  });
});
