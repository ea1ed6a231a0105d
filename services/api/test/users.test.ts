import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { call, claimIn, startApp, step, type TestApp } from './helpers.ts';

const pg = await requirePostgres();

/**
 * Assign names someone who will research the claim: an active user whose role may draft a
 * verdict (the domain's policy table). Anyone else is refused with nothing appended, on
 * both write paths (group commit decides assigns in a batch with one directory lookup).
 */
for (const writeBatchMax of [64, 1]) {
  describe.skipIf(!pg)(`assign and the user directory (${writeBatchMax === 1 ? 'one command per transaction' : 'group commit'})`, () => {
    let t: TestApp;
    let disabledChecker: string;
    beforeAll(async () => {
      t = await startApp({ config: { writeBatchMax, poolSize: 10 } });
      disabledChecker = (await t.newUser('fact_checker')).id;
      await sql`update users set disabled = true where id = ${disabledChecker}`.execute(t.app.database.db);
    });
    afterAll(async () => {
      await t?.close();
    });

    const notAUser = (assignee: string) => ({ status: 400, code: 'validation', field: 'assignee', assignee });
    const cannotResearch = (assignee: string) => ({ status: 422, code: 'assignee_cannot_research', assignee });

    async function refusals(): Promise<{ status: number; code: string; field?: string; assignee: string }[]> {
      const editor = (await t.newUser('editor')).id;
      const auditor = (await t.newUser('auditor')).id;
      return [
        notAUser('nobody-by-that-name'),
        notAUser('DEMO-FACT-CHECKER'),
        notAUser(' demo-fact-checker'),
        notAUser('demo-fact-checker\t'),
        notAUser(disabledChecker),
        cannotResearch('demo-auditor'),
        cannotResearch(auditor),
        cannotResearch('demo-editor'),
        cannotResearch(editor),
      ];
    }

    it('refuses an assignee who is unknown, disabled or cannot research; appends nothing; the claim stays put', async () => {
      for (const from of ['triaged', 'in_research', 'in_review'] as const) {
        const id = await claimIn(t, from);
        const before = await t.eventCount();
        for (const expected of await refusals()) {
          const r = await step(t, id, 'assign', t.as.editor, { assignee: expected.assignee });
          expect(r.statusCode, `${from} ${JSON.stringify(expected.assignee)}`).toBe(expected.status);
          expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
          expect(r.json).toMatchObject({ code: expected.code, ...(expected.field ? { field: expected.field } : {}) });
          expect(r.json.detail).toContain(expected.assignee.trim());
        }
        expect(await t.eventCount()).toBe(before);
        const view = await call(t.app, { url: `/claims/${id}`, headers: t.as.auditor });
        expect(view.json.state).toBe(from);
      }
    });

    it('assigns an active fact-checker or admin', async () => {
      const id = await claimIn(t, 'triaged');
      const checker = await t.newUser('fact_checker');
      const assigned = await step(t, id, 'assign', t.as.editor, { assignee: checker.id });
      expect(assigned.statusCode).toBe(200);
      expect(assigned.json).toMatchObject({ state: 'in_research', assignee: checker.id });
      const admin = await step(t, id, 'assign', t.as.editor, { assignee: 'demo-admin' });
      expect(admin.json).toMatchObject({ state: 'in_research', assignee: 'demo-admin' });
      // The assignee can do the work: evidence and a draft.
      expect((await step(t, id, 'evidence', checker.headers, { summary: 'A report', stance: 'supports' })).statusCode).toBe(200);
      expect((await step(t, id, 'verdict', checker.headers, { rating: 'true', rationale: 'Confirmed' })).statusCode).toBe(200);
    });

    it('concurrent assigns, valid and not, each get their own answer', async () => {
      const cases = await refusals();
      const ids = await Promise.all(cases.map(() => claimIn(t, 'triaged')));
      const valid = await Promise.all(cases.map(() => claimIn(t, 'triaged')));
      const before = await t.eventCount();
      const answers = await Promise.all([
        ...cases.map((c, i) => step(t, ids[i]!, 'assign', t.as.editor, { assignee: c.assignee })),
        ...valid.map((id) => step(t, id, 'assign', t.as.editor, { assignee: 'demo-fact-checker' })),
      ]);
      expect(answers.map((a) => a.statusCode)).toEqual([...cases.map((c) => c.status), ...valid.map(() => 200)]);
      expect(await t.eventCount()).toBe(before + valid.length);
    });

    it('GET /users: the directory for any authenticated role; 401 problem without a token', async () => {
      const anonymous = await call(t.app, { url: '/users' });
      expect(anonymous.statusCode).toBe(401);
      expect(anonymous.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(anonymous.json.code).toBe('unauthorized');
      for (const role of ['fact_checker', 'editor', 'auditor', 'admin'] as const) {
        const r = await call(t.app, { url: '/users', headers: t.as[role] });
        expect(r.statusCode, role).toBe(200);
        expect(r.json.items).toEqual(expect.arrayContaining([
          { id: 'demo-fact-checker', name: 'Demo fact-checker', role: 'fact_checker', active: true },
          { id: 'demo-editor', name: 'Demo editor', role: 'editor', active: true },
          { id: 'demo-auditor', name: 'Demo auditor', role: 'auditor', active: true },
          { id: 'demo-admin', name: 'Demo admin', role: 'admin', active: true },
          { id: disabledChecker, name: disabledChecker, role: 'fact_checker', active: false },
        ]));
        for (const user of r.json.items) expect(Object.keys(user).sort()).toEqual(['active', 'id', 'name', 'role']);
        const ids = r.json.items.map((u: { id: string }) => u.id);
        expect(ids).toEqual([...ids].sort());
      }
      const spec = (await call(t.app, { url: '/openapi.json' })).json;
      expect(spec.paths['/users'].get).toMatchObject({ operationId: 'listUsers', responses: { 200: expect.anything(), 401: expect.anything() } });
    });
  });
}
