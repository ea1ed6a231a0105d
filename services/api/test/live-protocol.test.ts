/**
 * The websocket protocol of PRODUCT.md on a real service: auth on upgrade, snapshots,
 * replay + caught-up, the claim channel, errors that leave other streams alone,
 * unsubscribe, graceful shutdown with 1001.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import type { EventMessage, SnapshotMessage } from '@claimtrail/client';
import { issueToken, revokeToken } from '@claimtrail/identity';
import { startInstance, Watcher, type Instance } from './live-support.ts';

const pg = await requirePostgres();

describe.skipIf(!pg)('live websocket protocol', () => {
  let db: TestDatabase;
  let instance: Instance;

  beforeAll(async () => {
    db = await createTestDatabase('live_proto');
    instance = await startInstance(db.url);
  });
  afterAll(async () => {
    await instance?.close();
    await db?.drop();
  });

  it('refuses the upgrade without a valid token (401) and accepts ?token= and bearer header', async () => {
    const status = (url: string, headers?: Record<string, string>) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(url, { headers });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
        ws.on('error', () => undefined);
      });
    expect(await status(instance.wsUrl)).toBe(401);
    expect(await status(`${instance.wsUrl}?token=nope`)).toBe(401);
    expect(await status(instance.wsUrl, { authorization: 'Bearer nope' })).toBe(401);
    for (const role of ['editor', 'fact_checker', 'auditor', 'admin'] as const) {
      expect(await status(`${instance.wsUrl}?token=${instance.tokens[role]}`)).toBe(101);
    }
    expect(await status(instance.wsUrl, { authorization: `Bearer ${instance.tokens.auditor}` })).toBe(101);
  });

  it('board: snapshot as GET /board returns it, then live events with the claim view', async () => {
    const api = instance.client();
    const first = await api.createClaim({ text: 'Tyotkino is in the Kursk region', claimant: 'Kursk governor', tags: ['geo'] });
    const watcher = await Watcher.connect(instance.wsUrl, instance.tokens.auditor);
    watcher.send({ type: 'subscribe', channel: 'board' });
    await watcher.until(() => watcher.messages.some((m) => m.type === 'snapshot'), 10_000, 'board snapshot');
    const snapshot = watcher.messages.find((m) => m.type === 'snapshot') as SnapshotMessage & { channel: 'board' };
    expect(snapshot.channel).toBe('board');
    expect(snapshot.board).toEqual(await api.board());

    const triaged = await api.triage(first.id);
    await watcher.until(() => watcher.events('board').length >= 1, 10_000, 'board event');
    const [event] = watcher.events('board') as [EventMessage];
    expect(event).toMatchObject({
      type: 'event',
      channel: 'board',
      claimId: first.id,
      version: 2,
      event: { type: 'ClaimTriaged', actor: expect.any(String), recordedAt: expect.any(String) },
    });
    expect(event.position).toBeGreaterThan(snapshot.position);
    expect(event.claim).toEqual(triaged);
    watcher.close();
  });

  it('claim channel: snapshot of the view, then only that claim; replay with after then caught-up', async () => {
    const api = instance.client();
    const mine = await api.createClaim({ text: 'The FSB destroyed six tanks' });
    const other = await api.createClaim({ text: 'A CAESAR howitzer was destroyed' });
    const watcher = await Watcher.connect(instance.wsUrl, instance.tokens.fact_checker);
    watcher.send({ type: 'subscribe', channel: 'claim', claimId: mine.id });
    await watcher.until(() => watcher.messages.some((m) => m.type === 'snapshot'));
    expect(watcher.messages[0]).toMatchObject({ type: 'snapshot', channel: 'claim', claimId: mine.id, claim: mine });

    await api.triage(other.id);
    const triaged = await api.triage(mine.id);
    await watcher.until(() => watcher.events('claim').length >= 1);
    expect(watcher.events('claim').map((e) => e.claimId)).toEqual([mine.id]);
    expect(watcher.events('claim')[0]!.claim).toEqual(triaged);

    // A second client resumes from the first event of the claim: it gets version 2 only.
    const history = await api.events(mine.id);
    const firstPosition = history.events[0]!.position!;
    const resumed = await Watcher.connect(instance.wsUrl, instance.tokens.editor);
    resumed.send({ type: 'subscribe', channel: 'claim', claimId: mine.id, after: firstPosition });
    await resumed.until(() => resumed.messages.some((m) => m.type === 'caught-up'));
    expect(resumed.messages.map((m) => m.type)).toEqual(['event', 'caught-up']);
    expect(resumed.events()[0]).toMatchObject({ version: 2, claim: triaged });
    watcher.close();
    resumed.close();
  });

  it('feed: snapshot is the head; after=0 replays everything in order, then caught-up', async () => {
    const api = instance.client();
    const feed = await api.feed({ after: 0, limit: 1000 });
    const head = feed.events.at(-1)!.position!;
    const watcher = await Watcher.connect(instance.wsUrl, instance.tokens.auditor);
    watcher.send({ type: 'subscribe', channel: 'feed' });
    watcher.send({ type: 'subscribe', channel: 'board', after: 0 });
    await watcher.until(() => watcher.messages.some((m) => m.type === 'snapshot'));
    expect(watcher.messages.find((m) => m.type === 'snapshot')).toEqual({ type: 'snapshot', channel: 'feed', position: head });
    await watcher.until(() => watcher.messages.some((m) => m.type === 'caught-up'));
    expect(watcher.events('board').map((e) => e.position)).toEqual(feed.events.map((e) => e.position));
    expect(watcher.messages.find((m) => m.type === 'caught-up')).toEqual({ type: 'caught-up', channel: 'board', position: head });
    watcher.close();
  });

  it('bad messages get an error and leave the connection and other clients streaming', async () => {
    const api = instance.client();
    const bystander = await Watcher.connect(instance.wsUrl, instance.tokens.editor);
    bystander.send({ type: 'subscribe', channel: 'feed' });
    const rude = await Watcher.connect(instance.wsUrl, instance.tokens.editor);
    rude.send({ type: 'subscribe', channel: 'feed' });
    await rude.until(() => rude.messages.length >= 1);
    const bad: unknown[] = [
      'not json',
      '[1,2]',
      { type: 'hello' },
      { type: 'subscribe', channel: 'everything' },
      { type: 'subscribe', channel: 'claim' },
      { type: 'subscribe', channel: 'claim', claimId: '../etc' },
      { type: 'subscribe', channel: 'board', after: -1 },
      { type: 'subscribe', channel: 'board', after: 'yesterday' },
      { type: 'subscribe', channel: 'feed' },
      { type: 'unsubscribe', channel: 'board' },
    ];
    for (const message of bad) rude.send(message);
    rude.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    await rude.until(() => rude.messages.filter((m) => m.type === 'error').length >= bad.length + 1);
    const codes = rude.messages.filter((m) => m.type === 'error').map((m) => (m as { code: string }).code);
    expect(codes).toEqual([
      'bad_message',
      'bad_message',
      'bad_message',
      'unknown_channel',
      'claim_id_required',
      'claim_id_required',
      'invalid_after',
      'invalid_after',
      'already_subscribed',
      'not_subscribed',
      'bad_message',
    ]);
    const claim = await api.createClaim({ text: 'Ukraine has no involvement' });
    await rude.until(() => rude.events().some((e) => e.claimId === claim.id));
    await bystander.until(() => bystander.events().some((e) => e.claimId === claim.id));
    expect(rude.socket.readyState).toBe(WebSocket.OPEN);
    bystander.close();
    rude.close();
  });

  it('unsubscribe stops the channel', async () => {
    const api = instance.client();
    const watcher = await Watcher.connect(instance.wsUrl, instance.tokens.editor);
    watcher.send({ type: 'subscribe', channel: 'board' });
    watcher.send({ type: 'subscribe', channel: 'feed' });
    await watcher.until(() => watcher.messages.filter((m) => m.type === 'snapshot').length === 2);
    watcher.send({ type: 'unsubscribe', channel: 'board' });
    await watcher.until(() => watcher.messages.some((m) => m.type === 'unsubscribed'));
    const claim = await api.createClaim({ text: 'The Legion holds Tyotkino' });
    await watcher.until(() => watcher.events('feed').some((e) => e.claimId === claim.id));
    expect(watcher.events('board').some((e) => e.claimId === claim.id)).toBe(false);
    watcher.close();
  });

  it('a revoked token loses its open stream (1008), on every instance', async () => {
    const other = await startInstance(db.url);
    try {
      const token = await issueToken(instance.app.database.db, 'seed-aud-priya', 'live revocation test');
      const here = await Watcher.connect(instance.wsUrl, token);
      const there = await Watcher.connect(other.wsUrl, token);
      here.send({ type: 'subscribe', channel: 'feed' });
      there.send({ type: 'subscribe', channel: 'feed' });
      await here.until(() => here.messages.length >= 1);
      await there.until(() => there.messages.length >= 1);
      await revokeToken(instance.app.database.db, token);
      expect((await here.closed).code).toBe(1008);
      expect((await there.closed).code).toBe(1008);
      await expect(Watcher.connect(instance.wsUrl, token)).rejects.toThrow(/401/);
    } finally {
      await other.close();
    }
  });

  it('graceful shutdown closes sockets with 1001', async () => {
    const other = await startInstance(db.url);
    const watcher = await Watcher.connect(other.wsUrl, other.tokens.editor);
    watcher.send({ type: 'subscribe', channel: 'feed' });
    await watcher.until(() => watcher.messages.length >= 1);
    await other.close();
    expect((await watcher.closed).code).toBe(1001);
  });
});
