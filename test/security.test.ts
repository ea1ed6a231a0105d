/**
 * Security, against the service running as a NON-superuser database role (the owner of
 * its database, which is what running the migrations needs):
 * - every route × every principal (no token, malformed header, unknown token, revoked
 *   token, disabled user, each role) matches POLICY below, written out by hand; every
 *   route the service publishes in /openapi.json must have a row; refused requests append
 *   nothing; allowed workflow steps are sent to a claim in the state they need and must
 *   answer 2xx;
 * - the websocket upgrade is refused (401) without a valid token;
 * - the database role cannot UPDATE, DELETE or TRUNCATE events, nor switch the triggers
 *   off with session_replication_role;
 * - no token ever appears in the service's output (LOG_LEVEL=trace), whether sent as a
 *   bearer header or as ?token= on the websocket;
 * - many failed authentications from one client are rate limited (429 + Retry-After).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { revokeToken } from '@claimtrail/identity';
import { openDatabase } from '@claimtrail/event-store';
import { generateSignerKey } from '@claimtrail/transparency';
import type { Role } from '@claimtrail/domain';
import { adminQuery, countEvents, prepareDatabase, query, type Principal } from './support/db.ts';
import { call, type CallResult } from './support/http.ts';
import { startService, stopAllServices, type Service } from './support/service.ts';
import { newCounts, report, tally } from './support/summary.ts';

const pg = await requirePostgres();

const ALL: readonly Role[] = ['fact_checker', 'editor', 'auditor', 'admin'];
const WRITERS: readonly Role[] = ['fact_checker', 'editor', 'admin'];
const DESK: readonly Role[] = ['editor', 'admin'];
const RESEARCHERS: readonly Role[] = ['fact_checker', 'admin'];
const AUDIT: readonly Role[] = ['auditor', 'editor', 'admin'];

type Prep = 'submitted' | 'triaged' | 'in_research' | 'with_evidence' | 'with_verdict' | 'in_review' | 'published' | 'correction_pending';

interface RouteRule {
  method: 'GET' | 'POST' | 'DELETE';
  /** OpenAPI path template. */
  path: string;
  /** null = public (no token needed). */
  roles: readonly Role[] | null;
  /** Workflow steps: the state an allowed role's request is sent in, and its body. */
  step?: { from: Prep; body: (ctx: { other: string; pending: string }) => Record<string, unknown> };
  /** A query string the request needs. */
  query?: string;
  /** What an allowed role's request answers when not 2xx (past the auth gate, refused for its body). */
  allowedStatus?: number;
  /** What `{id}`/`{name}` stands for when it is not a claim (a consumer group, a webhook). */
  id?: () => string;
  /** The body of every request of this rule (else `{}`). */
  body?: Record<string, unknown>;
  /** Called with an allowed role's answer (the created webhook's id). */
  capture?: (res: CallResult) => void;
}

/** The consumer group and webhook the integration rows work on (created by their POST rows). */
const probe = { group: 'policy-probe', webhookId: '00000000-0000-4000-8000-000000000000' };
const INTEGRATORS: readonly Role[] = ['admin', 'auditor'];
const ADMIN: readonly Role[] = ['admin'];

