import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { requirePostgres } from '@claimtrail/testing';
import { createClaim, startApp, type TestApp } from './helpers.ts';

const pg = await requirePostgres();

/**
 * An Idempotency-Key belongs to the first request that committed with it. A refusal may
 * only give back a key its own request claimed: a refused reuse of someone else's key must
 * leave that key (and its stored answer) alone, or the next request with the key writes
 * again. Group commit and the single-command path claim and release keys differently, so
 * every scenario runs on both, on PostgreSQL and on the embedded PGlite.
 */
const modes = [
  { name: 'PostgreSQL, group commit', postgres: true, writeBatchMax: 64 },
  { name: 'PostgreSQL, one command per transaction (WRITE_BATCH_MAX=1)', postgres: true, writeBatchMax: 1 },
  { name: 'PGlite, group commit', postgres: false, writeBatchMax: 64 },
  { name: 'PGlite, one command per transaction (WRITE_BATCH_MAX=1)', postgres: false, writeBatchMax: 1 },
] as const;

interface Answer {
  status: number;
  replayed: string | null;
  etag: string | null;
  body: string;
  json: any;
}

for (const mode of modes) {
  describe.skipIf(mode.postgres && !pg)(`Idempotency-Key over real HTTP (${mode.name})`, () => {
    let t: TestApp;
    let base: string;
    beforeAll(async () => {
      t = await startApp({ postgres: mode.postgres, config: { poolSize: 10, writeBatchMax: mode.writeBatchMax } });
      base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    });
    afterAll(async () => {
      await t?.close();
    });

    async function post(path: string, key: string, body: unknown, headers = t.as.fact_checker): Promise<Answer> {
      const response = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { ...headers, 'idempotency-key': key, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, replayed: response.headers.get('idempotent-replayed'), etag: response.headers.get('etag'), body: text, json: JSON.parse(text) };
    }

    /** Claims submitted with this text, counted in the log itself. */
    async function claimsWithText(text: string): Promise<number> {
      const result = await sql<{ n: number }>`
        select count(*)::int as n from events where type = 'ClaimSubmitted' and data->>'text' = ${text}`.execute(t.app.database.db);
      return Number(result.rows[0]!.n);
    }

    function expectReuse(answer: Answer): void {
      expect(answer.status).toBe(422);
      expect(answer.json.code).toBe('idempotency_key_reuse');
    }

    it('submit: A → 201, B → 422, A again → the first answer (same claim), B again → 422', async () => {
      const key = `submit-${mode.writeBatchMax}-${mode.postgres}`;
      const before = await t.eventCount();
      const first = await post('/claims', key, { text: `Alpha claim ${key}` });
      expect(first.status).toBe(201);
      expect(first.replayed).toBeNull();
      expectReuse(await post('/claims', key, { text: `Bravo claim ${key}` }));
      const again = await post('/claims', key, { text: `Alpha claim ${key}` });
      expect(again.status).toBe(201);
      expect(again.replayed).toBe('true');
      expect(again.json.id).toBe(first.json.id);
      expect(again.body).toBe(first.body);
      expectReuse(await post('/claims', key, { text: `Bravo claim ${key}` }));
      expect(await t.eventCount()).toBe(before + 1);
      expect(await claimsWithText(`Alpha claim ${key}`)).toBe(1);
      expect(await claimsWithText(`Bravo claim ${key}`)).toBe(0);
    });

    it('step: A → 200, B → 422, A again → the first answer, nothing appended after the first', async () => {
      const { id } = await createClaim(t);
      const key = `note-${id}`;
      const before = await t.eventCount();
      const first = await post(`/claims/${id}/notes`, key, { body: 'alpha' });
      expect(first.status).toBe(200);
      expectReuse(await post(`/claims/${id}/notes`, key, { body: 'bravo' }));
      const again = await post(`/claims/${id}/notes`, key, { body: 'alpha' });
      expect(again.status).toBe(200);
      expect(again.replayed).toBe('true');
      expect(again.body).toBe(first.body);
      expect(again.etag).toBe(first.etag);
      expectReuse(await post(`/claims/${id}/notes`, key, { body: 'bravo' }));
      expect(await t.eventCount()).toBe(before + 1);
    });

    it("a refused command gives its own key back; a refused reuse leaves the owner's key alone", async () => {
      const { id } = await createClaim(t);
      const key = `refused-${id}`;
      // Refused by the workflow (a submitted claim cannot be published): nothing stored, the key is free again.
      const refused = await post(`/claims/${id}/publish`, key, {}, t.as.editor);
      expect(refused.status).toBe(409);
      const triaged = await post(`/claims/${id}/triage`, key, {}, t.as.editor);
      expect(triaged.status).toBe(200);
      // Now the key is the triage's: a different command on it is refused, and the triage still replays.
      expectReuse(await post(`/claims/${id}/reject`, key, { reason: 'no' }, t.as.editor));
      const replay = await post(`/claims/${id}/triage`, key, {}, t.as.editor);
      expect(replay.replayed).toBe('true');
      expect(replay.body).toBe(triaged.body);
    });

    for (const used of [false, true]) {
      it(`20 concurrent submissions with different bodies on a ${used ? 'used' : 'fresh'} key: at most one claim, the rest 422`, async () => {
        const key = `race-submit-${used}-${mode.writeBatchMax}-${mode.postgres}`;
        const earlier = used ? await post('/claims', key, { text: `Earlier ${key}` }) : undefined;
        const before = await t.eventCount();
        const texts = Array.from({ length: 20 }, (_, i) => `Racer ${i} ${key}`);
        const answers = await Promise.all(texts.map((text) => post('/claims', key, { text })));
        const wins = answers.filter((a) => a.status === 201);
        for (const loss of answers.filter((a) => a.status !== 201)) expectReuse(loss);
        expect(wins).toHaveLength(used ? 0 : 1);
        expect(await t.eventCount()).toBe(before + (used ? 0 : 1));
        const owner = earlier ?? wins[0]!;
        // The key still answers its owner's request, and only that one.
        const replay = await post('/claims', key, { text: owner.json.text });
        expect(replay.replayed).toBe('true');
        expect(replay.body).toBe(owner.body);
        expect(await t.eventCount()).toBe(before + (used ? 0 : 1));
        let created = 0;
        for (const text of texts) created += await claimsWithText(text);
        expect(created).toBe(used ? 0 : 1);
      });

      it(`20 concurrent notes with different bodies on a ${used ? 'used' : 'fresh'} key: at most one appended, the rest 422`, async () => {
        const { id } = await createClaim(t);
        const key = `race-note-${used}-${id}`;
        const earlier = used ? await post(`/claims/${id}/notes`, key, { body: 'earlier' }) : undefined;
        const before = await t.eventCount();
        const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => post(`/claims/${id}/notes`, key, { body: `racer ${i}` })));
        const wins = answers.filter((a) => a.status === 200);
        for (const loss of answers.filter((a) => a.status !== 200)) expectReuse(loss);
        expect(wins).toHaveLength(used ? 0 : 1);
        expect(await t.eventCount()).toBe(before + (used ? 0 : 1));
        const owner = earlier ?? wins[0]!;
        const body = used ? 'earlier' : `racer ${answers.indexOf(owner)}`;
        const replay = await post(`/claims/${id}/notes`, key, { body });
        expect(replay.replayed).toBe('true');
        expect(replay.body).toBe(owner.body);
        const view = (await fetch(`${base}/claims/${id}`, { headers: t.as.auditor }).then((r) => r.json())) as { notesCount: number };
        expect(view.notesCount).toBe(1);
      });
    }

    it('20 concurrent identical submissions on one key: one claim, twenty identical answers', async () => {
      const key = `same-submit-${mode.writeBatchMax}-${mode.postgres}`;
      const before = await t.eventCount();
      const answers = await Promise.all(Array.from({ length: 20 }, () => post('/claims', key, { text: `Twin ${key}` })));
      expect(answers.map((a) => a.status)).toEqual(answers.map(() => 201));
      expect(new Set(answers.map((a) => a.body)).size).toBe(1);
      expect(answers.filter((a) => a.replayed === null)).toHaveLength(1);
      expect(await t.eventCount()).toBe(before + 1);
    });
  });
}
