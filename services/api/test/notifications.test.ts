import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { buildApp } from '../src/app.ts';
import { call, createClaim, must, startApp, type TestApp } from './helpers.ts';
import { Watcher } from './live-support.ts';

/**
 * Notifications: every kind made by a real workflow through the API, delivered over the
 * `me` channel exactly once (also by another instance on the same database, and to a
 * socket catching up with `after`), and the same rows after a rebuild.
 */
const FC = 'demo-fact-checker';

interface NotificationMessage {
  type: 'notification';
  seq: number;
  notification: { id: string; kind: string; recipient: string; claimId: string; seq: number };
}

function notificationsOf(w: Watcher): NotificationMessage[] {
  return (w.messages as unknown as { type: string }[]).filter((m): m is NotificationMessage => m.type === 'notification');
}

async function rows(t: TestApp) {
  const { rows } = await sql<Record<string, unknown>>`select seq::text, id, recipient, kind, claim_id, actor, created_at, data::text from notifications order by seq`.execute(
    t.app.store.db,
  );
  return rows;
}

describe('notifications', () => {
  let t: TestApp;
  let wsUrl: string;
  let watcher: Watcher;
  let other: Awaited<ReturnType<typeof buildApp>>;
  let otherWatcher: Watcher;
  const claims: Record<string, string> = {};

  beforeAll(async () => {
    t = await startApp();
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    wsUrl = `ws://127.0.0.1:${(t.app.server.address() as AddressInfo).port}/ws`;
    // A second instance on the same database: its socket learns of the first one's writes.
    other = await buildApp({ config: { databaseUrl: t.app.config.databaseUrl!, rateLimitMax: 0 }, logger: false, seed: false, demoTokens: false });
    await other.listen({ port: 0, host: '127.0.0.1' });
    const fcToken = t.as.fact_checker.authorization.slice('Bearer '.length);
    watcher = await Watcher.connect(wsUrl, fcToken);
    watcher.send({ type: 'subscribe', channel: 'me' });
    otherWatcher = await Watcher.connect(`ws://127.0.0.1:${(other.server.address() as AddressInfo).port}/ws`, fcToken);
    otherWatcher.send({ type: 'subscribe', channel: 'me' });
    await watcher.until(() => watcher.messages.some((m) => m.type === 'subscribed'));
    await otherWatcher.until(() => otherWatcher.messages.some((m) => m.type === 'subscribed'));

    const fc = t.as.fact_checker;
    const ed = t.as.editor;
    // assigned, changes requested, published, corrected, retracted
    const a = (await createClaim(t, fc)).id;
    await must(t, a, 'triage', ed);
    await must(t, a, 'assign', ed, { assignee: FC });
    await must(t, a, 'evidence', fc, { summary: 'Report A contradicts it', stance: 'refutes' });
    await must(t, a, 'verdict', fc, { rating: 'false', rationale: 'Contradicted by two reports' });
    await must(t, a, 'submit', fc);
    await must(t, a, 'request-changes', ed, { reason: 'Cite the second report' });
    await must(t, a, 'submit', fc);
    await must(t, a, 'publish', ed);
    await must(t, a, 'correct', ed, { note: 'Typo in the second source name fixed' });
    await must(t, a, 'retract', ed, { reason: 'The footage turned out to be older' });
    // mentioned (a user; a name that is no user and the author mentioning themself make nothing)
    const b = (await createClaim(t, fc)).id;
    await must(t, b, 'notes', ed, { body: `@${FC}, can you check the geolocation? cc @nobody-at-all` });
    await must(t, b, 'notes', fc, { body: `@${FC} note to self` });
    // merged while being worked on
    const c = (await createClaim(t, fc)).id;
    await must(t, c, 'triage', ed);
    await must(t, c, 'assign', ed, { assignee: FC });
    await must(t, c, 'merge', ed, { into: b });
    Object.assign(claims, { a, b, c });
    await t.app.desk.catchUp();
    await other.desk.catchUp();
  }, 120_000);

  afterAll(async () => {
    watcher?.close();
    otherWatcher?.close();
    await other?.close();
    await t?.close();
  });

  const EXPECTED = [
    ['a', 'assigned'],
    ['a', 'changes_requested'],
    ['a', 'verdict_published'],
    ['a', 'verdict_corrected'],
    ['a', 'verdict_retracted'],
    ['b', 'mentioned'],
    ['c', 'assigned'],
    ['c', 'claim_merged'],
  ] as const;

  it('makes every kind for the person concerned, listed unread first and newest first', async () => {
    const response = await call(t.app, { method: 'GET', url: '/me/notifications?limit=100', headers: t.as.fact_checker });
    expect(response.statusCode, response.body).toBe(200);
    const items = response.json.items as { kind: string; claimId: string; recipient: string; actor: string; readAt: null }[];
    expect(items.map((i) => [i.claimId, i.kind]).reverse()).toEqual(EXPECTED.map(([k, kind]) => [claims[k], kind]));
    expect(items.every((i) => i.recipient === FC && i.actor === 'demo-editor' && i.readAt === null)).toBe(true);
    expect(response.json.unreadCount).toBe(EXPECTED.length);
    // The editor acted each time: nothing for them, nor for the auditor.
    for (const headers of [t.as.editor, t.as.auditor]) {
      const theirs = await call(t.app, { method: 'GET', url: '/me/notifications', headers });
      expect(theirs.json.items).toEqual([]);
    }
  });

  it('delivers each one over `me` exactly once, on both instances', async () => {
    // A sentinel after everything: once it arrived, everything before it had its chance to arrive twice.
    const d = (await createClaim(t, t.as.fact_checker)).id;
    await must(t, d, 'notes', t.as.editor, { body: `@${FC} sentinel` });
    for (const w of [watcher, otherWatcher]) {
      await w.until(() => notificationsOf(w).some((m) => m.notification.claimId === d), 30_000, 'the sentinel');
      const got = notificationsOf(w);
      expect(got.map((m) => [m.notification.claimId, m.notification.kind])).toEqual([
        ...EXPECTED.map(([k, kind]) => [claims[k], kind]),
        [d, 'mentioned'],
      ]);
      expect(new Set(got.map((m) => m.notification.id)).size).toBe(got.length);
      const seqs = got.map((m) => m.seq);
      expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    }
    claims.d = d;
  });

  it('catches a socket up from `after` without gaps or repeats, and refuses bad subscriptions', async () => {
    const fcToken = t.as.fact_checker.authorization.slice('Bearer '.length);
    const all = notificationsOf(watcher);
    const late = await Watcher.connect(wsUrl, fcToken);
    late.send({ type: 'subscribe', channel: 'me', after: all[2]!.seq });
    await late.until(() => notificationsOf(late).length >= all.length - 3, 30_000, 'the catch-up');
    const e = (await createClaim(t, t.as.fact_checker)).id;
    await must(t, e, 'notes', t.as.editor, { body: `@${FC} after the catch-up` });
    await late.until(() => notificationsOf(late).some((m) => m.notification.claimId === e), 30_000, 'the live one');
    expect(notificationsOf(late).map((m) => m.notification.id)).toEqual([...all.slice(3).map((m) => m.notification.id), notificationsOf(late).at(-1)!.notification.id]);
    late.send({ type: 'subscribe', channel: 'me' });
    late.send({ type: 'subscribe', channel: 'me', after: -1 });
    late.send({ type: 'subscribe', channel: 'me', after: 'x' });
    await late.until(() => late.messages.filter((m) => m.type === 'error').length >= 3);
    expect(late.messages.filter((m) => m.type === 'error').map((m) => (m as { code: string }).code)).toEqual([
      'already_subscribed',
      'invalid_after',
      'invalid_after',
    ]);
    late.send({ type: 'unsubscribe', channel: 'me' });
    await late.until(() => late.messages.some((m) => m.type === 'unsubscribed'));
    late.close();
  });

  it('rebuilds the same rows from the events', async () => {
    await t.app.desk.catchUp();
    const live = await rows(t);
    expect(live.length).toBeGreaterThan(EXPECTED.length);
    await t.app.desk.follower.rebuild();
    expect(await rows(t)).toEqual(live);
  });

  it('marks read by id or up to a seq, only the caller’s own', async () => {
    const list = await call(t.app, { method: 'GET', url: '/me/notifications?limit=100', headers: t.as.fact_checker });
    const items = list.json.items as { id: string; seq: number }[];
    // Another user's attempt marks nothing.
    const foreign = await call(t.app, { method: 'POST', url: '/me/notifications/read', headers: t.as.editor, payload: { ids: [items[0]!.id] } });
    expect(foreign.statusCode).toBe(200);
    expect(foreign.json.marked).toBe(0);
    const byId = await call(t.app, { method: 'POST', url: '/me/notifications/read', headers: t.as.fact_checker, payload: { ids: [items[0]!.id, 'unknown'] } });
    expect(byId.json).toEqual({ marked: 1, unreadCount: items.length - 1 });
    // Unread first: the one just read is now last.
    const after = await call(t.app, { method: 'GET', url: '/me/notifications?limit=100', headers: t.as.fact_checker });
    expect(after.json.items.at(-1).id).toBe(items[0]!.id);
    expect(after.json.items.at(-1).readAt).not.toBeNull();
    // Paging walks the same order.
    const paged: string[] = [];
    for (let cursor: string | null = null, n = 0; n < 50; n++) {
      const page: Awaited<ReturnType<typeof call>> = await call(t.app, {
        method: 'GET',
        url: `/me/notifications?limit=3${cursor ? `&cursor=${cursor}` : ''}`,
        headers: t.as.fact_checker,
      });
      paged.push(...(page.json.items as { id: string }[]).map((i) => i.id));
      cursor = page.json.nextCursor;
      if (!cursor) break;
    }
    expect(paged).toEqual(after.json.items.map((i: { id: string }) => i.id));
    const unread = await call(t.app, { method: 'GET', url: '/me/notifications?unread=true&limit=100', headers: t.as.fact_checker });
    expect(unread.json.items.length).toBe(items.length - 1);
    const upTo = await call(t.app, { method: 'POST', url: '/me/notifications/read', headers: t.as.fact_checker, payload: { upTo: items[0]!.seq } });
    expect(upTo.json.unreadCount).toBe(0);
    // A rebuild keeps what was read.
    await t.app.desk.follower.rebuild();
    const rebuilt = await call(t.app, { method: 'GET', url: '/me/notifications?limit=100', headers: t.as.fact_checker });
    expect(rebuilt.json.unreadCount).toBe(0);
  });

  it('refuses without a token and rejects hostile input with problem+json', async () => {
    expect((await call(t.app, { method: 'GET', url: '/me/notifications' })).statusCode).toBe(401);
    expect((await call(t.app, { method: 'POST', url: '/me/notifications/read', payload: { upTo: 1 } })).statusCode).toBe(401);
    const bad = [
      { method: 'GET', url: '/me/notifications?limit=0' },
      { method: 'GET', url: '/me/notifications?limit=101' },
      { method: 'GET', url: '/me/notifications?cursor=zzz' },
      { method: 'GET', url: '/me/notifications?cursor=u99999999999999999999' },
      { method: 'GET', url: '/me/notifications?unread=maybe' },
      { method: 'GET', url: '/me/notifications?x=1' },
      { method: 'POST', url: '/me/notifications/read', payload: {} },
      { method: 'POST', url: '/me/notifications/read', payload: { ids: [] } },
      { method: 'POST', url: '/me/notifications/read', payload: { ids: ['a'], upTo: 3 } },
      { method: 'POST', url: '/me/notifications/read', payload: { upTo: -1 } },
      { method: 'POST', url: '/me/notifications/read', payload: { upTo: '5' } },
      { method: 'POST', url: '/me/notifications/read', payload: { ids: 'x' } },
      { method: 'POST', url: '/me/notifications/read', payload: [1, 2] },
    ] as const;
    const before = await t.eventCount();
    for (const request of bad) {
      const response = await call(t.app, { ...request, headers: t.as.fact_checker });
      expect(response.statusCode, `${request.method} ${request.url} ${JSON.stringify('payload' in request ? request.payload : '')}`).toBe(400);
      expect(response.headers['content-type']).toMatch(/application\/problem\+json/);
    }
    expect(await t.eventCount()).toBe(before);
  });
});
