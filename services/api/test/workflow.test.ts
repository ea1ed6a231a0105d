import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { call, claimIn, createClaim, must, startApp, step, type TestApp } from './helpers.ts';

const pg = await requirePostgres();

describe.skipIf(!pg)('claim workflow over HTTP (PostgreSQL)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('takes a claim through every step with users of each role', async () => {
    const mara = await t.newUser('fact_checker', 'wf-mara');
    const tomas = await t.newUser('fact_checker', 'wf-tomas');
    const ines = await t.newUser('editor', 'wf-ines');
    const priya = await t.newUser('auditor', 'wf-priya');

    const created = await call(t.app, {
      method: 'POST',
      url: '/claims',
      headers: mara.headers,
      payload: {
        text: 'The Freedom of Russia Legion holds Tyotkino',
        claimant: 'Freedom of Russia Legion',
        language: 'en',
        tags: ['Kursk', 'legion'],
        appearances: [{ url: 'https://example.org/report', outlet: 'Example', publishedAt: '2024-03-12', excerpt: 'holds the village' }],
      },
    });
    expect(created.statusCode).toBe(201);
    expect(created.headers.etag).toBe('"1"');
    const id: string = created.json.id;
    expect(created.headers.location).toBe(`/claims/${id}`);
    expect(created.json).toMatchObject({ state: 'submitted', version: 1, tags: ['kursk', 'legion'], notesCount: 0 });

    expect((await step(t, id, 'triage', ines.headers)).json.state).toBe('triaged');
    const assigned = await step(t, id, 'assign', ines.headers, { assignee: mara.id });
    expect(assigned.json).toMatchObject({ state: 'in_research', assignee: mara.id, version: 3 });
    const appearance = assigned.json.appearances[0].id;
    const ev = await step(t, id, 'evidence', mara.headers, { summary: 'Governor says no breakthrough', stance: 'refutes', appearance });
    expect(ev.statusCode).toBe(200);
    expect(ev.json.evidence).toHaveLength(1);
    expect((await step(t, id, 'notes', tomas.headers, { body: 'Spelled Tetkino elsewhere' })).json.notesCount).toBe(1);
    expect((await step(t, id, 'verdict', mara.headers, { rating: 'mostly_false', rationale: 'Contradicted' })).json.verdictDraft)
      .toMatchObject({ rating: 'mostly_false', author: mara.id });
    expect((await step(t, id, 'submit', mara.headers)).json.state).toBe('in_review');
    const back = await step(t, id, 'request-changes', ines.headers, { reason: 'Cite the FSB statement' });
    expect(back.json).toMatchObject({ state: 'in_research', changesRequestedReason: 'Cite the FSB statement' });
    await must(t, id, 'evidence', mara.headers, { summary: 'FSB statement', stance: 'context' });
    await must(t, id, 'verdict', mara.headers, { rating: 'unverifiable', rationale: 'Conflicting official claims' });
    expect((await step(t, id, 'submit', mara.headers)).json.state).toBe('in_review');
    const published = await step(t, id, 'publish', ines.headers);
    expect(published.statusCode).toBe(200);
    expect(published.json.publishedVerdict).toMatchObject({ rating: 'unverifiable', author: mara.id, publishedBy: ines.id });
    const proposed = await step(t, id, 'correct', ines.headers, { note: 'Fixed the village name', rating: 'misleading' });
    expect(proposed.json).toMatchObject({ publishedVerdict: { rating: 'unverifiable' }, pendingCorrection: { rating: 'misleading' } });
    const jonah = await t.newUser('editor', 'wf-jonah');
    const corrected = await step(t, id, 'approve-correction', jonah.headers, { correctionId: proposed.json.pendingCorrection.id });
    expect(corrected.json.publishedVerdict.rating).toBe('misleading');
    expect(corrected.json.publishedVerdict.corrections).toHaveLength(1);
    expect((await step(t, id, 'reopen', ines.headers, { reason: 'New footage' })).json.state).toBe('in_research');
    await must(t, id, 'submit', mara.headers);
    await must(t, id, 'publish', ines.headers);
    const retracted = await step(t, id, 'retract', ines.headers, { reason: 'Source withdrawn' });
    expect(retracted.json).toMatchObject({ state: 'retracted', retractionReason: 'Source withdrawn' });
    const finalVersion: number = retracted.json.version;

    // The auditor reads everything: the view, the history, the state at any version.
    const view = await call(t.app, { method: 'GET', url: `/claims/${id}`, headers: priya.headers });
    expect(view.statusCode).toBe(200);
    expect(view.headers.etag).toBe(`"${finalVersion}"`);
    expect(view.json).toEqual(retracted.json);

    const events = await call(t.app, { method: 'GET', url: `/claims/${id}/events`, headers: priya.headers });
    expect(events.json.events.map((e: { version: number }) => e.version)).toEqual(
      Array.from({ length: finalVersion }, (_, i) => i + 1),
    );
    expect(events.json.events[0]).toMatchObject({ type: 'ClaimSubmitted', actor: mara.id, actorRole: 'fact_checker', prevHash: null });
    for (let i = 1; i < events.json.events.length; i++) {
      expect(events.json.events[i].prevHash).toBe(events.json.events[i - 1].hash);
    }
    expect(events.json.events.map((e: { type: string }) => e.type)).toContain('VerdictCorrected');

    const at3 = await call(t.app, { method: 'GET', url: `/claims/${id}/state?version=3`, headers: priya.headers });
    expect(at3.json).toMatchObject({ state: 'in_research', version: 3 });
    expect(at3.headers.etag).toBe('"3"');
    const firstAt = events.json.events[0].recordedAt;
    const atTime = await call(t.app, { method: 'GET', url: `/claims/${id}/state?at=${encodeURIComponent(firstAt)}`, headers: priya.headers });
    expect(atTime.json).toMatchObject({ state: 'submitted', version: 1 });
    const before = await call(t.app, { method: 'GET', url: `/claims/${id}/state?at=2000-01-01T00:00:00Z`, headers: priya.headers });
    expect(before.statusCode).toBe(404);
    expect((await call(t.app, { method: 'GET', url: `/claims/${id}/state?version=0`, headers: priya.headers })).statusCode).toBe(404);
    expect((await call(t.app, { method: 'GET', url: `/claims/${id}/state?version=999`, headers: priya.headers })).statusCode).toBe(404);
    expect((await call(t.app, { method: 'GET', url: `/claims/${id}/state?version=abc`, headers: priya.headers })).statusCode).toBe(400);
    expect((await call(t.app, { method: 'GET', url: `/claims/${id}/state?at=yesterday`, headers: priya.headers })).statusCode).toBe(400);
    const latest = await call(t.app, { method: 'GET', url: `/claims/${id}/state`, headers: priya.headers });
    expect(latest.json).toEqual(view.json);
  });

  it('a correction that changes the verdict needs a second person: proposed, refused to its proposer and drafter, approved by another', async () => {
    // The case: an admin drafts "false", an editor publishes, the admin corrects to "true".
    const admin = await t.newUser('admin', 'wf-admin-drafter');
    const checker = await t.newUser('fact_checker', 'wf-fc-corrections');
    const publisher = await t.newUser('editor', 'wf-ed-publisher');
    const second = await t.newUser('editor', 'wf-ed-second');
    const { id } = await createClaim(t, checker.headers);
    await must(t, id, 'triage', publisher.headers);
    await must(t, id, 'assign', publisher.headers, { assignee: checker.id });
    await must(t, id, 'evidence', checker.headers, { summary: 'The governor denies it', stance: 'refutes' });
    await must(t, id, 'verdict', admin.headers, { rating: 'false', rationale: 'Denied by the governor' });
    await must(t, id, 'submit', checker.headers);
    await must(t, id, 'publish', publisher.headers);
    const review = async () => (await call(t.app, { method: 'GET', url: `/claims/${id}/claim-review`, headers: t.as.auditor })).json;
    const ratingOf = (doc: { reviewRating: { alternateName: string } }) => doc.reviewRating.alternateName;
    const publishedReview = ratingOf(await review());

    const proposed = await step(t, id, 'correct', admin.headers, { note: 'New footage', rating: 'true' });
    expect(proposed.statusCode).toBe(200);
    expect(proposed.json).toMatchObject({
      state: 'published',
      publishedVerdict: { rating: 'false', corrections: [] },
      pendingCorrection: { rating: 'true', rationale: 'Denied by the governor', note: 'New footage', proposedBy: admin.id },
    });
    const correctionId: string = proposed.json.pendingCorrection.id;
    // Readers still see the published verdict: ClaimReview and the published-rating filter.
    expect(ratingOf(await review())).toBe(publishedReview);
    expect(JSON.stringify(await review())).not.toContain('New footage');
    const listed = async (rating: string) =>
      (await call(t.app, { method: 'GET', url: `/claims?rating=${rating}&limit=100`, headers: t.as.auditor })).json.items.map((c: { id: string }) => c.id);
    expect(await listed('false')).toContain(id);
    expect(await listed('true')).not.toContain(id);

    // Refused, 403 four_eyes, nothing appended: the proposer (also the drafter here); then,
    // once an editor proposes, the proposer again and the drafter of the published verdict.
    const refuse = async (headers: Record<string, string>, pending: string) => {
      const before = await t.eventCount();
      const answer = await step(t, id, 'approve-correction', headers, { correctionId: pending });
      expect(answer.statusCode).toBe(403);
      expect(answer.headers['content-type']).toContain('application/problem+json');
      expect(answer.json.code).toBe('four_eyes');
      expect(await t.eventCount()).toBe(before);
    };
    await refuse(admin.headers, correctionId);
    const own = await step(t, id, 'correct', publisher.headers, { note: 'Rather mostly true', rating: 'mostly_true' });
    expect(own.json.pendingCorrection).toMatchObject({ rating: 'mostly_true', proposedBy: publisher.id });
    await refuse(publisher.headers, own.json.pendingCorrection.id);
    await refuse(admin.headers, own.json.pendingCorrection.id);
    expect((await call(t.app, { method: 'GET', url: `/claims/${id}`, headers: t.as.auditor })).json.publishedVerdict.rating).toBe('false');
    // The replaced proposal cannot be approved any more: the approver must have read the current one.
    const stale = await step(t, id, 'approve-correction', second.headers, { correctionId });
    expect(stale.statusCode).toBe(409);
    expect(stale.json.code).toBe('illegal_transition');

    const approved = await step(t, id, 'approve-correction', second.headers, { correctionId: own.json.pendingCorrection.id });
    expect(approved.statusCode).toBe(200);
    expect(approved.json).toMatchObject({ publishedVerdict: { rating: 'mostly_true', author: admin.id }, pendingCorrection: null });
    expect(approved.json.publishedVerdict.corrections).toEqual([
      expect.objectContaining({ rating: 'mostly_true', previousRating: 'false', proposedBy: publisher.id, correctedBy: second.id }),
    ]);
    expect(ratingOf(await review())).not.toBe(publishedReview);
    expect(await listed('mostly_true')).toContain(id);

    // Nothing pending: approve and reject are illegal transitions, appending nothing.
    const nothingBefore = await t.eventCount();
    const nothing = await step(t, id, 'approve-correction', second.headers, { correctionId: own.json.pendingCorrection.id });
    expect(nothing.statusCode).toBe(409);
    expect(nothing.json.code).toBe('illegal_transition');
    expect((await step(t, id, 'reject-correction', second.headers, { reason: 'none' })).statusCode).toBe(409);
    expect(await t.eventCount()).toBe(nothingBefore);

    // A note-only correction applies at once, by one person.
    const noteOnly = await step(t, id, 'correct', publisher.headers, { note: 'Added the date of the footage' });
    expect(noteOnly.json).toMatchObject({ pendingCorrection: null, publishedVerdict: { rating: 'mostly_true' } });
    expect(noteOnly.json.publishedVerdict.corrections).toHaveLength(2);
    expect(noteOnly.json.publishedVerdict.corrections[1]).toMatchObject({ proposedBy: null, correctedBy: publisher.id });

    // A rejected proposal changes nothing; reopen drops a pending one.
    await must(t, id, 'correct', publisher.headers, { note: 'n', rating: 'mixed' });
    const rejected = await step(t, id, 'reject-correction', second.headers, { reason: 'The footage does not show that' });
    expect(rejected.json).toMatchObject({ pendingCorrection: null, publishedVerdict: { rating: 'mostly_true' } });
    await must(t, id, 'correct', publisher.headers, { note: 'n', rating: 'mixed' });
    const reopened = await step(t, id, 'reopen', second.headers, { reason: 'New footage to review' });
    expect(reopened.json).toMatchObject({ state: 'in_research', pendingCorrection: null, verdictDraft: { rating: 'mostly_true' } });

    const types = (await call(t.app, { method: 'GET', url: `/claims/${id}/events`, headers: t.as.auditor })).json.events.map(
      (e: { type: string }) => e.type,
    );
    expect(types.filter((type: string) => type === 'CorrectionProposed')).toHaveLength(4);
    expect(types).toContain('CorrectionRejected');
  });

  it('rejects and merges through the side exits', async () => {
    const rejected = await claimIn(t, 'rejected');
    const view = await call(t.app, { method: 'GET', url: `/claims/${rejected}`, headers: t.as.auditor });
    expect(view.json).toMatchObject({ state: 'rejected', rejectionReason: 'not check-worthy' });
    const target = await createClaim(t);
    const dup = await createClaim(t);
    const merged = await step(t, dup.id, 'merge', t.as.editor, { into: target.id });
    expect(merged.json).toMatchObject({ state: 'merged', mergedInto: target.id });
    const missing = await step(t, (await createClaim(t)).id, 'merge', t.as.editor, { into: '00000000-0000-4000-8000-000000000000' });
    expect(missing.statusCode).toBe(400);
    expect(missing.json).toMatchObject({ code: 'validation', field: 'into' });
  });

  it('serves the global feed in position order with a resumable cursor', async () => {
    await claimIn(t, 'triaged');
    // Positions are assigned by the sequencer just after commit.
    await (t.app.store as unknown as { flush(): Promise<void> }).flush();
    const first = await call(t.app, { method: 'GET', url: '/events?limit=3', headers: t.as.auditor });
    expect(first.statusCode).toBe(200);
    expect(first.json.events).toHaveLength(3);
    const positions = first.json.events.map((e: { position: number }) => e.position);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    const second = await call(t.app, { method: 'GET', url: `/events?after=${first.json.next}&limit=1000`, headers: t.as.auditor });
    expect(second.json.events[0].position).toBeGreaterThan(first.json.next);
    const end = await call(t.app, { method: 'GET', url: `/events?after=${second.json.next}`, headers: t.as.auditor });
    expect(end.json).toEqual({ events: [], next: second.json.next });
    expect((await call(t.app, { method: 'GET', url: '/events?after=-1', headers: t.as.auditor })).statusCode).toBe(400);
  });

  it('ETag / If-Match: a stale write gets 412 with the current version and appends nothing', async () => {
    const { id } = await createClaim(t);
    const ok = await step(t, id, 'notes', t.as.fact_checker, { body: 'first' }, { 'if-match': '"1"' });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers.etag).toBe('"2"');
    const before = await t.eventCount();
    const stale = await step(t, id, 'notes', t.as.fact_checker, { body: 'second' }, { 'if-match': '"1"' });
    expect(stale.statusCode).toBe(412);
    expect(stale.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(stale.json).toMatchObject({ code: 'precondition_failed', status: 412, currentVersion: 2 });
    expect(stale.headers.etag).toBe('"2"');
    expect(await t.eventCount()).toBe(before);
    // Weak and bare forms are accepted; garbage is a 400.
    expect((await step(t, id, 'notes', t.as.fact_checker, { body: 'w' }, { 'if-match': 'W/"2"' })).statusCode).toBe(200);
    expect((await step(t, id, 'notes', t.as.fact_checker, { body: 'b' }, { 'if-match': '3' })).statusCode).toBe(200);
    expect((await step(t, id, 'notes', t.as.fact_checker, { body: 'x' }, { 'if-match': 'banana' })).statusCode).toBe(400);
    expect((await step(t, id, 'notes', t.as.fact_checker, { body: '*' }, { 'if-match': '*' })).statusCode).toBe(200);
    // If-None-Match on reads.
    const get = await call(t.app, { method: 'GET', url: `/claims/${id}`, headers: t.as.auditor });
    const notModified = await call(t.app, { method: 'GET', url: `/claims/${id}`, headers: { ...t.as.auditor, 'if-none-match': get.headers.etag as string } });
    expect(notModified.statusCode).toBe(304);
  });

  it('Idempotency-Key: same request → the first answer, nothing appended; different body → 422', async () => {
    const key = { 'idempotency-key': 'create-once-1' };
    const body = { text: 'Idempotent claim about Tetkino' };
    const first = await call(t.app, { method: 'POST', url: '/claims', headers: { ...t.as.fact_checker, ...key }, payload: body });
    expect(first.statusCode).toBe(201);
    const count = await t.eventCount();
    const again = await call(t.app, { method: 'POST', url: '/claims', headers: { ...t.as.fact_checker, ...key }, payload: body });
    expect(again.statusCode).toBe(201);
    expect(again.body).toBe(first.body);
    expect(again.headers.etag).toBe(first.headers.etag);
    expect(again.headers.location).toBe(first.headers.location);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(await t.eventCount()).toBe(count);

    const reuse = await call(t.app, {
      method: 'POST',
      url: '/claims',
      headers: { ...t.as.fact_checker, ...key },
      payload: { text: 'Something else' },
    });
    expect(reuse.statusCode).toBe(422);
    expect(reuse.json.code).toBe('idempotency_key_reuse');
    expect(await t.eventCount()).toBe(count);

    // Keys are per user: another user may use the same key for their own request.
    const other = await call(t.app, { method: 'POST', url: '/claims', headers: { ...t.as.editor, ...key }, payload: body });
    expect(other.statusCode).toBe(201);
    expect(other.json.id).not.toBe(first.json.id);

    // On a step: replay even after the claim moved on.
    const id: string = first.json.id;
    const noteKey = { 'idempotency-key': 'note-1' };
    const n1 = await step(t, id, 'notes', t.as.fact_checker, { body: 'once' }, noteKey);
    await must(t, id, 'notes', t.as.fact_checker, { body: 'another' });
    const n2 = await step(t, id, 'notes', t.as.fact_checker, { body: 'once' }, noteKey);
    expect(n2.statusCode).toBe(200);
    expect(n2.json).toEqual(n1.json);
    expect(n2.headers.etag).toBe(n1.headers.etag);
    const sameKeyOtherClaim = await step(t, (await createClaim(t)).id, 'notes', t.as.fact_checker, { body: 'once' }, noteKey);
    expect(sameKeyOtherClaim.statusCode).toBe(422);
  });

  it('answers every refusal with its problem code and appends nothing', async () => {
    const cases: [string, () => Promise<{ statusCode: number; json: any; headers: Record<string, unknown> }>, number, string][] = [];
    const submitted = await claimIn(t, 'submitted');
    const inResearch = await claimIn(t, 'in_research');
    const researched = await claimIn(t, 'researched');
    // admin may draft and publish, so four eyes is the only thing stopping them:
    const admin = await t.newUser('admin');
    const adminDraft = await claimIn(t, 'researched');
    await must(t, adminDraft, 'verdict', admin.headers, { rating: 'true', rationale: 'admin drafted' });
    await must(t, adminDraft, 'submit', admin.headers);

    cases.push(['illegal_transition', () => step(t, submitted, 'publish', t.as.editor), 409, 'illegal_transition']);
    cases.push(['forbidden_role', () => step(t, submitted, 'triage', t.as.fact_checker), 403, 'forbidden_role']);
    cases.push(['auditor writes', () => call(t.app, { method: 'POST', url: '/claims', headers: t.as.auditor, payload: { text: 'x' } }), 403, 'forbidden_role']);
    cases.push(['four_eyes', () => step(t, adminDraft, 'publish', admin.headers), 403, 'four_eyes']);
    cases.push(['missing_evidence', () => step(t, inResearch, 'verdict', t.as.fact_checker, { rating: 'true', rationale: 'r' }), 409, 'missing_evidence']);
    cases.push(['missing_verdict', () => step(t, researched, 'submit', t.as.fact_checker), 409, 'missing_verdict']);
    cases.push(['validation', () => step(t, submitted, 'reject', t.as.editor, { reason: '   ' }), 400, 'validation']);
    cases.push(['validation (type)', () => step(t, submitted, 'reject', t.as.editor, { reason: 42 }), 400, 'validation']);
    cases.push(['not_found', () => step(t, '7b0e5c4e-1111-4222-8333-444455556666', 'triage', t.as.editor), 404, 'not_found']);
    cases.push(['not_found (bad id)', () => step(t, 'not-a-uuid', 'triage', t.as.editor), 404, 'not_found']);
    cases.push(['unauthorized', () => step(t, submitted, 'triage', {}), 401, 'unauthorized']);
    cases.push(['unauthorized (bad token)', () => step(t, submitted, 'triage', { authorization: 'Bearer nope' }), 401, 'unauthorized']);
    cases.push(['payload_too_large', () => step(t, submitted, 'notes', t.as.editor, { body: 'x'.repeat(1_100_000) }), 413, 'payload_too_large']);
    cases.push([
      'unsupported media type',
      () => call(t.app, { method: 'POST', url: `/claims/${submitted}/notes`, headers: { ...t.as.editor, 'content-type': 'text/plain' }, payload: 'hello' }),
      415,
      'unsupported_media_type',
    ]);
    cases.push([
      'malformed JSON',
      () => call(t.app, { method: 'POST', url: `/claims/${submitted}/notes`, headers: { ...t.as.editor, 'content-type': 'application/json' }, payload: '{"body": ' }),
      400,
      'validation',
    ]);
    cases.push([
      'invalid UTF-8',
      () =>
        call(t.app, {
          method: 'POST',
          url: `/claims/${submitted}/notes`,
          headers: { ...t.as.editor, 'content-type': 'application/json' },
          payload: Buffer.concat([Buffer.from('{"body":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]),
        }),
      400,
      'validation',
    ]);
    cases.push(['NUL in text', () => step(t, submitted, 'notes', t.as.editor, { body: 'a\u0000b' }), 400, 'validation']);
    cases.push(['lone surrogate', () => step(t, submitted, 'notes', t.as.editor, { body: 'a\ud800b' }), 400, 'validation']);
    cases.push(['unknown field', () => step(t, submitted, 'notes', t.as.editor, { body: 'ok', extra: 1 }), 400, 'validation']);

    for (const [name, run, status, code] of cases) {
      const before = await t.eventCount();
      const response = await run();
      expect.soft(response.statusCode, name).toBe(status);
      expect.soft(response.json?.code, name).toBe(code);
      expect.soft(String(response.headers['content-type']), name).toMatch(/^application\/problem\+json/);
      expect.soft(response.json, name).toMatchObject({ type: expect.any(String), title: expect.any(String), status, detail: expect.any(String) });
      expect.soft(await t.eventCount(), name).toBe(before);
    }
    const v = await step(t, submitted, 'reject', t.as.editor, { reason: 42 });
    expect(v.json.field).toBe('reason');
    const missing = await call(t.app, { method: 'POST', url: '/claims', headers: t.as.fact_checker, payload: {} });
    expect(missing.json).toMatchObject({ code: 'validation', field: 'text' });
  });

  it('keeps public routes public and the rest behind a token', async () => {
    for (const url of ['/healthz', '/readyz', '/openapi.json', '/docs']) {
      const response = await call(t.app, { method: 'GET', url });
      expect(response.statusCode, url).toBeLessThan(400);
    }
    for (const url of ['/claims', '/board', '/events', '/metrics', `/claims/${await claimIn(t, 'submitted')}`]) {
      const response = await call(t.app, { method: 'GET', url });
      expect(response.statusCode, url).toBe(401);
      expect(response.headers['www-authenticate']).toMatch(/^Bearer/);
    }
    const metrics = await call(t.app, { method: 'GET', url: '/metrics', headers: t.as.fact_checker });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toContain('claimtrail_events_appended_total');
    expect(metrics.body).toContain('http_request_duration_seconds');
    expect(metrics.body).toContain('claimtrail_projection_lag_events 0');
    const me = await call(t.app, { method: 'GET', url: '/me', headers: t.as.editor });
    expect(me.json).toMatchObject({ id: 'demo-editor', role: 'editor' });
    const openapi = await call(t.app, { method: 'GET', url: '/openapi.json' });
    expect(openapi.json.openapi).toBe('3.1.0');
    expect(Object.keys(openapi.json.paths)).toEqual(expect.arrayContaining(['/claims', '/claims/{id}', '/claims/{id}/request-changes', '/board', '/events']));
  });
});
