/**
 * Slow consumers and dead peers: a client that stops reading is closed with 1013 once its
 * send buffer passes the bound, and resumes with `after` without losing or doubling an
 * event; a peer that does not answer pings is terminated by the heartbeat.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Socket } from 'node:net';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { assertStrictlyIncreasing, eventually, startInstance, Watcher, type Instance } from './live-support.ts';

const pg = await requirePostgres();

describe.skipIf(!pg)('live: slow consumers and heartbeats', () => {
  let db: TestDatabase;
  let instance: Instance;

  beforeAll(async () => {
    db = await createTestDatabase('live_slow');
    instance = await startInstance(db.url, { maxBufferedBytes: 64 * 1024, closeGraceMs: 60_000 });
  });
  afterAll(async () => {
    await instance?.close();
    await db?.drop();
  });

  it('a client that stops reading is closed with 1013 and resumes with after, losing nothing', async () => {
    const api = instance.client();
    const claim = await api.createClaim({ text: 'The FSB claims 100 attackers were killed' });
    const slow = await Watcher.connect(instance.wsUrl, instance.tokens.editor);
    slow.send({ type: 'subscribe', channel: 'feed' });
    await slow.until(() => slow.messages.some((m) => m.type === 'snapshot'), 30_000, 'snapshot');
    const start = (slow.messages[0] as { position: number }).position;

    // Stop reading: the kernel buffers fill, then ws's bufferedAmount passes the bound.
    const tcp = (slow.socket as unknown as { _socket: Socket })._socket;
    tcp.pause();
    // Each note grows the claim view every message carries, so this fills buffers fast.
    const body = 'Tyotkino / Tetkino / Tjotkino — '.repeat(60).slice(0, 1900);
    for (let i = 0; i < 1000 && instance.app.live.stats.overflowCloses === 0; i++) {
      await api.addNote(claim.id, { body: `${i} ${body}` });
    }
    expect(instance.app.live.stats.overflowCloses).toBe(1);

    // Read again: what was queued arrives, then the close frame.
    tcp.resume();
    const closed = await slow.closed;
    expect(closed.code).toBe(1013);
    const firstPart = slow.events('feed').map((e) => e.position);

    // Resume where we stopped; meanwhile the world moved on.
    await api.addNote(claim.id, { body: 'written while the client was away' });
    const back = await Watcher.connect(instance.wsUrl, instance.tokens.editor);
    back.send({ type: 'subscribe', channel: 'feed', after: firstPart.at(-1) ?? start });
    await back.until(() => back.messages.some((m) => m.type === 'caught-up'), 30_000, 'caught-up');
    await api.addNote(claim.id, { body: 'written after the resume' });

    const history = await api.events(claim.id);
    const expected = history.events.map((e) => e.position!).filter((p) => p > start);
    await back.until(() => back.events('feed').at(-1)?.position === expected.at(-1), 20_000, 'the last event');
    const seen = [...firstPart, ...back.events('feed').map((e) => e.position)];
    assertStrictlyIncreasing(seen, 'slow client');
    expect(seen).toEqual(expected);
    back.close();
  });

  it('a peer that does not answer pings is terminated; a live one is kept', async () => {
    const other = await startInstance(db.url, { heartbeatIntervalMs: 200 });
    try {
      const dead = await Watcher.connect(other.wsUrl, other.tokens.auditor, { autoPong: false });
      const alive = await Watcher.connect(other.wsUrl, other.tokens.auditor);
      alive.send({ type: 'subscribe', channel: 'feed' });
      const closed = await dead.closed;
      expect(closed.code).toBe(1006); // terminated: no close frame
      expect(other.app.live.stats.heartbeatTerminations).toBeGreaterThanOrEqual(1);
      // Several heartbeats later the answering peer still streams.
      const pings = { n: 0 };
      alive.socket.on('ping', () => pings.n++);
      await eventually(() => pings.n >= 3, 10_000, 'three pings');
      expect(alive.socket.readyState).toBe(WebSocket.OPEN);
      const claim = await other.client().createClaim({ text: 'The village is in the Belgorod region' });
      await alive.until(() => alive.events('feed').some((e) => e.claimId === claim.id));
      alive.close();
    } finally {
      await other.close();
    }
  });
});
