import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { requirePostgres } from '@claimtrail/testing';
import { CreateClaimBodySchema, STEP_ROUTE_SPECS } from '@claimtrail/contract';
import { call, claimIn, startApp, type TestApp } from './helpers.ts';

const pg = await requirePostgres();

type Schema = {
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  enum?: unknown[];
  maxLength?: number;
  minLength?: number;
  maxItems?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
};

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((n) => String.fromCharCode(n));

/**
 * Pieces of hostile text: escape sequences as text (a backslash and `u0000`, percent and
 * JSON escapes), real C0/C1 controls, Unicode format characters (ZWJ, bidi overrides and
 * isolates, BOM, variation selectors, tag characters), lone surrogates, and words whose
 * NFC and NFD spellings differ.
 */
const FRAGMENTS = [
  '\\u0000', '\\\\u0000', '\\ud800', '\\udfff\\ud800', '\\n', '\\x00', '\\0', '%00', '%u0000', '%25u0000', '\\"', '\\',
  '\u0000', '\u0001', '\u0008', '\u001b[31m', '\u007f', '\u0080', '\u0085', '\u009f', '\t', '\r\n',
  '\u200b', '\u200c', '\u200d', '\u200e', '\u200f', '\u202a', '\u202e', '\u2066', '\u2069', '\u2060', '\ufeff', '\u00ad',
  '\ufe0f', '\ufe0e', '\u{e0100}', '\u{e0041}', '\u{e007f}', '\u3164', '\u034f',
  '\ud800', '\udfff', '\ud83d', '\ude00',
  'e\u0301', '\u00e9', 'Te\u0308tkino', 'Tëtkino', 'Тёткино'.normalize('NFD'), 'Тёткино', '\u1100\u1161\u11a8', '각',
  '👨\u200d👩\u200d👧', '🏳️\u200d🌈', 'x',
];
const fragment = fc.constantFrom(...FRAGMENTS);
/** Hostile text: fragments mixed with ordinary characters. */
const hostileText = fc.array(fc.oneof({ weight: 3, arbitrary: fragment }, { weight: 1, arbitrary: fc.string({ maxLength: 6 }) }), { minLength: 1, maxLength: 12 }).map((parts) => parts.join(''));
const nasty = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 50 }),
  fc.string({ unit: 'grapheme', maxLength: 50 }),
  fc.string({ unit: loneSurrogate, minLength: 1, maxLength: 3 }),
  fc.constantFrom('', ' ', '\u0000', 'a\u0000b', '\ud83d', '💥'.repeat(3000), '\u202e', 'null', '__proto__', "'; drop table events; --"),
  { weight: 4, arbitrary: hostileText },
  hostileText.map((t) => t.repeat(Math.ceil(3000 / Math.max(1, t.length)))),
  fc.string({ minLength: 3000, maxLength: 12_000 }),
);

/** Values that satisfy the schema (roughly): known-good samples for patterned strings. */
function valid(schema: Schema, name: string, ctx: { claimId: string }): fc.Arbitrary<unknown> {
  if (schema.anyOf) return fc.oneof(...schema.anyOf.map((s) => valid(s, name, ctx)));
  if (schema.enum) return fc.constantFrom(...schema.enum);
  switch (schema.type) {
    case 'null':
      return fc.constant(null);
    case 'integer':
      return fc.integer({ min: schema.minimum ?? 0, max: Math.min(schema.maximum ?? 1000, 1000) });
    case 'array':
      return fc.array(valid(schema.items ?? {}, name, ctx), { maxLength: Math.min(schema.maxItems ?? 3, 3) });
    case 'object': {
      const props = schema.properties ?? {};
      const required = new Set(schema.required ?? []);
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [key, sub] of Object.entries(props)) record[key] = valid(sub, key, ctx);
      return fc.record(record, { requiredKeys: [...required] });
    }
    case 'string': {
      if (schema.pattern?.startsWith('^[0-9a-fA-F]{8}')) return fc.oneof(fc.constant(ctx.claimId), fc.uuid());
      if (schema.pattern?.includes('[hH][tT]')) return fc.constantFrom('https://example.org/a', 'http://x.test/p?q=1');
      if (schema.pattern?.startsWith('^\\d{4}')) return fc.constantFrom('2024-03-12', '2024-03-12T10:00:00Z');
      if (schema.pattern?.startsWith('^[A-Za-z]{2,3}')) return fc.constantFrom('en', 'ru', 'uk-UA');
      const max = Math.min(schema.maxLength ?? 200, 200);
      return fc
        .oneof(fc.string({ minLength: 1, maxLength: max }), hostileText.map((t) => t.slice(0, max)))
        .map((s) => (s.trim() ? s : `x${s}`));
    }
    default:
      return fc.jsonValue();
  }
}

