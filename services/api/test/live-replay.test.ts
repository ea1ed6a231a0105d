/**
 * Replays read only what they need and share it (src/live/replay.ts, history.ts,
 * recent.ts): two instances on one database, A with the default window of recent events,
 * B with a window of 5 events and store pages of 4, so that its replays read the store
 * first and hand over to memory. Many watchers resume at once with `after`, as the
 * watchers of a killed instance do; each must get exactly the events of its channel after
 * its `after`, in position order, then `caught-up` — and the store reads are counted (the
 * store object's own methods, wrapped): none on A, one per page or claim on B.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventStore, PositionedEvent } from '@claimtrail/event-store';
import { claimStreamId } from '@claimtrail/domain';
import { claimIdOfStream } from '@claimtrail/claims';
import type { CaughtUpMessage, ClaimView, SnapshotMessage } from '@claimtrail/client';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { assertStrictlyIncreasing, eventually, startInstance, Watcher, type Instance } from './live-support.ts';

const pg = await requirePostgres();

interface ReadCounts {
  readAll: number;
  readStream: number;
}

/**
 * Counts the calls of the store's two read methods (the store object is the real one).
 * `readAll` calls from the log's head on are not counted: those are the live subscriptions'
 * own reads of what comes next (their timed re-reads included), not a replay's.
 */
function countReads(store: EventStore, head: () => number): ReadCounts {
  const counts: ReadCounts = { readAll: 0, readStream: 0 };
  const readAll = store.readAll.bind(store);
  const readStream = store.readStream.bind(store);
  store.readAll = (options) => {
    if ((options?.after ?? 0) < head()) counts.readAll++;
    return readAll(options);
  };
  store.readStream = (streamId, options) => {
    counts.readStream++;
    return readStream(streamId, options);
  };
  return counts;
}

interface Resume {
  channel: 'board' | 'feed' | 'claim';
  claimId?: string;
  after: number;
}

