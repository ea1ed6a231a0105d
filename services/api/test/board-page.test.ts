/** GET / and its assets: public, right types; the demo editor token only from the config route. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { buildApp } from '../src/app.ts';
import { buildBoard, boardDistDir } from '../src/board/build.ts';

const pg = await requirePostgres();

describe.skipIf(!pg)('board page routes', () => {
  let db: TestDatabase;
  let app: FastifyInstance;

  beforeAll(async () => {
    if (!existsSync(`${boardDistDir}app.js`)) await buildBoard();
    db = await createTestDatabase('board_page');
    app = await buildApp({ config: { databaseUrl: db.url }, logger: false, seed: false, demoTokens: true });
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('serves the page without a token; the demo editor token comes from the config route', async () => {
    const response = await app.inject({ method: 'GET', url: '/' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.body).toContain('<div id="app"');
    expect(response.body).not.toContain(app.demoTokens.editor!);
    // inject() is a loopback client asking for localhost.
    const config = await app.inject({ method: 'GET', url: '/assets/board/config.json' });
    expect(config.json()).toEqual({ demoToken: app.demoTokens.editor, demoRole: 'editor' });
    const assets = [...response.body.matchAll(/(?:src|href)="(\/assets\/board\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets).toHaveLength(2);
    for (const url of assets) {
      const asset = await app.inject({ method: 'GET', url });
      expect(asset.statusCode, url).toBe(200);
      expect(asset.headers['content-type']).toMatch(url.includes('.js') ? /javascript/ : /text\/css/);
    }
  });

  it('answers 404 for anything else under /assets/board/', async () => {
    for (const url of ['/assets/board/index.html', '/assets/board/..%2Fpackage.json', '/assets/board/build.json']) {
      expect((await app.inject({ method: 'GET', url })).statusCode, url).toBe(404);
    }
  });
});
