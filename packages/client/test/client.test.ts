/**
 * The typed client against a real service (buildApp on a real port, real PostgreSQL):
 * every route of PRODUCT.md, ProblemError with the problem+json fields, If-Match and
 * Idempotency-Key, and live subscriptions that reconnect and resume.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import type { FastifyInstance } from 'fastify';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { buildApp } from '../../../services/api/src/app.ts';
import { ClaimtrailClient, LiveConnection, ProblemError, type EventMessage, type WebSocketConstructor } from '../src/index.ts';

const pg = await requirePostgres();

describe.skipIf(!pg)('@claimtrail/client', () => {
  let db: TestDatabase;
  let app: FastifyInstance;
  let baseUrl: string;
  const as = (role: 'editor' | 'fact_checker' | 'auditor' | 'admin', token?: string) =>
    new ClaimtrailClient({ baseUrl, token: token ?? app.demoTokens[role]!, WebSocket: WebSocket as unknown as WebSocketConstructor });

  beforeAll(async () => {
    db = await createTestDatabase('client');
    app = await buildApp({ config: { databaseUrl: db.url, rateLimitMax: 0 }, logger: false, seed: false, demoTokens: true });
    await app.listen({ port: 0, host: '127.0.0.1' });
    baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('walks a claim through the workflow with every step and read route', async () => {
    const editor = as('editor');
    const checker = as('fact_checker');
    const auditor = as('auditor');

    const claim = await checker.createClaim({
      text: 'The FSB says 100 attackers, six tanks and a CAESAR howitzer were destroyed',
      claimant: 'FSB',
      tags: ['fsb', 'belgorod'],
      appearances: [{ outlet: 'TASS', publishedAt: '2024-03-12', excerpt: 'six tanks' }],
    });
    expect(claim).toMatchObject({ state: 'submitted', version: 1, claimant: 'FSB' });
    expect(await auditor.getClaim(claim.id)).toEqual(claim);
    expect((await auditor.listClaims({ tag: 'fsb' })).items.map((c) => c.id)).toEqual([claim.id]);

    expect(await editor.allowedSteps(claim.id)).toEqual({ claimId: claim.id, version: 1, role: 'editor', allowedSteps: ['triage', 'reject', 'merge', 'add_evidence', 'add_note'] });
    expect((await auditor.allowedSteps(claim.id)).allowedSteps).toEqual([]);
    await editor.triage(claim.id, { ifMatch: 1 });
    const checkerId = (await checker.getClaim(claim.id)).createdBy;
    await editor.assign(claim.id, { assignee: checkerId });
    await checker.addEvidence(claim.id, { summary: 'No independent confirmation', stance: 'refutes' });
    await checker.addNote(claim.id, { body: 'Asked the MoD press office' });
    await checker.draftVerdict(claim.id, { rating: 'unverifiable', rationale: 'Only one side reports it' });
    await checker.submit(claim.id);
    await editor.requestChanges(claim.id, { reason: 'Cite the Ukrainian statement' });
    await checker.addEvidence(claim.id, { summary: 'Kyiv denies involvement', stance: 'context' });
    await checker.draftVerdict(claim.id, { rating: 'unverifiable', rationale: 'Only one side reports it; Kyiv denies' });
    await checker.submit(claim.id);
    const published = await editor.publish(claim.id);
    expect(published.state).toBe('published');
    // A new rationale is proposed by one person and applied by another.
    const proposed = await editor.correct(claim.id, { note: 'Typo in the rationale', rationale: 'Only one side reports it; Kyiv denies it' });
    expect(proposed.publishedVerdict?.corrections).toHaveLength(0);
    expect(proposed.pendingCorrection).toMatchObject({ rationale: 'Only one side reports it; Kyiv denies it' });
    const correctionId = proposed.pendingCorrection!.id;
    await expect(editor.approveCorrection(claim.id, { correctionId })).rejects.toMatchObject({ status: 403, code: 'four_eyes' });
    const corrected = await as('admin').approveCorrection(claim.id, { correctionId });
    expect(corrected.publishedVerdict?.corrections).toHaveLength(1);
    expect(corrected.publishedVerdict?.rationale).toBe('Only one side reports it; Kyiv denies it');
    await editor.correct(claim.id, { note: 'Stronger rating', rating: 'false' });
    const rejected = await as('admin').rejectCorrection(claim.id, { reason: 'Not yet: wait for the footage' });
    expect(rejected).toMatchObject({ pendingCorrection: null, publishedVerdict: { rating: 'unverifiable' } });

    const review = await auditor.claimReview(claim.id);
    expect(review['@type']).toBe('ClaimReview');
    await editor.reopen(claim.id, { reason: 'New footage' });
    await checker.draftVerdict(claim.id, { rating: 'false', rationale: 'Footage shows otherwise' });
    await checker.submit(claim.id);
    await editor.publish(claim.id);
    const retracted = await editor.retract(claim.id, { reason: 'Footage was from 2023' });
    expect(retracted.state).toBe('retracted');

    const history = await auditor.events(claim.id);
    expect(history.events.map((e) => e.version)).toEqual(history.events.map((_, i) => i + 1));
    expect((await auditor.state(claim.id, { version: 1 })).state).toBe('submitted');
    expect((await auditor.state(claim.id, { at: new Date() })).state).toBe('retracted');

    const other = await checker.createClaim({ text: 'Tyotkino was captured' });
    const dupe = await checker.createClaim({ text: 'Tetkino was captured' });
    const junk = await checker.createClaim({ text: 'Buy volunteer merchandise' });
    expect((await editor.merge(dupe.id, { into: other.id })).state).toBe('merged');
    expect((await editor.reject(junk.id, { reason: 'Advert' })).state).toBe('rejected');

    const board = await auditor.board();
    expect(board.states.find((s) => s.state === 'retracted')?.count).toBe(1);
    const page = await auditor.feed({ after: 0, limit: 5 });
    expect(page.events).toHaveLength(5);
    const streamed: number[] = [];
    for await (const e of auditor.feedStream({ after: page.next })) streamed.push(e.position!);
    expect(streamed[0]).toBe(page.events.at(-1)!.position! + 1);
    expect(await auditor.verify()).toMatchObject({ ok: true });
    expect(await auditor.verify({ claimId: claim.id })).toMatchObject({ ok: true });
  });

  it('throws ProblemError with the problem+json fields; honours If-Match and Idempotency-Key', async () => {
    const editor = as('editor');
    const claim = await editor.createClaim({ text: 'No one breached the border' }, { idempotencyKey: 'create-1' });
    const again = await editor.createClaim({ text: 'No one breached the border' }, { idempotencyKey: 'create-1' });
    expect(again.id).toBe(claim.id);

    const stale = await editor.triage(claim.id, { ifMatch: 7 }).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(ProblemError);
    expect(stale).toMatchObject({ status: 412, code: expect.any(String), title: expect.any(String), currentVersion: 1 });
    expect((stale as ProblemError).problem.currentVersion).toBe(1);

    await editor.triage(claim.id);
    const illegal = await editor.triage(claim.id).catch((e: unknown) => e);
    expect(illegal).toMatchObject({ name: 'ProblemError', status: 409, code: 'illegal_transition' });

    const unauth = await as('editor', 'wrong').getClaim(claim.id).catch((e: unknown) => e);
    expect(unauth).toMatchObject({ status: 401, code: 'unauthorized' });
    const forbidden = await as('auditor').triage(claim.id).catch((e: unknown) => e);
    expect(forbidden).toMatchObject({ status: 403 });
  });

  it('live: resumes after a dropped connection without losing or repeating events', async () => {
    const editor = as('editor');
    const claim = await editor.createClaim({ text: 'The village is in the Kursk region' });
    const sockets: WebSocket[] = [];
    const Recording = class extends WebSocket {
      constructor(url: string) {
        super(url);
        sockets.push(this);
      }
    } as unknown as WebSocketConstructor;
    const live = new LiveConnection({ url: baseUrl.replace('http', 'ws') + '/ws', token: app.demoTokens.auditor!, WebSocket: Recording, reconnectDelayMs: 10 });
    const seen: EventMessage[] = [];
    let snapshotVersion = 0;
    const statuses: string[] = [];
    live.onStatus((s) => statuses.push(s));
    live.subscribe(
      { channel: 'claim', claimId: claim.id },
      { onSnapshot: (m) => (snapshotVersion = m.channel === 'claim' ? (m.claim?.version ?? 0) : 0), onEvent: (m) => seen.push(m) },
    );
    const until = async (f: () => boolean) => {
      for (let i = 0; i < 400 && !f(); i++) await new Promise((r) => setTimeout(r, 25));
      expect(f()).toBe(true);
    };
    await until(() => snapshotVersion === 1);
    await editor.addNote(claim.id, { body: 'one' });
    await until(() => seen.length === 1);
    sockets[0]!.terminate();
    await editor.addNote(claim.id, { body: 'two (while disconnected)' });
    await editor.addNote(claim.id, { body: 'three' });
    await until(() => seen.length === 3);
    await editor.addNote(claim.id, { body: 'four' });
    await until(() => seen.length === 4);
    expect(seen.map((m) => m.version)).toEqual([2, 3, 4, 5]);
    expect(seen.at(-1)!.claim?.notesCount).toBe(4);
    expect(sockets.length).toBe(2);
    expect(statuses).toContain('reconnecting');
    live.close();
    expect(live.status).toBe('closed');
  });
});
