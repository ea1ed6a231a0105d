/**
 * Coalesced frames (`"batch": true` on subscribe): the events of one server tick come as
 * one frame holding a JSON array of the same event messages, in position order; without the
 * flag every message is a frame of its own (Contract v1). Both watchers see exactly the same
 * messages, on every channel, including one that subscribes while writes are under way;
 * the typed client opts in and hands its handlers single messages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import type { EventMessage } from '@claimtrail/client';
import { assertStrictlyIncreasing, eventually, startInstance, type Instance } from './live-support.ts';

const pg = await requirePostgres();

/** Records every frame as it came: an object, or an array for a coalesced frame. */
class Frames {
  readonly frames: unknown[] = [];
  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => this.frames.push(JSON.parse(String(data))));
    socket.on('error', () => undefined);
  }
  static async open(wsUrl: string, token: string): Promise<Frames> {
    const socket = new WebSocket(`${wsUrl}?token=${encodeURIComponent(token)}`);
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    return new Frames(socket);
  }
  send(message: unknown): void {
    this.socket.send(JSON.stringify(message));
  }
  /** Every message, arrays flattened, in arrival order. */
  messages(): Record<string, unknown>[] {
    return this.frames.flatMap((f) => (Array.isArray(f) ? f : [f])) as Record<string, unknown>[];
  }
  events(channel: string): EventMessage[] {
    return this.messages().filter((m) => m.type === 'event' && m.channel === channel) as unknown as EventMessage[];
  }
}

