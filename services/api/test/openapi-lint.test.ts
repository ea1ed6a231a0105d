import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { openDatabase, type Database } from '@claimtrail/event-store';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { buildApp, type BuildAppOptions } from '../src/app.ts';

const run = promisify(execFile);
// The document does not depend on the database; PostgreSQL, when there is one, only spares
// the file the embedded database's start (several CPU-seconds of WebAssembly initdb).
const pg = await requirePostgres();
const REDOCLY = resolve(import.meta.dirname, '../../../node_modules/.bin/redocly');

interface LintProblem {
  ruleId: string;
  severity: string;
  message: string;
  location: { pointer?: string }[];
}

type MediaTypes = Record<string, { schema?: { $ref?: string; title?: string } }>;
type OpenApi = {
  servers?: { url: string }[];
  info: { license?: { name: string } };
  paths: Record<string, Record<string, { operationId?: string; responses: Record<string, { description: string; content?: MediaTypes }> }>>;
  components?: { schemas?: Record<string, { title?: string; properties?: Record<string, unknown>; required?: string[] }> };
};

/** Redocly's recommended rules over a document: every error and warning, as `severity rule pointer: message`. */
async function lint(document: unknown, file: string): Promise<string[]> {
  await writeFile(file, JSON.stringify(document));
  // Exit code 1 when there are errors: the JSON report on stdout says what they are.
  const { stdout } = await run(REDOCLY, ['lint', '--extends', 'recommended', file, '--format', 'json'], {
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
    maxBuffer: 16 * 1024 * 1024,
  }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
  const report = JSON.parse(stdout) as { problems: LintProblem[] };
  return report.problems.map((p) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer ?? ''}: ${p.message}`);
}

/** The document as the app builds it (`app.swagger()`), typed as far as these checks read it. */
function documentOf(instance: FastifyInstance): OpenApi {
  return instance.swagger() as unknown as OpenApi;
}

function operations(document: OpenApi) {
  return Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({ name: `${method.toUpperCase()} ${path}`, ...operation })),
  );
}

describe('/openapi.json passes Redocly recommended rules (no error, no warning)', () => {
  let dir: string;
  // One database for every app of the file (each would otherwise create and migrate its own).
  let testDb: TestDatabase | undefined;
  let database: Database;
  let app: FastifyInstance;
  let deployed: FastifyInstance;
  const build = (options: Partial<BuildAppOptions['config']> = {}, migrate = false) =>
    buildApp({ logger: false, database, migrate, config: { rateLimitMax: 0, ...options }, seed: false, demoTokens: false });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'openapi-lint-'));
    testDb = pg ? await createTestDatabase('openapi') : undefined;
    database = await openDatabase(testDb ? { databaseUrl: testDb.url } : { dataDir: 'memory://' });
    app = await build({}, true);
    deployed = await build({ publicUrl: 'https://checks.example.org/api/' });
  });
  afterAll(async () => {
    await Promise.all([app?.close(), deployed?.close()]);
    await database?.close();
    await testDb?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('as served at GET /openapi.json, without and with PUBLIC_URL', async () => {
    const problems = await Promise.all(
      [app, deployed].map(async (instance, i) => {
        const response = await instance.inject({ method: 'GET', url: '/openapi.json' });
        expect(response.statusCode).toBe(200);
        return lint(response.json(), join(dir, `openapi-${i}.json`));
      }),
    );
    expect(problems).toEqual([[], []]);
  });

  it('names its server: PUBLIC_URL when set, else relative to the document', () => {
    expect(documentOf(app).servers).toEqual([expect.objectContaining({ url: '/' })]);
    expect(documentOf(deployed).servers).toEqual([expect.objectContaining({ url: 'https://checks.example.org/api' })]);
  });

  it('every operation has a unique camelCase operationId and a 4xx response', () => {
    const all = operations(documentOf(app));
    expect(all.length).toBeGreaterThan(25);
    for (const operation of all) {
      expect(operation.operationId, operation.name).toMatch(/^[a-z][a-zA-Z0-9]*$/);
      expect(Object.keys(operation.responses).some((status) => /^4/.test(status)), operation.name).toBe(true);
    }
    const ids = all.map((o) => o.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    // Stable names (clients are generated from them): a few that must never change.
    const byName = Object.fromEntries(all.map((o) => [o.name, o.operationId]));
    expect(byName).toMatchObject({
      'POST /claims': 'submitClaim',
      'GET /claims': 'listClaims',
      'GET /claims/{id}': 'getClaim',
      'POST /claims/{id}/triage': 'triageClaim',
      'POST /claims/{id}/submit': 'submitForReview',
      'POST /claims/{id}/publish': 'publishVerdict',
      'GET /events': 'listEvents',
    });
  });

  it('every error response is application/problem+json with the Problem schema and says what it is', () => {
    const document = documentOf(app);
    const problem = document.components?.schemas?.Problem;
    expect(problem?.required).toEqual(expect.arrayContaining(['type', 'title', 'status', 'detail', 'code']));
    // The readiness probe's 503 is its report (application/json), not an error document.
    const reports = new Set(['GET /readyz 503']);
    let checked = 0;
    for (const operation of operations(document)) {
      for (const [status, response] of Object.entries(operation.responses)) {
        if (!/^[45]/.test(status)) continue;
        const name = `${operation.name} ${status}`;
        expect(response.description, name).not.toBe('Default Response');
        expect(response.description.length, name).toBeGreaterThan(10);
        if (reports.has(name)) {
          expect(Object.keys(response.content ?? {}), name).toEqual(['application/json']);
          continue;
        }
        expect(Object.keys(response.content ?? {}), name).toEqual(['application/problem+json']);
        expect(response.content!['application/problem+json']!.schema, name).toEqual({ $ref: '#/components/schemas/Problem' });
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(100);
    // A status the catalogue knows is described by its codes.
    expect(document.paths['/claims/{id}/publish']!.post!.responses['409']!.description).toMatch(/illegal_transition/);
    expect(document.paths['/claims/{id}/publish']!.post!.responses['403']!.description).toMatch(/four_eyes/);
  });

  it('a route added without an operationId (or a duplicate, or not camelCase) is refused at registration', async () => {
    const probe = await build();
    try {
      const handler = async () => ({});
      expect(() => probe.get('/probe-missing', { schema: { summary: 'no id' } }, handler)).toThrow(
        /GET \/probe-missing has no operationId.*camelCase schema\.operationId/,
      );
      expect(() => probe.get('/probe-plain', handler)).toThrow(/GET \/probe-plain has no operationId/);
      expect(() => probe.post('/probe-snake', { schema: { operationId: 'probe_snake' } }, handler)).toThrow(/not camelCase/);
      expect(() => probe.get('/probe-duplicate', { schema: { operationId: 'listClaims' } }, handler)).toThrow(
        /operationId listClaims is already used by GET \/claims/,
      );
      // Hidden routes are not in the document and need none; a named one is accepted.
      expect(() => probe.get('/probe-hidden', { schema: { hide: true } }, handler)).not.toThrow();
      expect(() => probe.get('/probe-named', { schema: { operationId: 'getProbe' } }, handler)).not.toThrow();
      // Routes registered by a plugin (as every route file is) go through the same check.
      probe.register(async (child) => {
        child.get('/probe-in-plugin', { schema: { summary: 'no id' } }, handler);
      });
      await expect(probe.ready()).rejects.toThrow(/GET \/probe-in-plugin has no operationId/);
    } finally {
      await probe.close().catch(() => undefined);
    }
  });
});
