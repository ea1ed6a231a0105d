/**
 * A list cursor is decoded strictly: any cursor the server did not issue, a well-formed one
 * carrying a date or time that does not exist included, is a 400 `validation` naming
 * `cursor` (not the database's own refusal of the date, which names no field). Both lists
 * that take a cursor are covered: /claims and /claim-reviews.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { call, createClaim, startApp, type TestApp } from './helpers.ts';

const pg = await requirePostgres();

const cursorOf = (createdAt: unknown, id: unknown = randomUUID()) => Buffer.from(JSON.stringify({ c: createdAt, i: id }), 'utf8').toString('base64url');

describe.skipIf(!pg)('GET /claims?cursor=', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp();
    for (let i = 0; i < 3; i++) await createClaim(t, t.as.fact_checker, { text: `A claim to page through, number ${i}` });
  });
  afterAll(async () => {
    await t?.close();
  });

  const LISTS = ['/claims', '/claim-reviews'];
  const list = (cursor: string, path = '/claims') =>
    call(t.app, { method: 'GET', url: `${path}?limit=1&cursor=${encodeURIComponent(cursor)}`, headers: t.as.auditor });

  it('a cursor the server issued pages on', async () => {
    const first = await call(t.app, { method: 'GET', url: '/claims?limit=1', headers: t.as.auditor });
    expect(first.statusCode).toBe(200);
    const next = await list(first.json.nextCursor as string);
    expect(next.statusCode, next.body).toBe(200);
    expect(next.json.items).toHaveLength(1);
    expect(next.json.items[0].id).not.toBe(first.json.items[0].id);
  });

  const impossible = [
    '2024-02-30T10:00:00.000000Z',
    '2023-02-29T10:00:00.000000Z',
    '2024-04-31T10:00:00.000000Z',
    '2024-13-01T10:00:00.000000Z',
    '2024-00-10T10:00:00.000000Z',
    '2024-03-00T10:00:00.000000Z',
    '0000-03-12T10:00:00.000000Z',
    '2024-03-12T24:00:00.000000Z',
    '2024-03-12T10:60:00.000000Z',
    '2024-03-12T10:00:60.000000Z',
    '2024-03-12T10:00:00.000000+24:00',
    '2024-03-12T10:00:00.000000+05:60',
  ];
  for (const createdAt of impossible) {
    it(`a cursor carrying ${createdAt}: 400 validation, field cursor`, async () => {
      for (const path of LISTS) {
        const response = await list(cursorOf(createdAt), path);
        expect(response.statusCode, `${path}: ${response.body}`).toBe(400);
        expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(response.json, path).toMatchObject({ code: 'validation', field: 'cursor' });
        expect(response.json.detail).toMatch(/cursor/);
      }
    });
  }

  const foreign: [string, string][] = [
    ['not base64url', '***'],
    ['not JSON', Buffer.from('{"c":').toString('base64url')],
    ['a date without time', cursorOf('2024-03-12')],
    ['a number for the date', cursorOf(1710237600000)],
    ['an id that is not a claim id', cursorOf('2024-03-12T10:00:00.000000Z', 'x')],
    ['no id', Buffer.from(JSON.stringify({ c: '2024-03-12T10:00:00.000000Z' })).toString('base64url')],
  ];
  for (const [name, cursor] of foreign) {
    it(`${name}: 400 validation, field cursor`, async () => {
      for (const path of LISTS) {
        const response = await list(cursor, path);
        expect(response.statusCode, `${path}: ${response.body}`).toBe(400);
        expect(response.json, path).toMatchObject({ code: 'validation', field: 'cursor' });
      }
    });
  }
});