describe.skipIf(!pg)('coalesced frames', () => {
  let db: TestDatabase;
  let instance: Instance;

  beforeAll(async () => {
    db = await createTestDatabase('live_batch');
    instance = await startInstance(db.url);
  });
  afterAll(async () => {
    await instance?.close();
    await db?.drop();
  });

  it('a batched watcher gets the same messages as a plain one, arrays of them after its snapshot; plain frames are never arrays', async () => {
    const api = instance.client('fact_checker');
    const claim = await api.createClaim({ text: 'A claim written to by many at once' });
    const plain = await Frames.open(instance.wsUrl, instance.tokens.editor);
    const batched = await Frames.open(instance.wsUrl, instance.tokens.editor);
    for (const channel of ['board', 'feed'] as const) {
      plain.send({ type: 'subscribe', channel });
      batched.send({ type: 'subscribe', channel, batch: true });
    }
    plain.send({ type: 'subscribe', channel: 'claim', claimId: claim.id });
    batched.send({ type: 'subscribe', channel: 'claim', claimId: claim.id, batch: true });
    const snapshots = (w: Frames) => w.messages().filter((m) => m.type === 'snapshot').length;
    await eventually(() => snapshots(plain) === 3 && snapshots(batched) === 3, 10_000, 'snapshots');

    // A third watcher subscribes while the writes are under way.
    const late = await Frames.open(instance.wsUrl, instance.tokens.auditor);
    const writes = Array.from({ length: 30 }, (_, i) => api.addNote(claim.id, { body: `note ${i}` }));
    late.send({ type: 'subscribe', channel: 'board', after: 0, batch: true });
    await Promise.all(writes);
    const others = await Promise.all(Array.from({ length: 10 }, (_, i) => api.createClaim({ text: `Another claim ${i}` })));
    const total = 30 + 1 + others.length;

    await eventually(() => batched.events('board').length >= total - 1 && plain.events('board').length >= total - 1, 15_000, 'board events');
    await eventually(() => batched.events('claim').length >= 30 && batched.events('feed').length >= total - 1, 15_000, 'claim and feed events');
    await eventually(() => late.events('board').length >= total, 15_000, 'late watcher');
    for (const channel of ['board', 'feed', 'claim'] as const) {
      expect(batched.events(channel), channel).toEqual(plain.events(channel));
      assertStrictlyIncreasing(batched.events(channel).map((e) => e.position), `batched ${channel}`);
    }
    expect(plain.frames.some((f) => Array.isArray(f))).toBe(false);
    // After the snapshots every frame of the batched watcher is a coalesced one.
    const live = batched.frames.slice(batched.frames.findLastIndex((f) => !Array.isArray(f) && (f as { type: string }).type === 'snapshot') + 1);
    expect(live.length).toBeGreaterThan(0);
    expect(live.every((f) => Array.isArray(f) && f.length > 0)).toBe(true);
    // The late watcher replayed from 0 and went live: every board event once, in order.
    const lateBoard = late.events('board');
    assertStrictlyIncreasing(lateBoard.map((e) => e.position), 'late board');
    expect(lateBoard.slice(-plain.events('board').length)).toEqual(plain.events('board'));
    for (const w of [plain, batched, late]) w.socket.close();
  });

  it('more watchers than one flush slice: each gets every event once, in order, and a burst shares frames', async () => {
    // 700 batched watchers: the hub writes a tick's frame in slices of 500 sockets with the
    // event loop free between them, and holds the next tick until the slices are written.
    const watchers: Frames[] = [];
    for (let wave = 0; wave < 7; wave++) {
      const opened = await Promise.all(Array.from({ length: 100 }, () => Frames.open(instance.wsUrl, instance.tokens.editor)));
      for (const w of opened) w.send({ type: 'subscribe', channel: 'board', batch: true });
      watchers.push(...opened);
    }
    await eventually(() => watchers.every((w) => w.messages().some((m) => m.type === 'snapshot')), 20_000, 'snapshots');
    const api = instance.client('fact_checker');
    const created = await Promise.all(Array.from({ length: 40 }, (_, i) => api.createClaim({ text: `A claim for seven hundred watchers ${i}` })));
    const ids = new Set(created.map((c) => c.id));
    const ours = (w: Frames) => w.events('board').filter((e) => ids.has(e.claimId ?? ''));
    await eventually(() => watchers.every((w) => ours(w).length >= created.length), 30_000, 'every watcher has every event');
    const reference = ours(watchers[0]!).map((e) => e.position);
    assertStrictlyIncreasing(reference, 'first watcher');
    for (const w of watchers) {
      expect(ours(w).map((e) => e.position)).toEqual(reference);
      expect(w.events('board').length).toBe(new Set(w.events('board').map((e) => e.position)).size);
    }
    // 40 concurrent writes reach a watcher in fewer frames than events.
    const frames = watchers[0]!.frames.filter((f) => Array.isArray(f) && f.some((m) => ids.has((m as { claimId: string }).claimId)));
    expect(frames.length).toBeLessThan(created.length);
    // The hub measured each slice's hand-off: commit → frame written, never before the commit.
    const handoff = instance.app.live.hub.handoff;
    expect(handoff.count).toBeGreaterThanOrEqual(created.length * 2);
    expect(handoff.percentile(0)).toBeGreaterThanOrEqual(0);
    expect(handoff.percentile(99)).toBeLessThan(30_000);
    for (const w of watchers) w.socket.close();
  });

  it('batch must be a boolean', async () => {
    const w = await Frames.open(instance.wsUrl, instance.tokens.editor);
    w.send({ type: 'subscribe', channel: 'board', batch: 'yes' });
    await eventually(() => w.messages().some((m) => m.type === 'error'), 5000, 'error');
    expect(w.messages()[0]).toMatchObject({ type: 'error', code: 'bad_message' });
    w.socket.close();
  });

  it('the typed client opts in and hands its handlers one message at a time', async () => {
    const api = instance.client('editor');
    const seen: EventMessage[] = [];
    let snapshot = false;
    const live = api.live;
    live.subscribe({ channel: 'board' }, { onSnapshot: () => (snapshot = true), onEvent: (e: EventMessage) => seen.push(e) });
    await eventually(() => snapshot, 10_000, 'client snapshot');
    const writer = instance.client('fact_checker');
    const created = await Promise.all(Array.from({ length: 12 }, (_, i) => writer.createClaim({ text: `A claim for the client ${i}` })));
    await eventually(() => seen.length >= created.length, 10_000, 'client events');
    expect(new Set(seen.map((e) => e.claimId))).toEqual(new Set(created.map((c) => c.id)));
    assertStrictlyIncreasing(seen.map((e) => e.position), 'client');
    live.close();
  });
});
