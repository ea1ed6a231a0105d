import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { requirePostgres } from '@claimtrail/testing';
import { call, claimIn, createClaim, startApp, step, type TestApp } from './helpers.ts';
import { Watcher } from './live-support.ts';

const pg = await requirePostgres();

/**
 * A claim has one id, whatever its spelling on the way in: every place a claim id enters
 * (path, body, query, cursor, websocket) reads other spellings of the same uuid as that
 * claim, and anything that is not a uuid (braces, spaces, a urn) as no claim at all.
 */
const spellings = (id: string) => ({
  upper: id.toUpperCase(),
  mixed: id.replace(/[a-f]/g, (c, i: number) => (i % 2 === 0 ? c.toUpperCase() : c)),
});
const notIds = (id: string) => [`{${id}}`, ` ${id}`, `${id} `, `\t${id}`, `urn:uuid:${id}`, id.replace(/-/g, ''), `${id}0`];

for (const writeBatchMax of [64, 1]) {
  describe.skipIf(!pg)(`claim ids on the way in (${writeBatchMax === 1 ? 'one command per transaction' : 'group commit'})`, () => {
    let t: TestApp;
    let base: string;
    beforeAll(async () => {
      t = await startApp({ config: { writeBatchMax } });
      base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    });
    afterAll(async () => {
      await t?.close();
    });

    async function eventsOf(id: string): Promise<{ type: string; data: Record<string, unknown> }[]> {
      const result = await sql<{ type: string; data: Record<string, unknown> }>`
        select type, data from events where stream_id = ${`claim-${id}`} order by version`.execute(t.app.database.db);
      return result.rows;
    }

    it('merge: into its own id in any case is refused (400, nothing appended); into another claim records the canonical id', async () => {
      const { id } = await createClaim(t);
      const before = await t.eventCount();
      for (const into of [id, ...Object.values(spellings(id))]) {
        const self = await step(t, id, 'merge', t.as.editor, { into });
        expect(self.statusCode, into).toBe(400);
        expect(self.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(self.json).toMatchObject({ code: 'validation', field: 'into' });
      }
      for (const into of notIds(id)) {
        const bad = await step(t, id, 'merge', t.as.editor, { into });
        expect(bad.statusCode, JSON.stringify(into)).toBe(400);
        expect(bad.json.code).toBe('validation');
      }
      expect(await t.eventCount()).toBe(before);

      const target = await createClaim(t);
      const merged = await step(t, id, 'merge', t.as.editor, { into: target.id.toUpperCase() });
      expect(merged.statusCode).toBe(200);
      expect(merged.json.mergedInto).toBe(target.id);
      const recorded = (await eventsOf(id)).find((e) => e.type === 'ClaimMerged')!;
      expect(recorded.data.into).toBe(target.id);
      // The same merge in another spelling, with the same key, is the same request.
      const dup = await createClaim(t);
      const key = { 'idempotency-key': `merge-${dup.id}` };
      const first = await step(t, dup.id, 'merge', t.as.editor, { into: target.id }, key);
      const again = await step(t, dup.id, 'merge', t.as.editor, { into: target.id.toUpperCase() }, key);
      expect(first.statusCode).toBe(200);
      expect(again.statusCode).toBe(200);
      expect(again.headers['idempotent-replayed']).toBe('true');
    });

    it('every claim route of the API reads a claim id in any case as that claim, and a non-uuid as no claim (404)', async () => {
      const id = await claimIn(t, 'published');
      // The ClaimReview's receipt names the first checkpoint that covers the verdict: sign it
      // now, or one signed between two reads below would change the body.
      await t.app.transparency.sync();
      const spec = (await call(t.app, { url: '/openapi.json' })).json as { paths: Record<string, Record<string, unknown>> };
      const reads = Object.entries(spec.paths)
        .filter(([path, ops]) => path.includes('{id}') && 'get' in ops)
        .map(([path]) => path);
      expect(reads.length).toBeGreaterThanOrEqual(4);
      for (const path of reads) {
        const canonical = await call(t.app, { url: path.replace('{id}', id), headers: t.as.auditor });
        expect(canonical.statusCode, path).toBe(200);
        for (const spelling of Object.values(spellings(id))) {
          const other = await call(t.app, { url: path.replace('{id}', spelling), headers: t.as.auditor });
          expect(other.statusCode, `${path} ${spelling}`).toBe(200);
          expect(other.body, `${path} ${spelling}`).toBe(canonical.body);
        }
        for (const notId of notIds(id)) {
          const other = await call(t.app, { url: path.replace('{id}', encodeURIComponent(notId)), headers: t.as.auditor });
          expect(other.statusCode, `${path} ${JSON.stringify(notId)}`).toBe(404);
          expect(other.json.code).toBe('not_found');
        }
      }
    });

    it('a step on a claim named in another case writes to that claim; a non-uuid names none', async () => {
      const { id } = await createClaim(t);
      const { upper, mixed } = spellings(id);
      expect((await step(t, upper, 'notes', t.as.fact_checker, { body: 'one' })).json).toMatchObject({ id, version: 2 });
      expect((await step(t, mixed, 'notes', t.as.fact_checker, { body: 'two' })).json).toMatchObject({ id, version: 3 });
      const before = await t.eventCount();
      for (const notId of notIds(id)) {
        const r = await step(t, encodeURIComponent(notId), 'notes', t.as.fact_checker, { body: 'lost' });
        expect(r.statusCode, JSON.stringify(notId)).toBe(404);
      }
      expect(await t.eventCount()).toBe(before);
      expect((await eventsOf(id)).map((e) => e.type)).toEqual(['ClaimSubmitted', 'NoteAdded', 'NoteAdded']);
    });

    it('/audit/verify?claimId= and the list cursor read a claim id in any case', async () => {
      const { id } = await createClaim(t);
      const canonical = await call(t.app, { url: `/audit/verify?claimId=${id}`, headers: t.as.auditor });
      expect(canonical.json.scope).toEqual({ claimId: id });
      for (const spelling of Object.values(spellings(id))) {
        const other = await call(t.app, { url: `/audit/verify?claimId=${spelling}`, headers: t.as.auditor });
        expect(other.statusCode).toBe(200);
        expect(other.json.scope).toEqual({ claimId: id });
      }
      for (const notId of notIds(id)) {
        const other = await call(t.app, { url: `/audit/verify?claimId=${encodeURIComponent(notId)}`, headers: t.as.auditor });
        expect(other.statusCode, JSON.stringify(notId)).toBe(404);
      }

      await createClaim(t);
      const page = await call(t.app, { url: '/claims?limit=1', headers: t.as.auditor });
      const cursor = page.json.nextCursor as string;
      const decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { c: string; i: string };
      const upper = Buffer.from(JSON.stringify({ ...decoded, i: decoded.i.toUpperCase() }), 'utf8').toString('base64url');
      const next = await call(t.app, { url: `/claims?limit=1&cursor=${cursor}`, headers: t.as.auditor });
      const nextUpper = await call(t.app, { url: `/claims?limit=1&cursor=${upper}`, headers: t.as.auditor });
      expect(nextUpper.statusCode).toBe(200);
      expect(nextUpper.body).toBe(next.body);
    });

    it('websocket: subscribing to a claim in another case is that claim; a non-uuid is refused', async () => {
      const { id } = await createClaim(t);
      const token = t.as.editor.authorization.slice('Bearer '.length);
      const watcher = await Watcher.connect(`${base.replace('http', 'ws')}/ws`, token);
      try {
        watcher.send({ type: 'subscribe', channel: 'claim', claimId: id.toUpperCase() });
        await watcher.until(() => watcher.messages.some((m) => m.type === 'snapshot'));
        expect(watcher.messages.find((m) => m.type === 'snapshot')).toMatchObject({ channel: 'claim', claimId: id });
        // The same claim in a third spelling is the subscription already held.
        watcher.send({ type: 'subscribe', channel: 'claim', claimId: spellings(id).mixed });
        for (const notId of notIds(id)) watcher.send({ type: 'subscribe', channel: 'claim', claimId: notId });
        await watcher.until(() => watcher.messages.filter((m) => m.type === 'error').length === 1 + notIds(id).length);
        expect(watcher.messages.filter((m) => m.type === 'error').map((m) => (m as { code: string }).code)).toEqual([
          'already_subscribed',
          ...notIds(id).map(() => 'claim_id_required'),
        ]);
        await step(t, id, 'notes', t.as.fact_checker, { body: 'seen live' });
        await watcher.until(() => watcher.events('claim', id).length > 0);
        expect(watcher.socket.readyState).toBe(WebSocket.OPEN);
      } finally {
        watcher.close();
      }
    });
  });
}
