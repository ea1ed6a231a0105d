/**
 * GET /claims/:id answers from the service's view cache. These tests hold it to the
 * database's truth across two instances on one PostgreSQL database: a write through one
 * instance, or one made in SQL behind both, is never hidden for long by the other's
 * memory, and `Cache-Control: no-cache` reads the row itself at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { rebuildProjections } from '@claimtrail/claims';
import { buildApp } from '../src/app.ts';

const pg = await requirePostgres();

describe.skipIf(!pg)('claim reads from memory, two instances', () => {
  let db: TestDatabase;
  let a: FastifyInstance;
  let b: FastifyInstance;
  let auth: { authorization: string };

  beforeAll(async () => {
    db = await createTestDatabase('view_cache');
    a = await buildApp({ logger: false, seed: false, demoTokens: true, config: { databaseUrl: db.url, rateLimitMax: 0 } });
    b = await buildApp({ logger: false, seed: false, demoTokens: true, config: { databaseUrl: db.url, rateLimitMax: 0 } });
    auth = { authorization: `Bearer ${b.demoTokens.fact_checker}` };
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  const get = async (app: FastifyInstance, id: string, headers: Record<string, string> = {}) => {
    const response = await app.inject({ method: 'GET', url: `/claims/${id}`, headers: { ...auth, ...headers } });
    expect(response.statusCode).toBe(200);
    const view = response.json() as { version: number; notesCount: number };
    expect(response.headers.etag).toBe(`"${view.version}"`);
    return view;
  };
  const versionOn = async (app: FastifyInstance, id: string, atLeast: number) => {
    const deadline = Date.now() + 5000;
    for (;;) {
      const view = await get(app, id);
      if (view.version >= atLeast || Date.now() > deadline) return view;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };

  it('reads its own writes at once, and the other instance catches up within moments, never going back', async () => {
    const aAuth = { authorization: `Bearer ${a.demoTokens.fact_checker}`, 'content-type': 'application/json' };
    const created = await a.inject({ method: 'POST', url: '/claims', headers: aAuth, payload: { text: 'Cached claim about Tyotkino' } });
    expect(created.statusCode).toBe(201);
    const id = (created.json() as { id: string }).id;
    expect((await get(b, id)).version).toBe(1);

    for (let version = 2; version <= 6; version++) {
      const note = await a.inject({ method: 'POST', url: `/claims/${id}/notes`, headers: aAuth, payload: { body: `note ${version}` } });
      expect(note.statusCode).toBe(200);
      expect((await get(a, id)).version).toBe(version);
      // The database's row itself, at once.
      expect((await get(b, id, { 'cache-control': 'no-cache' })).version).toBe(version);
    }
    // Without no-cache: B learns of A's writes through its store subscription, without reading the row each time.
    const note = await a.inject({ method: 'POST', url: `/claims/${id}/notes`, headers: aAuth, payload: { body: 'last' } });
    expect(note.statusCode).toBe(200);
    expect((await versionOn(b, id, 7)).version).toBe(7);
    for (let i = 0; i < 10; i++) expect((await get(b, id)).version).toBe(7);
  });

  it('a rebuild swap clears what both keep, and a change to the new table is still seen', async () => {
    const aAuth = { authorization: `Bearer ${a.demoTokens.fact_checker}`, 'content-type': 'application/json' };
    const created = await a.inject({ method: 'POST', url: '/claims', headers: aAuth, payload: { text: 'Claim across a rebuild' } });
    const id = (created.json() as { id: string }).id;
    expect((await get(b, id)).notesCount).toBe(0);
    // Edited behind the service at the same version (a notification B ignores: it holds that version)…
    await sql`update claims set view = jsonb_set(view::jsonb, '{text}', '"edited"')::json where id = ${id}`.execute(a.database.db);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(((await get(b, id)) as unknown as { text: string }).text).toBe('Claim across a rebuild');
    // …the swap puts the fold of the log back, and both forget what they held.
    const swapped = await rebuildProjections(a.store, { mode: 'swap' });
    expect(swapped.swapped).toBe(true);
    // No write transaction notifies (migration 0014), on the old table or the new one.
    const triggers = await sql<{ n: number }>`select count(*)::int as n from pg_trigger where tgrelid = 'claims'::regclass and tgname like 'claims_changed_%'`.execute(a.database.db);
    expect(triggers.rows[0]!.n).toBe(0);
    await sql`update claims set version = 2, view = jsonb_set(view::jsonb, '{version}', '2')::json where id = ${id}`.execute(a.database.db);
    expect((await versionOn(b, id, 2)).version).toBe(2);
  });

  it('a row changed in SQL behind both services is read again by both', async () => {
    const aAuth = { authorization: `Bearer ${a.demoTokens.fact_checker}`, 'content-type': 'application/json' };
    const created = await a.inject({ method: 'POST', url: '/claims', headers: aAuth, payload: { text: 'Claim written behind the service' } });
    const id = (created.json() as { id: string }).id;
    expect((await get(a, id)).notesCount).toBe(0);
    expect((await get(b, id)).notesCount).toBe(0);
    // Another writer (an older release, an operator) moves the row to version 2.
    await sql`update claims set version = 2, view = jsonb_set(jsonb_set(view::jsonb, '{version}', '2'), '{notesCount}', '1')::json
               where id = ${id}`.execute(a.database.db);
    for (const app of [a, b]) {
      const view = await versionOn(app, id, 2);
      expect(view).toMatchObject({ version: 2, notesCount: 1 });
    }
  });
});