/** A valid body, then maybe broken: wrong types, missing fields, unknown fields, nasty strings. */
function body(schema: Schema, ctx: { claimId: string }): fc.Arbitrary<unknown> {
  const good = valid(schema, 'body', ctx);
  return fc.oneof(
    { weight: 3, arbitrary: good },
    {
      weight: 3,
      arbitrary: fc.tuple(good, fc.constantFrom(...keysOf(schema)), fc.oneof(fc.anything(), nasty)).map(
        ([b, key, value]) => ({ ...(b as object), [key]: value }),
      ),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(good, fc.constantFrom(...keysOf(schema))).map(([b, key]) => {
        const copy = { ...(b as Record<string, unknown>) };
        delete copy[key];
        return copy;
      }),
    },
    { weight: 1, arbitrary: fc.tuple(good, fc.string(), fc.jsonValue()).map(([b, k, v]) => ({ ...(b as object), [k]: v })) },
    { weight: 1, arbitrary: fc.anything() },
    { weight: 1, arbitrary: fc.jsonValue() },
  );
}

const headerValue = fc.oneof(fc.constantFrom(undefined, '"1"', '"2"', 'W/"1"', '*', '"-1"', '"99999999999"', 'garbage'), fc.string({ maxLength: 40 }));
const idempotencyKey = fc.oneof(fc.constant(undefined), fc.string({ minLength: 0, maxLength: 300 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')));

/** encodeURIComponent that survives lone surrogates (and sometimes sends raw invalid UTF-8). */
function encode(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return `${[...Buffer.from(value, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}%ff%fe`;
  }
}

function keysOf(schema: Schema): string[] {
  const keys = Object.keys(schema.properties ?? {});
  return keys.length > 0 ? keys : ['x'];
}

function clean(headers: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined)) as Record<string, string>;
}

