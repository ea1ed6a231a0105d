/**
 * docs/api.md keeps up with the code on what can be checked mechanically: its errors table
 * is the catalogue (every code with its status, nothing else), every operation of
 * /openapi.json is documented under its operationId, and the websocket handshake and
 * TRUST_PROXY are described.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { ERROR_CATALOGUE } from '@claimtrail/contract';
import { openDatabase, type Database } from '@claimtrail/event-store';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { buildApp } from '../src/app.ts';

// The routes do not depend on the database; PostgreSQL, when there is one, spares the
// embedded database's start.
const pg = await requirePostgres();

const DOCS = resolve(import.meta.dirname, '../../../docs/api.md');

/** The errors table's rows: `| 405, 406 | \`a\`, \`b\` | … |` → a → 405, b → 406. */
function errorsTable(markdown: string): Map<string, number> {
  const section = markdown.slice(markdown.indexOf('## Errors'), markdown.indexOf('\n## ', markdown.indexOf('## Errors') + 1));
  const table = new Map<string, number>();
  for (const line of section.split('\n')) {
    const match = /^\| ([\d, ]+) \| ([^|]+) \|/.exec(line);
    if (!match) continue;
    const statuses = match[1]!.split(',').map((s) => Number(s.trim()));
    const codes = [...match[2]!.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!);
    codes.forEach((code, i) => table.set(code, statuses[Math.min(i, statuses.length - 1)]!));
  }
  return table;
}

describe('docs/api.md matches the code', () => {
  let markdown: string;
  let app: FastifyInstance;
  let testDb: TestDatabase | undefined;
  let database: Database;
  beforeAll(async () => {
    markdown = await readFile(DOCS, 'utf8');
    testDb = pg ? await createTestDatabase('docs') : undefined;
    database = await openDatabase(testDb ? { databaseUrl: testDb.url } : { dataDir: 'memory://' });
    app = await buildApp({ logger: false, database, config: { rateLimitMax: 0 }, seed: false, demoTokens: false });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await database?.close();
    await testDb?.drop();
  });

  it('the errors table lists exactly the catalogue, each code with its status', () => {
    const documented = errorsTable(markdown);
    const catalogue = new Map(Object.entries(ERROR_CATALOGUE).map(([code, entry]) => [code, entry.status]));
    expect(Object.fromEntries(documented)).toEqual(Object.fromEntries(catalogue));
  });

  it('every operation of /openapi.json is documented under its operationId', () => {
    const document = app.swagger() as unknown as { paths: Record<string, Record<string, { operationId: string }>> };
    const ids = Object.values(document.paths).flatMap((methods) => Object.values(methods).map((operation) => operation.operationId));
    expect(ids.length).toBeGreaterThan(25);
    expect(ids.filter((id) => !markdown.includes(`\`${id}\``))).toEqual([]);
  });

  it('describes the websocket handshake refusals and TRUST_PROXY', () => {
    for (const header of ['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol']) expect(markdown).toContain(header);
    expect(markdown).toMatch(/TRUST_PROXY/);
    expect(markdown).not.toMatch(/validation runs before authentication/i);
  });
});
