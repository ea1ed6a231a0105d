import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import type { Role } from '@claimtrail/domain';
import { ensureUsers, issueToken } from '@claimtrail/identity';
import { createTestDatabase, type TestDatabase } from '@claimtrail/testing';
import { buildApp, type BuildAppOptions } from '../src/app.ts';
import type { Config } from '../src/config.ts';

export interface TestApp {
  app: FastifyInstance;
  /** Bearer header per role (the demo users). */
  as: Record<Role, { authorization: string }>;
  /** Extra users: token header for a new user of the role. */
  newUser(role: Role, id?: string): Promise<{ id: string; headers: { authorization: string } }>;
  eventCount(): Promise<number>;
  close(): Promise<void>;
}

let counter = 0;

export async function startApp(
  options: { postgres?: boolean; seed?: boolean; config?: Partial<Config> } & Omit<BuildAppOptions, 'config'> = {},
): Promise<TestApp> {
  let testDb: TestDatabase | undefined;
  const config: Partial<Config> = { rateLimitMax: 0, ...options.config };
  if (options.postgres !== false) {
    testDb = await createTestDatabase('api');
    config.databaseUrl = testDb.url;
  } else {
    config.dataDir = 'memory://';
  }
  const { postgres: _p, seed, config: _c, ...rest } = options;
  const app = await buildApp({ logger: false, seed: seed ?? false, demoTokens: true, ...rest, config });
  const as = Object.fromEntries(
    Object.entries(app.demoTokens).map(([role, token]) => [role, { authorization: `Bearer ${token}` }]),
  ) as Record<Role, { authorization: string }>;
  return {
    app,
    as,
    async newUser(role, id) {
      const userId = id ?? `test-${role}-${++counter}-${Date.now().toString(36)}`;
      await ensureUsers(app.database.db, [{ id: userId, role, name: userId }]);
      const token = await issueToken(app.database.db, userId);
      return { id: userId, headers: { authorization: `Bearer ${token}` } };
    },
    async eventCount() {
      const rows = await app.database.db
        .selectFrom('events')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .execute();
      return Number(rows[0]?.n ?? 0);
    },
    async close() {
      await app.close();
      await testDb?.drop();
    },
  };
}

export async function call(
  app: FastifyInstance,
  options: InjectOptions,
): Promise<LightMyRequestResponse & { json: any }> {
  const response = await app.inject(options);
  let json: unknown = undefined;
  try {
    json = response.body ? JSON.parse(response.body) : undefined;
  } catch {
    json = undefined;
  }
  return Object.assign(response, { json });
}

type Headers = Record<string, string>;

let claimCounter = 0;

export async function createClaim(t: TestApp, headers: Headers = t.as.fact_checker, body?: Record<string, unknown>) {
  const response = await call(t.app, {
    method: 'POST',
    url: '/claims',
    headers,
    payload: body ?? { text: `Test claim number ${++claimCounter} about the border`, claimant: 'Someone', tags: ['test'] },
  });
  if (response.statusCode !== 201) throw new Error(`create failed: ${response.statusCode} ${response.body}`);
  return response.json as { id: string; version: number; state: string };
}

export async function step(
  t: TestApp,
  id: string,
  segment: string,
  headers: Headers,
  body?: Record<string, unknown>,
  extraHeaders: Headers = {},
) {
  return call(t.app, {
    method: 'POST',
    url: `/claims/${id}/${segment}`,
    headers: { ...headers, ...extraHeaders },
    ...(body !== undefined ? { payload: body } : {}),
  });
}

export async function must(t: TestApp, id: string, segment: string, headers: Headers, body?: Record<string, unknown>) {
  const response = await step(t, id, segment, headers, body);
  if (response.statusCode !== 200) throw new Error(`${segment} failed: ${response.statusCode} ${response.body}`);
  return response.json;
}

export type Reachable =
  | 'submitted'
  | 'triaged'
  | 'in_research'
  | 'researched'
  | 'drafted'
  | 'in_review'
  | 'published'
  | 'correction_pending'
  | 'rejected'
  | 'merged'
  | 'retracted';

/**
 * A claim driven to a state by the demo users: fact-checker researches and drafts,
 * editor triages, assigns, publishes. `researched` = in_research with evidence;
 * `drafted` = in_research with evidence and a verdict draft; `correction_pending` =
 * published, with a rating correction proposed by another editor (not a demo user, so
 * every demo desk user may approve it).
 */
export async function claimIn(t: TestApp, target: Reachable): Promise<string> {
  const fc = t.as.fact_checker;
  const ed = t.as.editor;
  const { id } = await createClaim(t);
  if (target === 'submitted') return id;
  if (target === 'rejected') {
    await must(t, id, 'reject', ed, { reason: 'not check-worthy' });
    return id;
  }
  if (target === 'merged') {
    const other = await createClaim(t);
    await must(t, id, 'merge', ed, { into: other.id });
    return id;
  }
  await must(t, id, 'triage', ed);
  if (target === 'triaged') return id;
  await must(t, id, 'assign', ed, { assignee: 'demo-fact-checker' });
  if (target === 'in_research') return id;
  await must(t, id, 'evidence', fc, { summary: 'Report A contradicts it', stance: 'refutes', url: 'https://example.org/a' });
  if (target === 'researched') return id;
  await must(t, id, 'verdict', fc, { rating: 'false', rationale: 'Contradicted by two reports' });
  if (target === 'drafted') return id;
  await must(t, id, 'submit', fc);
  if (target === 'in_review') return id;
  await must(t, id, 'publish', ed);
  if (target === 'published') return id;
  if (target === 'correction_pending') {
    const proposer = await t.newUser('editor');
    await must(t, id, 'correct', proposer.headers, { note: 'the footage is older', rating: 'mixed' });
    return id;
  }
  await must(t, id, 'retract', ed, { reason: 'new information' });
  return id;
}