describe.skipIf(!pg)('fuzz: never a 5xx, refused requests append nothing', () => {
  let t: TestApp;
  let ids: string[];
  beforeAll(async () => {
    t = await startApp();
    ids = [await claimIn(t, 'submitted'), await claimIn(t, 'researched'), await claimIn(t, 'in_review'), await claimIn(t, 'published')];
  });
  afterAll(async () => {
    await t?.close();
  });

  async function checked(send: () => Promise<{ statusCode: number; body: string; headers: Record<string, unknown> }>): Promise<void> {
    const before = await t.eventCount();
    const response = await send();
    expect(response.statusCode, response.body).toBeLessThan(500);
    if (response.statusCode >= 400) {
      expect(await t.eventCount()).toBe(before);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(response.body)).toMatchObject({ code: expect.any(String), status: response.statusCode });
    }
  }

  it('write routes with bodies from the schemas and beyond', async () => {
    const routes = [
      { url: () => '/claims', schema: CreateClaimBodySchema as unknown as Schema },
      ...STEP_ROUTE_SPECS.map((spec) => ({ url: (id: string) => `/claims/${id}/${spec.segment}`, schema: spec.body as unknown as Schema })),
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        fc.nat({ max: 3 }),
        fc.oneof({ weight: 5, arbitrary: fc.constant<string | null>(null) }, fc.oneof(fc.uuid(), fc.string({ maxLength: 80 }), nasty).map(encode)),
        fc.constantFrom(...(['fact_checker', 'editor', 'auditor', 'admin', 'none'] as const)),
        headerValue,
        idempotencyKey,
        fc.context(),
        async (route, which, rawId, role, ifMatch, key, ctx) => {
          const claimId = ids[which]!;
          const payload = fc.sample(body(route.schema, { claimId }), { numRuns: 1 })[0];
          const url = route.url(rawId ?? claimId);
          const headers = clean({
            ...(role === 'none' ? {} : t.as[role]),
            'content-type': 'application/json',
            'if-match': ifMatch,
            'idempotency-key': key,
          });
          ctx.log(`${url} ${JSON.stringify(headers)} ${JSON.stringify(payload)?.slice(0, 300)}`);
          await checked(() => call(t.app, { method: 'POST', url, headers, payload: JSON.stringify(payload) ?? '' }));
        },
      ),
      { numRuns: 600 },
    );
  });

  it('hostile text in every text field: stored exactly (NFC, trimmed), or refused naming the field', async () => {
    const unstorable = (v: string) => v.includes('\u0000') || /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(v);
    const visible = /[^\s\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}]/u;
    const fields = ['text', 'claimant', 'tags[0]', 'appearances[0].title', 'appearances[0].excerpt'] as const;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...fields), hostileText, fc.context(), async (field, value, ctx) => {
        const body: Record<string, unknown> = { text: 'A claim' };
        if (field === 'tags[0]') body.tags = [value];
        else if (field.startsWith('appearances')) body.appearances = [{ [field.split('.')[1]!]: value }];
        else body[field] = value;
        ctx.log(`${field} ${JSON.stringify(value)}`);
        const before = await t.eventCount();
        const response = await call(t.app, { method: 'POST', url: '/claims', headers: { ...t.as.fact_checker, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
        const expected = value.normalize('NFC').trim();
        // A tag is at most 50 characters; the schema counts code points of the sent text, the
        // domain UTF-16 units of the trimmed text: a tag long by either measure may be refused.
        const mayBeTooLong = field === 'tags[0]' && Math.max(value.normalize('NFC').length, [...value.normalize('NFC')].length) > 50;
        if (mayBeTooLong && response.statusCode === 400) {
          expect(response.json).toMatchObject({ code: 'validation', field });
          expect(response.json.detail).toContain('at most 50');
          expect(await t.eventCount()).toBe(before);
          return;
        }
        if (unstorable(value) || (field === 'text' || field === 'tags[0]' ? !visible.test(expected) : false)) {
          expect(response.statusCode, response.body).toBe(400);
          expect(response.json).toMatchObject({ code: 'validation', field });
          expect(await t.eventCount()).toBe(before);
          return;
        }
        expect(response.statusCode, response.body).toBe(201);
        const view = (await call(t.app, { method: 'GET', url: `/claims/${response.json.id}`, headers: t.as.auditor })).json;
        const stored =
          field === 'tags[0]' ? view.tags[0] : field.startsWith('appearances') ? view.appearances[0][field.split('.')[1]!] : view[field];
        const shown = visible.test(expected) ? (field === 'tags[0]' ? expected.toLowerCase() : expected) : null;
        expect(stored).toBe(shown);
      }),
      { numRuns: 200 },
    );
  });

  it('raw bytes, odd content types and methods', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/claims', `/claims/ID/notes`, '/claims/ID/triage', '/claims/ID/verdict'),
        fc.oneof(fc.uint8Array({ maxLength: 2000 }), fc.string({ unit: 'binary', maxLength: 200 }).map((s) => Buffer.from(s))),
        fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', '', 'application/json; charset=latin1'),
        fc.constantFrom('POST', 'PUT', 'PATCH', 'DELETE'),
        async (path, bytes, contentType, method) => {
          const url = path.replace('ID', ids[1]!);
          const headers = clean({ ...t.as.editor, 'content-type': contentType || undefined });
          await checked(() => call(t.app, { method: method as 'POST', url, headers, payload: Buffer.from(bytes) }));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('read routes with arbitrary params and query strings', async () => {
    const paths = ['/claims', '/claims/ID', '/claims/ID/events', '/claims/ID/state', '/events', '/board', '/metrics', '/me'];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...paths),
        fc.oneof(fc.constant(null), fc.oneof(fc.uuid(), fc.string({ maxLength: 60 }), hostileText, nasty.map((s) => s.slice(0, 600)))),
        fc.dictionary(
          fc.constantFrom('state', 'assignee', 'tag', 'rating', 'q', 'limit', 'cursor', 'version', 'at', 'after', 'x'),
          fc.oneof(
            fc.string({ maxLength: 30 }),
            fc.integer().map(String),
            hostileText,
            nasty.map((s) => s.slice(0, 300)),
            fc.constantFrom('0', '-1', '1e9', '9007199254740993', 'NaN', '2024-03-12T00:00:00Z', '2024-02-30T00:00:00Z', '2024-03-12T24:00:00Z', '2016-12-31T23:59:60Z'),
          ),
          { maxKeys: 4 },
        ),
        async (path, rawId, query) => {
          const id = rawId === null ? ids[0]! : rawId;
          const qs = Object.entries(query).map(([k, v]) => `${k}=${encode(v)}`).join('&');
          const url = `${path.replace('ID', encode(id))}${qs ? `?${qs}` : ''}`;
          await checked(() => call(t.app, { method: 'GET', url, headers: t.as.auditor }));
        },
      ),
      { numRuns: 600 },
    );
  });
});
