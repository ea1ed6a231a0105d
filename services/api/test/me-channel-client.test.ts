/**
 * The typed client's live connection on the `me` channel (what the desk's bell uses),
 * against a real service: each notification reaches `onNotification` once, and after the
 * socket is dropped the subscription resumes after the last `seq` it saw (no repeat, no gap).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import type { NotificationMessage } from '@claimtrail/client';
import { startInstance, type Instance } from './live-support.ts';

const pg = await requirePostgres();

describe.skipIf(!pg)('the client on the me channel', () => {
  let db: TestDatabase;
  let instance: Instance;

  beforeAll(async () => {
    db = await createTestDatabase('me_client');
    instance = await startInstance(db.url);
  });
  afterAll(async () => {
    await instance?.close();
    await db?.drop();
  });

  it('delivers each notification once and resumes after its last seq across a reconnect', async () => {
    const editorId = ((await (await fetch(`${instance.url}/me`, { headers: { authorization: `Bearer ${instance.tokens.editor}` } })).json()) as { id: string }).id;
    const watcher = instance.client('editor');
    const received: NotificationMessage[] = [];
    const subscribed = new Promise<void>((resolve) => {
      const off = watcher.live.onStatus((status) => {
        if (status === 'open') {
          off();
          resolve();
        }
      });
    });
    watcher.live.subscribe({ channel: 'me' }, { onNotification: (m) => received.push(m) });
    await subscribed;

    const admin = instance.client('admin');
    const claim = await admin.createClaim({ text: 'A dam was damaged upstream of the city' } as never);
    await admin.addNote(claim.id, { body: `@${editorId} first` });
    await expect.poll(() => received.length, { timeout: 20_000 }).toBe(1);
    expect(received[0]!.notification).toMatchObject({ kind: 'mentioned', claimId: claim.id, actor: expect.any(String), readAt: null });
    expect(received[0]!.notification.data?.body).toBe(`@${editorId} first`);

    // Dropped: a note is added while reconnecting; the resumed subscription sends it once, not the first again.
    watcher.live.reconnect();
    await admin.addNote(claim.id, { body: `@${editorId} second` });
    await expect.poll(() => received.length, { timeout: 20_000 }).toBe(2);
    await admin.addNote(claim.id, { body: `@${editorId} third` });
    await expect.poll(() => received.length, { timeout: 20_000 }).toBe(3);
    expect(received.map((m) => m.notification.data?.body)).toEqual([`@${editorId} first`, `@${editorId} second`, `@${editorId} third`]);
    expect(received.map((m) => m.seq)).toEqual([...received.map((m) => m.seq)].sort((a, b) => a - b));
    watcher.live.close();
  }, 60_000);
});
