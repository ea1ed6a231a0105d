/**
 * Webhooks against real HTTP receivers on loopback (WEBHOOK_ALLOW_PRIVATE_TARGETS on for
 * them; the refusal is tested with it off): signatures checked with the independent
 * `standardwebhooks` package, a receiver that fails 30 % at random and is sometimes slow,
 * per-claim order, the filter, the same id on every retry, the delivery log, manual
 * redelivery, disabling after sustained failure, redirects not followed, roles and
 * hostile input.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { requirePostgres } from '@claimtrail/testing';
import { defaultConfig } from '../src/config.ts';
import type { WebhookConfig } from '../src/webhooks/config.ts';
import { sendAttempt } from '../src/webhooks/sender.ts';
import { startReceiver, type Receiver } from '../../../test/support/webhook-receiver.ts';
import { call, createClaim, must, startApp, type TestApp } from './helpers.ts';

const available = await requirePostgres();

const FAST: WebhookConfig = {
  ...defaultConfig().webhooks,
  retryScheduleMs: [20, 40, 80, 100, 100, 100, 100, 100, 100, 100, 100, 100],
  timeoutMs: 2000,
  allowPrivateTargets: true,
  pollMs: 50,
};

async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Delivered {
  id: string;
  status: number;
  payload: { type: string; timestamp: string; data: { id: string; claimId: string; version: number; type: string; position: number } };
}

function parse(receiver: Receiver, secret: string): Delivered[] {
  const verifier = new Webhook(secret);
  return receiver.requests.map((request) => {
    // Throws unless the signature is valid for this body, id and timestamp.
    const payload = verifier.verify(request.body, request.headers as Record<string, string>) as Delivered['payload'];
    return { id: String(request.headers['webhook-id']), status: request.status, payload };
  });
}

describe.skipIf(!available)('webhooks', () => {
  let t: TestApp;
  const receivers: Receiver[] = [];
  beforeAll(async () => {
    t = await startApp({ config: { webhooks: FAST } });
  });
  afterAll(async () => {
    await t?.close();
    for (const receiver of receivers) await receiver.close();
  });
  async function receiver(): Promise<Receiver> {
    const r = await startReceiver();
    receivers.push(r);
    return r;
  }
  const subscribe = (body: Record<string, unknown>, headers = t.as.admin) => call(t.app, { method: 'POST', url: '/webhooks', headers, payload: body });

  it('a flaky, sometimes slow receiver gets every matching event, signed, in per-claim order, the same id on every retry, nothing else', async () => {
    const flaky = await receiver();
    flaky.behave(() => ({ status: Math.random() < 0.3 ? 503 : 200, ...(Math.random() < 0.15 ? { delayMs: 150 + Math.floor(Math.random() * 250) } : {}) }));
    const claims = await Promise.all(Array.from({ length: 6 }, () => createClaim(t)));
    const wanted = claims.slice(0, 4).map((claim) => claim.id);
    const created = await subscribe({ url: flaky.url, filter: { claimIds: wanted, eventTypes: ['NoteAdded', 'ClaimTriaged'] } });
    expect(created.statusCode).toBe(201);
    const { id, secret } = created.json as { id: string; secret: string };
    expect(secret).toMatch(/^whsec_/);
    for (let round = 0; round < 5; round++) {
      await Promise.all(claims.map((claim) => must(t, claim.id, 'notes', t.as.fact_checker, { body: `note ${round}` })));
    }
    await Promise.all(claims.map((claim) => must(t, claim.id, 'triage', t.as.editor, {})));
    // The events that match: every note and triage of the four claims, recorded after the subscription.
    const expected = new Map<string, { claimId: string; version: number }>();
    for (const claimId of wanted) {
      const events = (await call(t.app, { method: 'GET', url: `/claims/${claimId}/events`, headers: t.as.auditor })).json.events as { id: string; type: string; version: number }[];
      for (const event of events) if (event.type === 'NoteAdded' || event.type === 'ClaimTriaged') expected.set(event.id, { claimId, version: event.version });
    }
    expect(expected.size).toBe(4 * 6);
    await until('every matching event delivered', () => {
      const ok = new Set(parse(flaky, secret).filter((d) => d.status === 200).map((d) => d.payload.data.id));
      return [...expected.keys()].every((eventId) => ok.has(eventId)) || undefined;
    });
    const delivered = parse(flaky, secret);
    // Nothing the filter excludes.
    for (const d of delivered) expect(expected.has(d.payload.data.id), `${d.payload.data.type} of ${d.payload.data.claimId}`).toBe(true);
    // The same id on every attempt of one event; one id per event.
    const idsByEvent = new Map<string, Set<string>>();
    for (const d of delivered) idsByEvent.set(d.payload.data.id, (idsByEvent.get(d.payload.data.id) ?? new Set()).add(d.id));
    for (const ids of idsByEvent.values()) expect(ids.size).toBe(1);
    expect(new Set(delivered.map((d) => d.id)).size).toBe(expected.size);
    expect(delivered.some((d) => d.status !== 200)).toBe(true);
    // Per claim: an event is sent only once the one before it was delivered (versions never go back).
    for (const claimId of wanted) {
      const versions = delivered.filter((d) => d.payload.data.claimId === claimId).map((d) => d.payload.data.version);
      expect(versions).toEqual([...versions].sort((a, b) => a - b));
    }
    // The delivery log has every attempt, with status and latency.
    // (An attempt is logged once its answer is in: the last ones may still be on their way.)
    const log = await until('every attempt logged', async () => {
      const items = (await call(t.app, { method: 'GET', url: `/webhooks/${id}/deliveries?limit=500`, headers: t.as.auditor })).json.items as {
        messageId: string;
        attempt: number;
        status: number | null;
        latencyMs: number;
        error: string | null;
      }[];
      return items.length === flaky.requests.length ? items : undefined;
    });
    expect(log.length).toBe(delivered.length);
    expect(log.filter((entry) => entry.status === 503).every((entry) => entry.error === 'HTTP 503')).toBe(true);
    expect(log.some((entry) => entry.attempt > 1)).toBe(true);
    const view = (await call(t.app, { method: 'GET', url: `/webhooks/${id}`, headers: t.as.admin })).json;
    expect(view).toMatchObject({ id, enabled: true, outstanding: 0, parked: 0 });
    expect(view.secret).toBeUndefined();
  });

  it('manual redelivery sends a delivered event again with the same id; parked events come back', async () => {
    const receiverOk = await receiver();
    const claim = await createClaim(t);
    const { id, secret } = (await subscribe({ url: receiverOk.url, filter: { claimIds: [claim.id] } })).json as { id: string; secret: string };
    await must(t, claim.id, 'notes', t.as.fact_checker, { body: 'once' });
    const first = await until('the note', () => parse(receiverOk, secret).find((d) => d.payload.type === 'NoteAdded'));
    const again = await call(t.app, { method: 'POST', url: `/webhooks/${id}/redeliver`, headers: t.as.admin, payload: { positions: [first.payload.data.position] } });
    expect(again.json).toEqual({ redelivered: 1 });
    await until('the redelivery', () => parse(receiverOk, secret).filter((d) => d.payload.type === 'NoteAdded').length === 2 || undefined);
    expect(new Set(parse(receiverOk, secret).filter((d) => d.payload.type === 'NoteAdded').map((d) => d.id))).toEqual(new Set([first.id]));
    expect((await call(t.app, { method: 'POST', url: `/webhooks/${id}/redeliver`, headers: t.as.auditor, payload: {} })).statusCode).toBe(403);
  });

  it('a 3xx is a failure and is not followed', async () => {
    const elsewhere = await receiver();
    const redirecting = await receiver();
    redirecting.behave(() => ({ status: 302, headers: { location: elsewhere.url } }));
    const claim = await createClaim(t);
    const { id } = (await subscribe({ url: redirecting.url, filter: { claimIds: [claim.id] } })).json as { id: string };
    await must(t, claim.id, 'notes', t.as.fact_checker, { body: 'moved?' });
    const log = await until('a failed attempt', async () => {
      const items = (await call(t.app, { method: 'GET', url: `/webhooks/${id}/deliveries`, headers: t.as.admin })).json.items as { status: number; error: string }[];
      return items.length > 0 ? items : undefined;
    });
    expect(log[0]).toMatchObject({ status: 302, error: 'redirect (302) not followed' });
    expect(elsewhere.requests.length).toBe(0);
    await call(t.app, { method: 'DELETE', url: `/webhooks/${id}`, headers: t.as.admin });
  });

  it('roles: admin subscribes and deletes; auditor reads; others are refused; no token is a 401', async () => {
    const r = await receiver();
    for (const role of ['editor', 'fact_checker', 'auditor'] as const) expect((await subscribe({ url: r.url }, t.as[role])).statusCode).toBe(403);
    expect((await subscribe({ url: r.url }, {} as never)).statusCode).toBe(401);
    const { id } = (await subscribe({ url: r.url, secret: `whsec_${Buffer.alloc(32, 7).toString('base64')}` })).json as { id: string };
    expect((await call(t.app, { method: 'GET', url: '/webhooks', headers: t.as.auditor })).statusCode).toBe(200);
    expect((await call(t.app, { method: 'GET', url: '/webhooks', headers: t.as.editor })).statusCode).toBe(403);
    expect((await call(t.app, { method: 'GET', url: `/webhooks/${id}/deliveries`, headers: t.as.fact_checker })).statusCode).toBe(403);
    expect((await call(t.app, { method: 'DELETE', url: `/webhooks/${id}`, headers: t.as.auditor })).statusCode).toBe(403);
    expect((await call(t.app, { method: 'DELETE', url: `/webhooks/${id}`, headers: t.as.admin })).statusCode).toBe(204);
    expect((await call(t.app, { method: 'GET', url: `/webhooks/${id}`, headers: t.as.admin })).statusCode).toBe(404);
  });

  it('hostile input is a 4xx problem document and subscribes nothing', async () => {
    const before = (await call(t.app, { method: 'GET', url: '/webhooks', headers: t.as.admin })).json.items.length;
    const bodies: unknown[] = [
      {},
      { url: 'not a url' },
      { url: 'ftp://example.org/x' },
      { url: 'javascript:alert(1)' },
      { url: 'http://user:pw@example.org/' },
      { url: 'http://example.org/#frag' },
      { url: `http://example.org/${'a'.repeat(3000)}` },
      { url: 42 },
      { url: 'http://example.org/', secret: 'plain' },
      { url: 'http://example.org/', secret: 'whsec_short' },
      { url: 'http://example.org/', filter: { claimIds: ['x'] } },
      { url: 'http://example.org/', filter: { states: 'published' } },
      { url: 'http://example.org/', extra: 1 },
      null,
      [],
    ];
    for (const payload of bodies) {
      const response = await call(t.app, { method: 'POST', url: '/webhooks', headers: { ...t.as.admin, 'content-type': 'application/json' }, payload: JSON.stringify(payload) });
      expect(response.statusCode, JSON.stringify(payload)?.slice(0, 80)).toBe(400);
      expect(response.headers['content-type']).toMatch(/application\/problem\+json/);
    }
    const huge = await call(t.app, {
      method: 'POST',
      url: '/webhooks',
      headers: { ...t.as.admin, 'content-type': 'application/json' },
      payload: JSON.stringify({ url: 'http://example.org/', description: 'x'.repeat(3 * 1024 * 1024) }),
    });
    expect(huge.statusCode).toBe(413);
    for (const [method, url, payload] of [
      ['GET', '/webhooks/not-a-uuid', undefined],
      ['GET', '/webhooks/00000000-0000-4000-8000-000000000000/deliveries', undefined],
      ['DELETE', '/webhooks/x%20y', undefined],
      ['POST', '/webhooks/00000000-0000-4000-8000-000000000000/redeliver', {}],
    ] as const) {
      const response = await call(t.app, { method, url, headers: t.as.admin, ...(payload ? { payload } : {}) });
      expect(response.statusCode, `${method} ${url}`).toBe(404);
      expect(response.headers['content-type']).toMatch(/application\/problem\+json/);
    }
    const nul = await call(t.app, { method: 'DELETE', url: '/webhooks/%00', headers: t.as.admin });
    expect(nul.statusCode).toBe(400);
    const someId = (await subscribe({ url: (await receiver()).url })).json.id as string;
    for (const [url, payload] of [
      [`/webhooks/${someId}/redeliver`, { positions: [0] }],
      [`/webhooks/${someId}/redeliver`, { positions: 'all' }],
      [`/webhooks/${someId}/enable`, { now: true }],
    ] as const) {
      const response = await call(t.app, { method: 'POST', url, headers: t.as.admin, payload });
      expect(response.statusCode, `${url} ${JSON.stringify(payload)}`).toBe(400);
    }
    const deliveries = await call(t.app, { method: 'GET', url: `/webhooks/${someId}/deliveries?limit=-1`, headers: t.as.admin });
    expect(deliveries.statusCode).toBe(400);
    const after = (await call(t.app, { method: 'GET', url: '/webhooks', headers: t.as.admin })).json.items.length;
    expect(after).toBe(before + 1);
  });
});

describe.skipIf(!available)('webhooks: sustained failure disables the endpoint', () => {
  let t: TestApp;
  let failing: Receiver;
  beforeAll(async () => {
    t = await startApp({ config: { webhooks: { ...FAST, retryScheduleMs: Array.from({ length: 200 }, () => 30), disableAfterMs: 1000 } } });
    failing = await startReceiver();
  });
  afterAll(async () => {
    await t?.close();
    await failing?.close();
  });

  it('records WebhookDisabled in the stream webhook-<id>, stops delivering, and resumes when enabled', async () => {
    failing.behave(() => ({ status: 500 }));
    const claim = await createClaim(t);
    const { id } = (await call(t.app, { method: 'POST', url: '/webhooks', headers: t.as.admin, payload: { url: failing.url, filter: { claimIds: [claim.id] } } })).json as { id: string };
    await must(t, claim.id, 'notes', t.as.fact_checker, { body: 'nobody listens' });
    const disabled = await until('disabled', async () => {
      const view = (await call(t.app, { method: 'GET', url: `/webhooks/${id}`, headers: t.as.admin })).json;
      return view.enabled === false ? view : undefined;
    });
    expect(disabled.disabledReason).toMatch(/every attempt failed since/);
    const events = await t.app.store.readStream(`webhook-${id}`);
    expect(events.map((event) => [event.type, event.data.webhookId])).toEqual([['WebhookDisabled', id]]);
    failing.behave(() => ({ status: 204 }));
    const enabled = await call(t.app, { method: 'POST', url: `/webhooks/${id}/enable`, headers: t.as.admin, payload: {} });
    expect(enabled.json).toMatchObject({ enabled: true, disabledReason: null });
    await until('delivered after enabling', () => failing.requests.some((request) => request.status === 204) || undefined);
  });
});

describe.skipIf(!available)('webhooks: the SSRF guard (WEBHOOK_ALLOW_PRIVATE_TARGETS off)', () => {
  let t: TestApp;
  let local: Receiver;
  beforeAll(async () => {
    t = await startApp({ config: { webhooks: { ...FAST, allowPrivateTargets: false } } });
    local = await startReceiver();
  });
  afterAll(async () => {
    await t?.close();
    await local?.close();
  });

  it('refuses targets that are or resolve to loopback, private, link-local or mapped addresses', async () => {
    const port = new URL(local.url).port;
    for (const url of [
      local.url,
      `http://localhost:${port}/hook`,
      'http://[::1]/x',
      'http://[::ffff:127.0.0.1]/x',
      'http://10.1.2.3/x',
      'http://172.16.0.1/x',
      'http://192.168.1.1/x',
      'http://169.254.169.254/latest/meta-data',
      'http://0x7f000001/x',
      'http://2130706433/x',
      'http://0.0.0.0/x',
      'http://[fe80::1]/x',
      'http://[fd00::1]/x',
    ]) {
      const response = await call(t.app, { method: 'POST', url: '/webhooks', headers: t.as.admin, payload: { url } });
      expect(response.statusCode, url).toBe(400);
      expect(response.json.field).toBe('url');
    }
    expect((await call(t.app, { method: 'GET', url: '/webhooks', headers: t.as.admin })).json.items).toEqual([]);
  });

  it('checks the address a delivery connects to, not only the name given (a name that resolves to loopback)', async () => {
    const result = await sendAttempt(new URL(local.url.replace('127.0.0.1', 'localhost')), {}, '{}', { timeoutMs: 2000, allowPrivate: false });
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/non-public/);
    const literal = await sendAttempt(new URL(local.url), {}, '{}', { timeoutMs: 2000, allowPrivate: false });
    expect(literal.error).toMatch(/not a public address/);
    expect(local.requests).toEqual([]);
  });
});