describe.skipIf(!pg)('live: replays share what they read', () => {
  let db: TestDatabase;
  let a: Instance;
  let b: Instance;
  const watchers: Watcher[] = [];
  let readsA: ReadCounts;
  let readsB: ReadCounts;

  beforeAll(async () => {
    db = await createTestDatabase('live_replay');
    a = await startInstance(db.url);
    b = await startInstance(db.url, { replayBufferEvents: 5, replayBatchSize: 4 });
    readsA = countReads(a.app.store, () => a.app.live.stats.position);
    readsB = countReads(b.app.store, () => b.app.live.stats.position);
  });
  afterAll(async () => {
    for (const w of watchers) w.close();
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  /** Waits until both hubs have fanned out everything committed; returns the head. */
  const settled = async (): Promise<number> => {
    await a.app.store.flush();
    const head = await a.app.store.headPosition();
    await eventually(() => a.app.live.stats.position >= head && b.app.live.stats.position >= head, 20_000, 'hubs at the head');
    return head;
  };

  /** The events of a channel in (after, through], from the store itself. */
  const expected = async (r: Resume, through: number): Promise<number[]> => {
    const events: PositionedEvent[] = [];
    for await (const e of a.app.store.streamAll({ after: r.after })) {
      if (e.position > through) break;
      events.push(e);
    }
    return events
      .filter((e) =>
        r.channel === 'feed' ? true : r.channel === 'board' ? claimIdOfStream(e.streamId) !== null : e.streamId === claimStreamId(r.claimId!),
      )
      .map((e) => e.position);
  };

  /** Opens every resume at once; resolves with each watcher once it is caught up. */
  const resumeAll = async (instance: Instance, resumes: Resume[]): Promise<Watcher[]> =>
    Promise.all(
      resumes.map(async (r) => {
        const w = await Watcher.connect(instance.wsUrl, instance.tokens.auditor);
        watchers.push(w);
        w.send({ type: 'subscribe', ...r });
        await w.until(() => w.messages.some((m) => m.type === 'caught-up' || m.type === 'error'), 20_000, `${r.channel} caught-up`);
        return w;
      }),
    );

  const positionsOf = (w: Watcher, r: Resume) => w.events(r.channel, r.claimId).map((m) => m.position);
  const caughtUpOf = (w: Watcher) => w.messages.find((m): m is CaughtUpMessage => m.type === 'caught-up');

  let claims: ClaimView[] = [];
  let quiet: ClaimView;
  let before: number;

  it('writes the events the watchers missed', async () => {
    const api = a.client();
    quiet = await api.createClaim({ text: 'A claim nobody touches while the watchers are away' });
    claims = [];
    for (const text of ['Tyotkino is held', 'Six tanks destroyed', 'No breakthrough', 'The bridge is down']) {
      claims.push(await api.createClaim({ text }));
    }
    before = await settled();
    for (let i = 0; i < 12; i++) await api.addNote(claims[i % claims.length]!.id, { body: `note ${i}` });
    expect(await settled()).toBeGreaterThanOrEqual(before + 12);
  });

  it('resumes within the recent events are served from memory: no store read', async () => {
    const head = await settled();
    const resumes: Resume[] = [
      ...Array.from({ length: 5 }, (): Resume => ({ channel: 'board', after: before })),
      ...Array.from({ length: 5 }, (): Resume => ({ channel: 'feed', after: before })),
      { channel: 'feed', after: before + 5 },
      ...claims.map((c): Resume => ({ channel: 'claim', claimId: c.id, after: before })),
      { channel: 'claim', claimId: claims[0]!.id, after: before + 6 },
      // Its last event is older than `after`: the hub knows there is nothing to send.
      { channel: 'claim', claimId: quiet.id, after: before },
    ];
    const wanted = await Promise.all(resumes.map((r) => expected(r, head)));
    readsA.readAll = 0;
    readsA.readStream = 0;
    const resumed = await resumeAll(a, resumes);
    resumes.forEach((r, i) => {
      const label = `${r.channel}${r.claimId ? ` ${r.claimId}` : ''} after ${r.after}`;
      expect(positionsOf(resumed[i]!, r), label).toEqual(wanted[i]);
      expect(caughtUpOf(resumed[i]!)?.position, label).toBe(head);
    });
    expect(wanted.find((w, i) => resumes[i]!.claimId === quiet.id)).toEqual([]);
    // A claim snapshot comes from the hub's folded state too, and equals GET /claims/:id.
    const snapshotWatcher = await Watcher.connect(a.wsUrl, a.tokens.auditor);
    watchers.push(snapshotWatcher);
    snapshotWatcher.send({ type: 'subscribe', channel: 'claim', claimId: claims[1]!.id });
    await snapshotWatcher.until(() => snapshotWatcher.messages.some((m) => m.type === 'snapshot'), 20_000, 'snapshot');
    const snapshot = snapshotWatcher.messages.find((m): m is SnapshotMessage => m.type === 'snapshot')!;
    expect(readsA).toEqual({ readAll: 0, readStream: 0 });
    expect(snapshot.channel === 'claim' && snapshot.claim).toEqual(await a.client('auditor').getClaim(claims[1]!.id));
  });

  it('resumes from before the recent events read each page and each claim once for all, then go on from memory', async () => {
    const head = await settled();
    const resumes: Resume[] = [
      ...Array.from({ length: 6 }, (): Resume => ({ channel: 'board', after: before })),
      ...Array.from({ length: 6 }, (): Resume => ({ channel: 'feed', after: before })),
      ...claims.flatMap((c) => Array.from({ length: 3 }, (): Resume => ({ channel: 'claim', claimId: c.id, after: before }))),
      { channel: 'claim', claimId: quiet.id, after: before },
    ];
    const wanted = await Promise.all(resumes.map((r) => expected(r, head)));
    readsB.readAll = 0;
    readsB.readStream = 0;
    const resumed = await resumeAll(b, resumes);
    resumes.forEach((r, i) => {
      const label = `${r.channel}${r.claimId ? ` ${r.claimId}` : ''} after ${r.after}`;
      expect(positionsOf(resumed[i]!, r), label).toEqual(wanted[i]);
      expect(caughtUpOf(resumed[i]!)?.position, label).toBe(head);
    });
    // 12 events after `before`, pages of 4, the last 5 in memory: at most 3 pages, read
    // once for the 12 board and feed replays together.
    expect(readsB.readAll).toBeGreaterThan(0);
    expect(readsB.readAll).toBeLessThanOrEqual(3);
    // One read per claim for its 12 claim replays, and at most one per claim for the views
    // of the pages (a claim's first event in them); none for the quiet claim.
    expect(readsB.readStream).toBeLessThanOrEqual(2 * claims.length);
  });

  it('under concurrent writes, resumes from anywhere get every event once, in order, and go live', async () => {
    const api = a.client();
    const start = await settled();
    const writes = (async () => {
      for (let i = 0; i < 40; i++) await api.addNote(claims[i % claims.length]!.id, { body: `busy ${i}` });
    })();
    // Resume points before, inside and across B's small window while the log grows.
    const resumes: Resume[] = [];
    for (let k = 0; k < 8; k++) {
      const after = Math.max(0, start - 3 * k);
      resumes.push({ channel: 'board', after }, { channel: 'feed', after }, { channel: 'claim', claimId: claims[k % claims.length]!.id, after });
    }
    const resumed = await resumeAll(b, resumes);
    await writes;
    const head = await settled();
    await Promise.all(
      resumes.map(async (r, i) => {
        const wanted = await expected(r, head);
        const w = resumed[i]!;
        await w.until(() => positionsOf(w, r).at(-1) === wanted.at(-1), 20_000, `${r.channel} after ${r.after} at the head`);
        const label = `${r.channel}${r.claimId ? ` ${r.claimId}` : ''} after ${r.after}`;
        assertStrictlyIncreasing(positionsOf(w, r), label);
        expect(positionsOf(w, r), label).toEqual(wanted);
      }),
    );
  });
});
