import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CompiledQuery } from 'kysely';
import { requirePostgres } from '@claimtrail/testing';
import { verifyTuning } from '../src/verify.ts';
import { canonicalJson } from '../src/hash.ts';
import { canonicalFromJsonText, canonicalParsedJson } from '../src/chain.mjs';
import { openBackend } from './helpers.ts';
import { tamperSuite } from './tamper.ts';

const pg = await requirePostgres();

// The tamper suite again, with pages of 2 events: the first page is full, so verify()
// takes the worker path (raw text rows, pages checked in parallel by seeded checkers).
describe.skipIf(!pg)('tamper evidence through the verify workers (PostgreSQL, pages of 2)', () => {
  const saved = { ...verifyTuning };
  beforeAll(() => {
    verifyTuning.pageSize = 2;
    verifyTuning.workers = 2;
  });
  afterAll(() => {
    Object.assign(verifyTuning, saved);
  });
  tamperSuite('postgres');
});

describe('canonicalParsedJson (the workers\' serializer)', () => {
  it('equals canonicalJson for every value JSON.parse can produce', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const parsed = JSON.parse(JSON.stringify(value)) as unknown;
        expect(canonicalParsedJson(parsed)).toBe(canonicalJson(parsed));
      }),
      { numRuns: 500 },
    );
  });
});

// The workers canonicalize jsonb TEXT directly (no JSON.parse) where that is provably the
// same; elsewhere they fall back to parsing. Either way the result must be exactly
// canonicalParsedJson(JSON.parse(text)).
function viaText(text: string): string {
  return canonicalFromJsonText(text) ?? canonicalParsedJson(JSON.parse(text));
}

describe('canonicalFromJsonText', () => {
  it('equals parse + canonicalize for any JSON text (compact or indented, odd keys and strings)', () => {
    const value = fc.jsonValue();
    fc.assert(
      fc.property(value, fc.constantFrom(0, 1, 2), (v, indent) => {
        const text = JSON.stringify(v, null, indent);
        expect(viaText(text)).toBe(canonicalParsedJson(JSON.parse(text)));
      }),
      { numRuns: 1000 },
    );
    for (const text of ['{"a b": 1, "a": 2, "a!": 3}', '{"__proto__": 1}', '{"10": 1, "9": 2}', '[1e400]', '[1.0, -0, 0.1, 1e2, 123456789012345678]', '"\u2028x\"y"', '{"a":1,"a":2}']) {
      let expected: string | Error;
      try {
        expected = canonicalParsedJson(JSON.parse(text));
      } catch (error) {
        expected = error as Error;
      }
      if (expected instanceof Error) expect(() => viaText(text)).toThrow();
      else expect(viaText(text)).toBe(expected);
    }
  });
});

describe.skipIf(!pg)('canonicalFromJsonText on PostgreSQL jsonb output', () => {
  it('equals parse + canonicalize for jsonb::text of arbitrary values', async () => {
    const backend = await openBackend('postgres');
    try {
      const values = fc.sample(fc.jsonValue(), 300).map((v) => JSON.stringify(v));
      values.push('{"b": [1.50, 2e3, -0.0, 12345678901234567890], "a": "x\\ty\\u0001", "ab": {"": null}, "a b": "é\u2028"}');
      let checked = 0;
      for (const value of values) {
        // jsonb refuses some JSON (\u0000, lone surrogates): those cannot be stored anyway.
        const result = await backend.database.db
          .executeQuery<{ t: string }>(CompiledQuery.raw('select $1::jsonb::text as t', [value]))
          .catch(() => null);
        const t = result?.rows[0]?.t;
        if (t === undefined) continue;
        expect(viaText(t)).toBe(canonicalParsedJson(JSON.parse(t)));
        checked++;
      }
      expect(checked).toBeGreaterThan(200);
    } finally {
      await backend.cleanup();
    }
  });
});
