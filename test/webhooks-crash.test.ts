/**
 * Webhooks and consumer groups across real processes on one PostgreSQL database:
 * - two service instances deliver to a receiver that fails 30 % of requests at random and
 *   is sometimes slow; one instance is killed with SIGKILL mid-delivery and started again.
 *   Every event the filter matches is delivered (2xx) at least once, every attempt of an
 *   event carries the same webhook-id and a signature the independent `standardwebhooks`
 *   package accepts, per-claim order holds, and nothing the filter excludes is sent.
 * - a consumer-group member (a child process) fetches a batch and is killed before acking:
 *   its events go to the other member once their lease runs out.
 * Then the log is checked whole.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { expectWholeLog, prepareDatabase, type Principal } from './support/db.ts';
import { call } from './support/http.ts';
import { sleep, startService, stopAllServices, waitFor, type Service } from './support/service.ts';
import { newCounts, report } from './support/summary.ts';
import { startReceiver, type Receiver } from './support/webhook-receiver.ts';

const pg = await requirePostgres();

const ENV = {
  LOG_LEVEL: 'warn',
  RATE_LIMIT_MAX: '0',
  WEBHOOK_ALLOW_PRIVATE_TARGETS: '1',
  WEBHOOK_RETRY_SCHEDULE: ['20ms', '50ms', '100ms', '200ms', ...Array.from({ length: 30 }, () => '300ms')].join(','),
  // A killed instance's leases run out after timeout + 5 s.
  WEBHOOK_TIMEOUT_MS: '1500',
  WEBHOOK_POLL_MS: '100',
};

describe.skipIf(!pg)('webhooks and consumer groups across processes', () => {
  let db: TestDatabase;
  let users: Record<'fact_checker' | 'editor' | 'admin' | 'auditor', Principal>;
  let services: Service[] = [];
  let receiver: Receiver;
  const counts = newCounts();

  beforeAll(async () => {
    db = await createTestDatabase('ct_webhooks');
    users = await prepareDatabase(db.url);
    services = await Promise.all([startService({ databaseUrl: db.url, env: ENV }), startService({ databaseUrl: db.url, env: ENV })]);
    receiver = await startReceiver();
  }, 180_000);

  afterAll(async () => {
    await stopAllServices();
    await receiver?.close();
    await db?.drop();
    report('webhooks-crash.test.ts', counts);
  });

  async function post(service: Service, path: string, body: unknown, who: Principal = users.fact_checker) {
    for (;;) {
      const res = await call(service.url, path, { token: who.token, body, headers: { 'idempotency-key': `${path}-${JSON.stringify(body)}` } });
      if (res.status !== 0 && res.status !== 503) return res;
      await sleep(100);
    }
  }

  it('two instances, one killed mid-delivery and restarted: every matching event delivered, same id on retries, per-claim order, nothing else', async () => {
    receiver.behave(() => ({ status: Math.random() < 0.3 ? 500 : 200, ...(Math.random() < 0.1 ? { delayMs: 200 + Math.floor(Math.random() * 600) } : {}) }));
    const [a, b] = services as [Service, Service];
    const claims: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await post(i % 2 ? b : a, '/claims', { text: `Cross-process claim ${i} about tides`, claimant: 'Someone' });
      expect(res.status, res.text).toBe(201);
      claims.push(res.json.id);
    }
    const wanted = claims.slice(0, 4);
    const created = await post(a, '/webhooks', { url: receiver.url, filter: { claimIds: wanted, eventTypes: ['NoteAdded'] } }, users.admin);
    expect(created.status).toBe(201);
    const { id: webhookId, secret } = created.json as { id: string; secret: string };

    const writeNotes = async (targets: Service[], from: number, to: number) => {
      for (let n = from; n < to; n++) {
        await Promise.all(
          claims.map(async (claimId, i) => {
            const res = await post(targets[(n + i) % targets.length]!, `/claims/${claimId}/notes`, { body: `note ${n}` });
            expect(res.status).toBe(200);
          }),
        );
      }
    };
    await writeNotes([a, b], 0, 6);
    // Kill one instance while deliveries are in flight.
    await waitFor('deliveries under way', () => receiver.requests.length >= 12 || undefined, 60_000);
    await a.kill('SIGKILL');
    await writeNotes([b], 6, 10);
    // Started again: it shares the rest of the work.
    const restarted = await startService({ databaseUrl: db.url, env: ENV });
    services = [restarted, b];
    await writeNotes([restarted, b], 10, 12);

    const expected = new Map<string, { claimId: string; version: number }>();
    for (const claimId of wanted) {
      const events = (await call(b.url, `/claims/${claimId}/events`, { token: users.auditor.token })).json.events as { id: string; type: string; version: number }[];
      for (const event of events) if (event.type === 'NoteAdded') expected.set(event.id, { claimId, version: event.version });
    }
    expect(expected.size).toBe(4 * 12);
    const verifier = new Webhook(secret);
    const parsed = () =>
      receiver.requests.map((request) => {
        const payload = verifier.verify(request.body, request.headers as Record<string, string>) as { data: { id: string; claimId: string; version: number; type: string } };
        return { id: String(request.headers['webhook-id']), status: request.status, event: payload.data };
      });
    await waitFor(
      'every matching event delivered',
      () => {
        const ok = new Set(parsed().filter((d) => d.status === 200).map((d) => d.event.id));
        return [...expected.keys()].every((id) => ok.has(id)) || undefined;
      },
      120_000,
    );
    const delivered = parsed();
    for (const d of delivered) expect(expected.has(d.event.id), `${d.event.type} of ${d.event.claimId}`).toBe(true);
    const idsByEvent = new Map<string, Set<string>>();
    for (const d of delivered) idsByEvent.set(d.event.id, (idsByEvent.get(d.event.id) ?? new Set()).add(d.id));
    for (const ids of idsByEvent.values()) expect(ids.size).toBe(1);
    for (const claimId of wanted) {
      const versions = delivered.filter((d) => d.event.claimId === claimId).map((d) => d.event.version);
      expect(versions, claimId).toEqual([...versions].sort((x, y) => x - y));
    }
    expect(delivered.some((d) => d.status !== 200)).toBe(true);
    const view = await call(b.url, `/webhooks/${webhookId}`, { token: users.admin.token });
    expect(view.json).toMatchObject({ enabled: true, parked: 0 });
  }, 300_000);

  it('a consumer-group member killed mid-batch: its unacknowledged events go to the other member', async () => {
    const [, b] = services as [Service, Service];
    const claims: string[] = [];
    for (let i = 0; i < 3; i++) claims.push((await post(b, '/claims', { text: `Group claim ${i} about dunes`, claimant: 'Someone' })).json.id);
    const group = await post(b, '/consumer-groups', { name: 'crash-group', filter: { claimIds: claims }, leaseMs: 1000 }, users.admin);
    expect(group.status, group.text).toBe(201);
    // The doomed member: a process of its own that fetches a batch, prints it, and hangs.
    const script = `
      const res = await fetch(${JSON.stringify(`${b.url}/consumer-groups/crash-group/fetch`)}, {
        method: 'POST',
        headers: { authorization: 'Bearer ${users.auditor.token}', 'content-type': 'application/json' },
        body: JSON.stringify({ member: 'doomed', limit: 10, leaseMs: 3000 }),
      });
      const { deliveries } = await res.json();
      console.log(JSON.stringify(deliveries.map((d) => d.event.position)));
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const fetched = await new Promise<number[]>((resolve, reject) => {
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        if (out.includes('\n')) resolve(JSON.parse(out.trim()) as number[]);
      });
      child.once('exit', (code) => reject(new Error(`member exited early (${code})`)));
    });
    expect(fetched.length).toBe(3);
    child.kill('SIGKILL');
    // While the lease holds the other member gets nothing of those claims.
    const during = await call(b.url, '/consumer-groups/crash-group/fetch', { token: users.auditor.token, body: { member: 'survivor' } });
    expect(during.json.deliveries).toEqual([]);
    let taken: { event: { position: number }; attempt: number }[] = [];
    await waitFor(
      'the lease to run out',
      async () => {
        const res = await call(b.url, '/consumer-groups/crash-group/fetch', { token: users.auditor.token, body: { member: 'survivor' } });
        taken = res.json?.deliveries ?? [];
        return taken.length > 0 || undefined;
      },
      30_000,
    );
    expect(taken.map((d) => d.event.position).sort()).toEqual([...fetched].sort());
    expect(taken.every((d) => d.attempt === 2)).toBe(true);
    const ack = await call(b.url, '/consumer-groups/crash-group/ack', { token: users.auditor.token, body: { positions: fetched } });
    expect(ack.json.acknowledged).toBe(3);
  }, 120_000);

  it('the log is whole', async () => {
    await expectWholeLog(db.url, counts);
  });
});
