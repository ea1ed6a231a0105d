/**
 * /consumer-groups over HTTP on PostgreSQL: the roles, the claim-level filters (claim ids,
 * event types, tag and state), fetch/ack/nack, parking and replay, and hostile input
 * (always a 4xx problem document, never a 5xx).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { call, createClaim, must, startApp, type TestApp } from './helpers.ts';

const available = await requirePostgres();

describe.skipIf(!available)('consumer groups over HTTP', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  const create = (body: Record<string, unknown>, headers = t.as.admin) =>
    call(t.app, { method: 'POST', url: '/consumer-groups', headers, payload: body });
  const fetchNext = (name: string, member: string, headers = t.as.auditor) =>
    call(t.app, { method: 'POST', url: `/consumer-groups/${name}/fetch`, headers, payload: { member, limit: 50 } });

  it('roles: admin manages; admin and auditor consume; the desk may not; no token is a 401', async () => {
    expect((await create({ name: 'roles-a' }, t.as.editor)).statusCode).toBe(403);
    expect((await create({ name: 'roles-a' }, t.as.fact_checker)).statusCode).toBe(403);
    expect((await create({ name: 'roles-a' }, t.as.auditor)).statusCode).toBe(403);
    expect((await create({ name: 'roles-a' }, {} as never)).statusCode).toBe(401);
    const created = await create({ name: 'roles-a', from: 'end' });
    expect(created.statusCode).toBe(201);
    expect(created.json).toMatchObject({ name: 'roles-a', outstanding: 0, parked: 0, maxAttempts: 5 });
    expect((await create({ name: 'roles-a' })).json.code).toBe('already_exists');
    expect((await fetchNext('roles-a', 'm', t.as.admin)).statusCode).toBe(200);
    expect((await fetchNext('roles-a', 'm', t.as.auditor)).statusCode).toBe(200);
    expect((await fetchNext('roles-a', 'm', t.as.editor)).statusCode).toBe(403);
    expect((await fetchNext('roles-a', 'm', {} as never)).statusCode).toBe(401);
    expect((await call(t.app, { method: 'GET', url: '/consumer-groups', headers: t.as.fact_checker })).statusCode).toBe(403);
    expect((await call(t.app, { method: 'GET', url: '/consumer-groups', headers: t.as.auditor })).json.items.map((g: { name: string }) => g.name)).toContain('roles-a');
    const replay = await call(t.app, { method: 'POST', url: '/consumer-groups/roles-a/parked/replay', headers: t.as.auditor, payload: {} });
    expect(replay.statusCode).toBe(403);
    expect((await call(t.app, { method: 'DELETE', url: '/consumer-groups/roles-a', headers: t.as.auditor })).statusCode).toBe(403);
    expect((await call(t.app, { method: 'DELETE', url: '/consumer-groups/roles-a', headers: t.as.admin })).statusCode).toBe(204);
    expect((await call(t.app, { method: 'GET', url: '/consumer-groups/roles-a', headers: t.as.admin })).statusCode).toBe(404);
  });

  it('claim ids and event types are filtered by the store; tag and state against the claim when handed out', async () => {
    const tagged = await createClaim(t, t.as.fact_checker, { text: 'A tagged claim about rivers', claimant: 'X', tags: ['Rivers'] });
    const untagged = await createClaim(t, t.as.fact_checker, { text: 'An untagged claim about hills', claimant: 'Y', tags: [] });
    const one = await create({ name: 'by-claim', filter: { claimIds: [untagged.id.toUpperCase()] } });
    expect(one.json.filter).toEqual({ claimIds: [untagged.id] });
    const byTag = await create({ name: 'by-tag', filter: { tag: 'rivers', eventTypes: ['ClaimSubmitted', 'NoteAdded'] } });
    expect(byTag.statusCode).toBe(201);
    await must(t, tagged.id, 'notes', t.as.fact_checker, { body: 'a note' });
    await must(t, untagged.id, 'notes', t.as.fact_checker, { body: 'a note' });
    await must(t, tagged.id, 'triage', t.as.editor, {});

    const ofClaim = await fetchNext('by-claim', 'm');
    expect(ofClaim.json.deliveries.map((d: { event: { claimId: string; type: string } }) => [d.event.claimId, d.event.type])).toEqual([
      [untagged.id, 'ClaimSubmitted'],
    ]);
    const tagDeliveries: { claimId: string; type: string }[] = [];
    for (let round = 0; round < 5; round++) {
      const got = (await fetchNext('by-tag', 'm')).json.deliveries as { event: { claimId: string; type: string; position: number } }[];
      tagDeliveries.push(...got.map((d) => ({ claimId: d.event.claimId, type: d.event.type })));
      if (got.length > 0) {
        const ack = await call(t.app, { method: 'POST', url: '/consumer-groups/by-tag/ack', headers: t.as.auditor, payload: { positions: got.map((d) => d.event.position) } });
        expect(ack.json.acknowledged).toBe(got.length);
      }
    }
    expect(tagDeliveries).toEqual([
      { claimId: tagged.id, type: 'ClaimSubmitted' },
      { claimId: tagged.id, type: 'NoteAdded' },
    ]);
    const states = await create({ name: 'by-state', filter: { states: ['triaged'] } });
    expect(states.statusCode).toBe(201);
    const triaged = (await fetchNext('by-state', 'm')).json.deliveries as { event: { claimId: string } }[];
    expect(new Set(triaged.map((d) => d.event.claimId))).toEqual(new Set([tagged.id]));
  });

  it('nack parks after maxAttempts; parked events are listed and replayed', async () => {
    const claim = await createClaim(t);
    await create({ name: 'poison', maxAttempts: 2, filter: { claimIds: [claim.id] } });
    for (let attempt = 1; attempt <= 2; attempt++) {
      const got = (await fetchNext('poison', 'w')).json.deliveries;
      expect(got.map((d: { attempt: number }) => d.attempt)).toEqual([attempt]);
      const nack = await call(t.app, {
        method: 'POST',
        url: '/consumer-groups/poison/nack',
        headers: t.as.auditor,
        payload: { positions: [got[0].event.position], member: 'w', error: 'cannot parse' },
      });
      expect(nack.json.parked.length).toBe(attempt === 2 ? 1 : 0);
    }
    const parked = await call(t.app, { method: 'GET', url: '/consumer-groups/poison/parked', headers: t.as.auditor });
    expect(parked.json.items.map((p: { attempts: number; lastError: string }) => [p.attempts, p.lastError])).toEqual([[2, 'cannot parse']]);
    const replay = await call(t.app, { method: 'POST', url: '/consumer-groups/poison/parked/replay', headers: t.as.admin, payload: {} });
    expect(replay.json.replayed).toBe(1);
    expect((await fetchNext('poison', 'w')).json.deliveries.map((d: { attempt: number }) => d.attempt)).toEqual([1]);
  });

  it('hostile input is a 4xx problem document and creates nothing', async () => {
    const bodies: unknown[] = [
      { name: 'has space' },
      { name: 'webhook:x' },
      { name: '' },
      { name: 'x'.repeat(500) },
      { name: 42 },
      { name: 'ok-name', filter: { claimIds: ['not-a-uuid'] } },
      { name: 'ok-name', filter: { states: ['flying'] } },
      { name: 'ok-name', filter: { eventTypes: [] } },
      { name: 'ok-name', filter: { unknown: 1 } },
      { name: 'ok-name', maxAttempts: 0 },
      { name: 'ok-name', leaseMs: 'soon' },
      { name: 'ok-name', from: 'middle' },
      { name: 'ok-name', extra: true },
      [],
      'text',
    ];
    for (const payload of bodies) {
      const response = await call(t.app, { method: 'POST', url: '/consumer-groups', headers: { ...t.as.admin, 'content-type': 'application/json' }, payload: JSON.stringify(payload) });
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.headers['content-type']).toMatch(/application\/problem\+json/);
    }
    const huge = await call(t.app, {
      method: 'POST',
      url: '/consumer-groups',
      headers: { ...t.as.admin, 'content-type': 'application/json' },
      payload: JSON.stringify({ name: 'big', filter: { eventTypes: Array.from({ length: 200_000 }, (_, i) => `T${i}`) } }),
    });
    expect([400, 413]).toContain(huge.statusCode);
    await create({ name: 'target' });
    const routes: [string, string, unknown][] = [
      ['POST', '/consumer-groups/target/fetch', { member: '' }],
      ['POST', '/consumer-groups/target/fetch', { member: 'm', limit: 100000 }],
      ['POST', '/consumer-groups/target/fetch', { member: 'has space' }],
      ['POST', '/consumer-groups/target/ack', { positions: [] }],
      ['POST', '/consumer-groups/target/ack', { positions: ['1'] }],
      ['POST', '/consumer-groups/target/ack', { positions: [-1] }],
      ['POST', '/consumer-groups/target/ack', { positions: [1e300] }],
      ['POST', '/consumer-groups/target/nack', { positions: [1], retryAfterMs: -5 }],
      ['POST', '/consumer-groups/target/parked/replay', { positions: 'all' }],
      ['GET', '/consumer-groups/target/parked?limit=0', undefined],
      ['GET', '/consumer-groups/target/parked?after=abc', undefined],
    ];
    for (const [method, url, payload] of routes) {
      const response = await call(t.app, { method: method as 'GET', url, headers: t.as.admin, ...(payload !== undefined ? { payload: payload as object } : {}) });
      expect(response.statusCode, `${method} ${url} ${JSON.stringify(payload)}`).toBe(400);
      expect(response.headers['content-type']).toMatch(/application\/problem\+json/);
    }
    for (const name of ['missing', 'webhook:abc', '%00', 'x'.repeat(150), '..']) {
      const response = await call(t.app, { method: 'POST', url: `/consumer-groups/${encodeURIComponent(name)}/fetch`, headers: t.as.admin, payload: { member: 'm' } });
      expect(response.statusCode, name).toBe(404);
    }
    const names = (await call(t.app, { method: 'GET', url: '/consumer-groups', headers: t.as.admin })).json.items.map((g: { name: string }) => g.name);
    expect(names).not.toContain('ok-name');
    expect(names).not.toContain('big');
  });
});
