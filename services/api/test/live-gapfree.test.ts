/**
 * Gap-free delivery under load, across two service instances on one database: 8 writers on
 * instance A; watchers of every channel on B (and some on A), some from the start, some
 * joining mid-stream with `after`, some dropped and resumed (raw and through the typed
 * client's automatic reconnect). Each must see every event of its channel exactly once,
 * in position order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { sql } from 'kysely';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { LiveConnection, type WebSocketConstructor, type WebSocketLike } from '@claimtrail/client';
import { assertStrictlyIncreasing, eventually, startInstance, Watcher, type Instance } from './live-support.ts';

const pg = await requirePostgres();

const WRITERS = 8;
const WRITES_PER_WRITER = 30;

interface Tracked {
  label: string;
  channel: 'board' | 'feed' | 'claim';
  claimId?: string;
  /** Exclusive start: the snapshot's or the `after` position. */
  start: () => number;
  positions: () => number[];
}

describe.skipIf(!pg)('live: gap-free under load, two instances', () => {
  let db: TestDatabase;
  let a: Instance;
  let b: Instance;
  const closers: (() => void)[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('live_gapfree');
    a = await startInstance(db.url);
    b = await startInstance(db.url);
  });
  afterAll(async () => {
    for (const close of closers) close();
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  it('every watcher sees every event of its channel exactly once, in order', async () => {
    const api = a.client();
    const watched = await Promise.all(
      ['Tyotkino is held by the Legion', 'No breakthrough in Kursk', 'Six tanks destroyed'].map((text) =>
        api.createClaim({ text, tags: ['belgorod'] }),
      ),
    );
    const tracked: Tracked[] = [];

    const raw = async (instance: Instance, label: string, sub: { channel: Tracked['channel']; claimId?: string; after?: number }) => {
      const w = await Watcher.connect(instance.wsUrl, instance.tokens.auditor);
      closers.push(() => w.close());
      w.send({ type: 'subscribe', ...sub });
      await w.until(() => w.messages.some((m) => m.type === 'snapshot' || m.type === 'caught-up'), 20_000, `${label} start`);
      const startMsg = w.messages.find((m) => m.type === 'snapshot');
      const start = sub.after ?? (startMsg as { position: number }).position;
      tracked.push({
        label,
        channel: sub.channel,
        ...(sub.claimId ? { claimId: sub.claimId } : {}),
        start: () => start,
        positions: () => w.events(sub.channel, sub.claimId).map((e) => e.position),
      });
      return w;
    };

    // Watchers from the start, mostly on B (the writers use A).
    await raw(b, 'B board snapshot #1', { channel: 'board' });
    await raw(b, 'B board snapshot #2', { channel: 'board' });
    await raw(b, 'B board after=0', { channel: 'board', after: 0 });
    await raw(b, 'B feed after=0 #1', { channel: 'feed', after: 0 });
    await raw(b, 'B feed snapshot', { channel: 'feed' });
    await raw(a, 'A board snapshot', { channel: 'board' });
    for (const [i, claim] of watched.entries()) {
      await raw(b, `B claim ${i} snapshot`, { channel: 'claim', claimId: claim.id });
      await raw(b, `B claim ${i} after=0`, { channel: 'claim', claimId: claim.id, after: 0 });
    }
    const dropped = await raw(b, 'B feed dropped', { channel: 'feed', after: 0 });

    // The typed client with automatic reconnect; we cut its sockets mid-stream.
    const sockets: WebSocket[] = [];
    const Recording = class extends WebSocket {
      constructor(url: string) {
        super(url);
        sockets.push(this);
      }
    } as unknown as WebSocketConstructor;
    const live = new LiveConnection({ url: b.wsUrl, token: b.tokens.editor, WebSocket: Recording, reconnectDelayMs: 20 });
    closers.push(() => live.close());
    const clientSeen = { board: [] as number[], feed: [] as number[], boardStart: -1, feedStart: 0 };
    live.subscribe({ channel: 'board' }, {
      onSnapshot: (m) => (clientSeen.boardStart = m.position),
      onEvent: (m) => clientSeen.board.push(m.position),
    });
    live.subscribe({ channel: 'feed', after: 0 }, { onEvent: (m) => clientSeen.feed.push(m.position) });
    await eventually(() => clientSeen.boardStart >= 0, 20_000, 'client snapshot');
    tracked.push(
      { label: 'client board (reconnects)', channel: 'board', start: () => clientSeen.boardStart, positions: () => clientSeen.board },
      { label: 'client feed (reconnects)', channel: 'feed', start: () => 0, positions: () => clientSeen.feed },
    );

    // 8 concurrent writers on A.
    let done = 0;
    const writer = async (n: number) => {
      const client = a.client(n % 2 === 0 ? 'editor' : 'admin');
      const own = await client.createClaim({ text: `Writer ${n}: a claim about Tetkino`, tags: [`w${n}`] });
      done++;
      for (let i = 1; i < WRITES_PER_WRITER; i++) {
        if (i === 1) await client.triage(own.id);
        else if (i % 4 === 0) await client.addNote(watched[(n + i) % watched.length]!.id, { body: `writer ${n} note ${i}` });
        else await client.addNote(own.id, { body: `note ${i}` });
        done++;
      }
    };
    const writing = Promise.all(Array.from({ length: WRITERS }, (_, n) => writer(n)));

    // Mid-stream: join with `after`, drop and resume, cut the typed client's socket.
    const total = WRITERS * WRITES_PER_WRITER;
    await eventually(() => done >= total / 4, 30_000, 'a quarter of the writes');
    const feedSoFar = tracked.find((t) => t.label === 'B feed after=0 #1')!.positions();
    const mid = feedSoFar.at(-1) ?? 0;
    await raw(b, 'B feed joins mid-stream', { channel: 'feed', after: mid });
    await raw(a, 'A board joins mid-stream', { channel: 'board', after: mid });
    await raw(b, 'B claim 0 joins mid-stream', { channel: 'claim', claimId: watched[0]!.id, after: mid });
    sockets.at(-1)!.terminate();

    await eventually(() => done >= total / 2, 30_000, 'half of the writes');
    // A raw client dropped by the network and resumed on the OTHER instance.
    const seenBeforeDrop = dropped.events('feed').map((e) => e.position);
    dropped.socket.terminate();
    const resumeFrom = seenBeforeDrop.at(-1) ?? 0;
    const resumed = await raw(a, 'resumed (internal)', { channel: 'feed', after: resumeFrom });
    // Replace the dropped watcher's and the internal entries by the combined view.
    tracked.splice(tracked.findIndex((t) => t.label === 'B feed dropped'), 1);
    tracked.pop();
    tracked.push({
      label: 'B feed dropped, resumed on A',
      channel: 'feed',
      start: () => 0,
      positions: () => [...seenBeforeDrop, ...resumed.events('feed').map((e) => e.position)],
    });

    await eventually(() => done >= (total * 3) / 4, 30_000, 'three quarters of the writes');
    sockets.at(-1)!.terminate();
    // Drop both instances' LISTEN connections: they are re-established, the store re-reads.
    const killed = await sql<{ pid: number }>`
      select pg_terminate_backend(pid) as pid from pg_stat_activity
      where datname = current_database() and pid <> pg_backend_pid() and query ilike 'listen%'`.execute(a.app.database.db);
    expect(killed.rows.length).toBeGreaterThanOrEqual(2);

    await writing;

    // Expected: every event in the store (all positioned by now).
    await eventually(async () => {
      const r = await sql<{ n: number; p: number }>`select count(*)::int as n, count(position)::int as p from events`.execute(a.app.database.db);
      return r.rows[0]!.n === r.rows[0]!.p;
    }, 20_000, 'every event positioned');
    const all: { position: number; streamId: string }[] = [];
    for await (const e of a.app.store.streamAll({ after: 0 })) all.push({ position: e.position, streamId: e.streamId });
    expect(all.length).toBeGreaterThanOrEqual(total + watched.length);

    const expectedFor = (t: Tracked) =>
      all
        .filter((e) => e.position > t.start())
        .filter((e) => (t.channel === 'claim' ? e.streamId === `claim-${t.claimId}` : e.streamId.startsWith(t.channel === 'board' ? 'claim-' : '')))
        .map((e) => e.position);

    for (const t of tracked) {
      const expected = expectedFor(t);
      await eventually(() => t.positions().length >= expected.length, 30_000, `${t.label} to receive ${expected.length} events`);
      assertStrictlyIncreasing(t.positions(), t.label);
      expect(t.positions(), t.label).toEqual(expected);
    }
    // The typed client really did reconnect (and resumed rather than starting over).
    expect(sockets.length).toBeGreaterThanOrEqual(3);
  });
});