/** THE policy, written out: PRODUCT.md "Auth" + the domain's role table. */
const POLICY: readonly RouteRule[] = [
  { method: 'GET', path: '/healthz', roles: null },
  { method: 'GET', path: '/readyz', roles: null },
  { method: 'GET', path: '/openapi.json', roles: null },
  { method: 'GET', path: '/docs', roles: null },
  { method: 'GET', path: '/', roles: null },
  { method: 'GET', path: '/metrics', roles: ALL },
  { method: 'GET', path: '/me', roles: ALL },
  { method: 'GET', path: '/claims', roles: ALL },
  { method: 'GET', path: '/claims/{id}', roles: ALL },
  { method: 'GET', path: '/claims/{id}/events', roles: ALL },
  { method: 'GET', path: '/claims/{id}/state', roles: ALL },
  { method: 'GET', path: '/claims/{id}/allowed-steps', roles: ALL },
  { method: 'GET', path: '/fact-checks', roles: null },
  { method: 'GET', path: '/fact-checks/{id}', roles: null },
  { method: 'GET', path: '/claims/{id}/claim-review', roles: ALL },
  { method: 'GET', path: '/claim-reviews', roles: ALL },
  { method: 'GET', path: '/events', roles: ALL },
  { method: 'GET', path: '/board', roles: ALL },
  { method: 'GET', path: '/users', roles: ALL },
  { method: 'GET', path: '/audit/verify', roles: AUDIT },
  { method: 'GET', path: '/audit/checkpoint', roles: AUDIT },
  { method: 'GET', path: '/audit/checkpoint/key', roles: AUDIT },
  { method: 'GET', path: '/audit/proof/inclusion', roles: AUDIT, query: '?position=1&size=1' },
  { method: 'GET', path: '/audit/proof/consistency', roles: AUDIT, query: '?from=1&to=1' },
  // A cosignature by no configured witness: the allowed roles get past the gate and are refused for the body.
  { method: 'POST', path: '/audit/checkpoint/cosignatures', roles: ['auditor', 'admin'], body: { treeSize: 0, cosignature: '— w AAAA' }, allowedStatus: 400 },
  { method: 'GET', path: '/claims/{id}/similar', roles: ALL },
  { method: 'GET', path: '/me/notifications', roles: ALL },
  { method: 'POST', path: '/me/notifications/read', roles: ALL, body: { upTo: 0 } },
  { method: 'GET', path: '/stats', roles: AUDIT },
  { method: 'POST', path: '/claims', roles: WRITERS },
  { method: 'POST', path: '/claims/{id}/triage', roles: DESK, step: { from: 'submitted', body: () => ({}) } },
  { method: 'POST', path: '/claims/{id}/reject', roles: DESK, step: { from: 'submitted', body: () => ({ reason: 'not check-worthy' }) } },
  { method: 'POST', path: '/claims/{id}/merge', roles: DESK, step: { from: 'submitted', body: (c) => ({ into: c.other }) } },
  { method: 'POST', path: '/claims/{id}/assign', roles: DESK, step: { from: 'triaged', body: () => ({ assignee: 'rel-fact-checker' }) } },
  { method: 'POST', path: '/claims/{id}/evidence', roles: WRITERS, step: { from: 'in_research', body: () => ({ summary: 'a source', stance: 'refutes' }) } },
  { method: 'POST', path: '/claims/{id}/notes', roles: WRITERS, step: { from: 'submitted', body: () => ({ body: 'a note' }) } },
  { method: 'POST', path: '/claims/{id}/verdict', roles: RESEARCHERS, step: { from: 'with_evidence', body: () => ({ rating: 'false', rationale: 'because' }) } },
  { method: 'POST', path: '/claims/{id}/submit', roles: RESEARCHERS, step: { from: 'with_verdict', body: () => ({}) } },
  { method: 'POST', path: '/claims/{id}/request-changes', roles: DESK, step: { from: 'in_review', body: () => ({ reason: 'more sources' }) } },
  { method: 'POST', path: '/claims/{id}/publish', roles: DESK, step: { from: 'in_review', body: () => ({}) } },
  { method: 'POST', path: '/claims/{id}/reopen', roles: DESK, step: { from: 'published', body: () => ({ reason: 'new facts' }) } },
  { method: 'POST', path: '/claims/{id}/correct', roles: DESK, step: { from: 'published', body: () => ({ note: 'typo fixed' }) } },
  // The pending correction is proposed by another editor: both desk roles may approve it.
  { method: 'POST', path: '/claims/{id}/approve-correction', roles: DESK, step: { from: 'correction_pending', body: (c) => ({ correctionId: c.pending }) } },
  { method: 'POST', path: '/claims/{id}/reject-correction', roles: DESK, step: { from: 'correction_pending', body: () => ({ reason: 'not convinced' }) } },
  { method: 'POST', path: '/claims/{id}/retract', roles: DESK, step: { from: 'published', body: () => ({ reason: 'wrong' }) } },
  // Integrations: admin manages, admin and auditor consume and read (docs/webhooks.md).
  { method: 'POST', path: '/consumer-groups', roles: ADMIN, body: { name: probe.group } },
  { method: 'GET', path: '/consumer-groups', roles: INTEGRATORS },
  { method: 'GET', path: '/consumer-groups/{name}', roles: INTEGRATORS, id: () => probe.group },
  { method: 'POST', path: '/consumer-groups/{name}/fetch', roles: INTEGRATORS, id: () => probe.group, body: { member: 'policy' } },
  { method: 'POST', path: '/consumer-groups/{name}/ack', roles: INTEGRATORS, id: () => probe.group, body: { positions: [1] } },
  { method: 'POST', path: '/consumer-groups/{name}/nack', roles: INTEGRATORS, id: () => probe.group, body: { positions: [1] } },
  { method: 'GET', path: '/consumer-groups/{name}/parked', roles: INTEGRATORS, id: () => probe.group },
  { method: 'POST', path: '/consumer-groups/{name}/parked/replay', roles: ADMIN, id: () => probe.group },
  { method: 'DELETE', path: '/consumer-groups/{name}', roles: ADMIN, id: () => probe.group },
  { method: 'POST', path: '/webhooks', roles: ADMIN, body: { url: 'http://127.0.0.1:9/policy' }, capture: (res) => (probe.webhookId = res.json.id) },
  { method: 'GET', path: '/webhooks', roles: INTEGRATORS },
  { method: 'GET', path: '/webhooks/{webhookId}', roles: INTEGRATORS, id: () => probe.webhookId },
  { method: 'GET', path: '/webhooks/{webhookId}/deliveries', roles: INTEGRATORS, id: () => probe.webhookId },
  { method: 'POST', path: '/webhooks/{webhookId}/redeliver', roles: ADMIN, id: () => probe.webhookId },
  { method: 'POST', path: '/webhooks/{webhookId}/enable', roles: ADMIN, id: () => probe.webhookId },
  { method: 'DELETE', path: '/webhooks/{webhookId}', roles: ADMIN, id: () => probe.webhookId },
];

describe.skipIf(!pg)('security', () => {
  let db: TestDatabase;
  let appRole: string;
  let appUrl: string;
  let service: Service;
  let users: Record<Role, Principal>;
  let revoked: string;
  let disabled: string;
  let secondEditor: string;
  const sentTokens = new Set<string>();
  const counts = newCounts();

  beforeAll(async () => {
    db = await createTestDatabase('ct_rel_sec');
    // The service's own role: LOGIN, not superuser, owner of its database (migrations create tables there).
    appRole = `ct_rel_app_${randomBytes(4).toString('hex')}`;
    await adminQuery(`create role "${appRole}" login nosuperuser nocreatedb nocreaterole`);
    await adminQuery(`alter database "${db.name}" owner to "${appRole}"`);
    const url = new URL(db.url);
    url.username = appRole;
    url.password = '';
    appUrl = url.toString();
    const prepared = await prepareDatabase(appUrl, [
      { id: 'rel-revoked', role: 'editor' },
      { id: 'rel-disabled', role: 'admin' },
      { id: 'rel-second-editor', role: 'editor' },
    ]);
    users = prepared;
    revoked = prepared.extra[0]!.token;
    disabled = prepared.extra[1]!.token;
    secondEditor = prepared.extra[2]!.token;
    const database = await openDatabase({ databaseUrl: appUrl, poolSize: 1 });
    await revokeToken(database.db, revoked);
    await database.close();
    await query(appUrl, `update users set disabled = true where id = 'rel-disabled'`);
    // The policy sweep sends ~200 bad tokens from one client: the failure limiter (its own test below) is off here.
    // A checkpoint key, so the transparency routes answer (docs/transparency.md). The webhook
    // row subscribes a loopback URL (allowed here); nothing is delivered (no worker).
    const keyDir = await mkdtemp(join(tmpdir(), 'ct-sec-key-'));
    await writeFile(join(keyDir, 'checkpoint.key'), generateSignerKey('security.test/log'));
    service = await startService({
      databaseUrl: appUrl,
      env: {
        LOG_LEVEL: 'trace',
        AUTH_FAILURE_MAX: '0',
        CHECKPOINT_KEY_FILE: join(keyDir, 'checkpoint.key'),
        CHECKPOINT_INTERVAL_MS: '200',
        WEBHOOK_ALLOW_PRIVATE_TARGETS: '1',
        WEBHOOK_WORKER: '0',
      },
    });
  });

  afterAll(async () => {
    await stopAllServices();
    await db?.drop();
    if (appRole) await adminQuery(`drop role if exists "${appRole}"`).catch(() => undefined);
    report('security.test.ts', counts);
  });

  async function send(method: string, path: string, token: string | null, body?: unknown, authorization?: string): Promise<CallResult> {
    if (token) sentTokens.add(token);
    const headers: Record<string, string> = {};
    if (authorization !== undefined) headers.authorization = authorization;
    const res = await call(service.url, path, {
      method,
      token: authorization !== undefined ? null : token,
      headers,
      ...(method === 'POST' ? { body: body ?? {} } : {}),
    });
    tally(counts, res.status, res.headers.get('retry-after'));
    return res;
  }

  async function step(token: string, id: string, segment: string, body: Record<string, unknown> = {}): Promise<void> {
    const res = await send('POST', `/claims/${id}/${segment}`, token, body);
    expect(res.status, `${segment}: ${res.text}`).toBe(200);
  }

  /** A fresh claim driven to `state` by the fact-checker (drafts) and the editor (desk). */
  async function claimIn(state: Prep): Promise<string> {
    const fc = users.fact_checker.token;
    const ed = users.editor.token;
    const created = await send('POST', '/claims', fc, { text: `Security claim ${randomUUID()}` });
    expect(created.status, created.text).toBe(201);
    const id: string = created.json.id;
    const order: Prep[] = ['submitted', 'triaged', 'in_research', 'with_evidence', 'with_verdict', 'in_review', 'published', 'correction_pending'];
    const target = order.indexOf(state);
    if (target >= 1) await step(ed, id, 'triage');
    if (target >= 2) await step(ed, id, 'assign', { assignee: users.fact_checker.userId });
    if (target >= 3) await step(fc, id, 'evidence', { summary: 'report', stance: 'supports' });
    if (target >= 4) await step(fc, id, 'verdict', { rating: 'mostly_false', rationale: 'sources disagree' });
    if (target >= 5) await step(fc, id, 'submit');
    if (target >= 6) await step(ed, id, 'publish');
    if (target >= 7) await step(secondEditor, id, 'correct', { note: 'older footage', rating: 'mixed' });
    return id;
  }

  it('has a policy row for every route the service publishes', async () => {
    const res = await send('GET', '/openapi.json', null);
    expect(res.status).toBe(200);
    const published: string[] = [];
    for (const [path, item] of Object.entries(res.json.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(item)) published.push(`${method.toUpperCase()} ${path}`);
    }
    const covered = new Set(POLICY.map((r) => `${r.method} ${r.path}`));
    expect(published.filter((r) => !covered.has(r)), 'routes without a policy row').toEqual([]);
  });

  it('every route × every principal matches the policy; refusals append nothing', async () => {
    const sample = await claimIn('published');
    const other = await claimIn('submitted');
    const unauthenticated: { label: string; token: string | null; authorization?: string }[] = [
      { label: 'no token', token: null },
      { label: 'Basic auth', token: null, authorization: 'Basic cmVsOnJlbA==' },
      { label: 'empty bearer', token: null, authorization: 'Bearer ' },
      { label: 'two tokens', token: null, authorization: `Bearer ${users.admin.token} ${users.admin.token}` },
      { label: 'unknown token', token: `ct_${randomBytes(32).toString('base64url')}` },
      { label: 'revoked token', token: revoked },
      { label: 'disabled user', token: disabled },
      { label: 'very long token', token: 'x'.repeat(4000) },
    ];
    const mismatches: string[] = [];
    for (const rule of POLICY) {
      const path = rule.path.replace(/\{(id|name|webhookId)\}/, rule.id?.() ?? sample) + (rule.path === '/claims/{id}/state' ? '?version=1' : (rule.query ?? ''));
      const body = rule.step?.body({ other, pending: 'c0' }) ?? rule.body ?? (rule.path === '/claims' ? { text: 'policy probe' } : {});
      if (rule.roles === null) {
        const res = await send(rule.method, path, null);
        if (res.status >= 400) mismatches.push(`${rule.method} ${rule.path} public: ${res.status}`);
        continue;
      }
      const before = await countEvents(appUrl);
      for (const p of unauthenticated) {
        const res = await send(rule.method, path, p.token, body, p.authorization);
        if (res.status !== 401 || res.json?.code !== 'unauthorized') mismatches.push(`${rule.method} ${rule.path} ${p.label}: ${res.status}`);
      }
      for (const role of ALL.filter((r) => !rule.roles!.includes(r))) {
        const res = await send(rule.method, path, users[role].token, body);
        if (res.status !== 403 || res.json?.code !== 'forbidden_role') mismatches.push(`${rule.method} ${rule.path} ${role}: ${res.status} (want 403)`);
      }
      const after = await countEvents(appUrl);
      if (after !== before) mismatches.push(`${rule.method} ${rule.path}: refused requests appended ${after - before} event(s)`);
      counts.events += 1;
      for (const role of rule.roles) {
        const target = rule.step ? await claimIn(rule.step.from) : sample;
        const rolePath = rule.path.replace(/\{(id|name|webhookId)\}/, rule.id?.() ?? target) + (rule.path === '/claims/{id}/state' ? '?version=1' : (rule.query ?? ''));
        const pending = rule.step?.from === 'correction_pending' ? (await send('GET', `/claims/${target}`, users.auditor.token)).json.pendingCorrection.id : 'c0';
        const res = await send(rule.method, rolePath, users[role].token, rule.step?.body({ other, pending }) ?? body);
        // claim-review of a claim that is published answers 200; everything allowed answers 2xx.
        if (rule.allowedStatus !== undefined ? res.status !== rule.allowedStatus : res.status < 200 || res.status >= 300) mismatches.push(`${rule.method} ${rule.path} ${role}: ${res.status} ${res.text.slice(0, 200)} (want 2xx)`);
        else rule.capture?.(res);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('refuses the websocket upgrade without a valid token', async () => {
    const wsUrl = service.url.replace(/^http/, 'ws') + '/ws';
    const attempt = (url: string, headers: Record<string, string> = {}) =>
      new Promise<number>((resolve) => {
        const socket = new WebSocket(url, { headers });
        socket.on('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          socket.terminate();
        });
        socket.on('open', () => {
          resolve(101);
          socket.close();
        });
        socket.on('error', () => resolve(-1));
      });
    const unknown = `ct_${randomBytes(32).toString('base64url')}`;
    sentTokens.add(unknown);
    sentTokens.add(revoked);
    sentTokens.add(users.auditor.token);
    expect(await attempt(wsUrl)).toBe(401);
    expect(await attempt(`${wsUrl}?token=${unknown}`)).toBe(401);
    expect(await attempt(`${wsUrl}?token=${revoked}`)).toBe(401);
    expect(await attempt(wsUrl, { authorization: `Bearer ${disabled}` })).toBe(401);
    expect(await attempt(`${wsUrl}?token=${users.auditor.token}`)).toBe(101);
    expect(await attempt(wsUrl, { authorization: `Bearer ${users.auditor.token}` })).toBe(101);
    counts.requests += 6;
  });

  it('the application role cannot rewrite or erase events, even with raw SQL', async () => {
    const [who] = await query<{ super: boolean; owner: string }>(
      appUrl,
      `select rolsuper as super, (select pg_get_userbyid(relowner) from pg_class where relname = 'events') as owner
         from pg_roles where rolname = current_user`,
    );
    expect(who!.super).toBe(false);
    expect(who!.owner).toBe(appRole);
    const before = await query(appUrl, 'select id, hash, data::text as data from events order by id');
    expect(before.length).toBeGreaterThan(0);
    const attacks = [
      `update events set data = '{"text":"rewritten"}'::jsonb`,
      `update events set hash = 'x'`,
      `update events set position = position + 100000 where position is not null`,
      `delete from events`,
      `delete from events where version = 1`,
      `truncate events`,
      `truncate events cascade`,
      `set session_replication_role = replica`,
    ];
    for (const sql of attacks) {
      await expect(query(appUrl, sql), sql).rejects.toThrow();
      counts.faults++;
    }
    const after = await query(appUrl, 'select id, hash, data::text as data from events order by id');
    expect(after).toEqual(before);
    counts.events += after.length;
  });

  it('rate limits repeated authentication failures from one client (429 + Retry-After)', async () => {
    const limited = await startService({ databaseUrl: appUrl, env: { RATE_LIMIT_MAX: '30', AUTH_FAILURE_MAX: '30' } });
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 100; i++) {
      // A guesser tries a different token each time.
      const guess = `ct_${randomBytes(32).toString('base64url')}`;
      const res = await call(limited.url, '/claims', { token: guess });
      tally(counts, res.status, res.headers.get('retry-after'));
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers.get('retry-after');
    }
    await limited.kill('SIGTERM');
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
    expect(statuses.filter((s) => s === 429).length, 'distinct bad tokens from one client are never limited').toBeGreaterThan(0);
    expect(retryAfter).toBeTruthy();
  });

  it('never writes a token to its output (LOG_LEVEL=trace)', () => {
    const output = service.output();
    expect(output.length).toBeGreaterThan(1000);
    for (const token of [...sentTokens, users.fact_checker.token, users.editor.token, users.admin.token, revoked, disabled]) {
      expect(output.includes(token), `token ${token.slice(0, 6)}… appears in the log`).toBe(false);
    }
    counts.events += 0;
  });
});
