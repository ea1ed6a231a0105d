import { describe, expect, it } from 'vitest';
import { findUnstorable } from '../src/plugins/body.ts';

describe('findUnstorable (the NUL / unpaired surrogate / __proto__ guard on bodies, params, queries)', () => {
  it('passes clean values of every shape', () => {
    expect(findUnstorable({ id: '6f1c…', q: 'Tyotkino', tags: ['a', 'b'], nested: { deep: [{ x: 'ü ✓ 😀' }] }, n: 1, b: true, z: null })).toBeNull();
    expect(findUnstorable('plain')).toBeNull();
    expect(findUnstorable(42)).toBeNull();
    expect(findUnstorable([])).toBeNull();
  });

  it('names the path of the value that cannot be stored', () => {
    expect(findUnstorable({ q: 'a\u0000b' })).toBe('q');
    expect(findUnstorable({ a: [{ b: 'ok' }, { b: 'x\uD800' }] })).toBe('a[1].b');
    expect(findUnstorable({ a: { b: { c: ['ok', 'ok', '\uDC00'] } } })).toBe('a.b.c[2]');
    expect(findUnstorable(['ok', 'bad\u0000'])).toBe('[1]');
    expect(findUnstorable('bad\u0000')).toBe('body');
    expect(findUnstorable({ '': 'bad\u0000' })).toBe('body');
  });

  it('refuses a __proto__ key and keys that cannot be stored', () => {
    expect(findUnstorable(JSON.parse('{"a":{"__proto__":{"polluted":true}}}'))).toBe('a.__proto__');
    expect(findUnstorable({ ['k\u0000']: 'v' })).toBe('k\u0000');
  });

  it('accepts paired surrogates and rejects lone ones at either end', () => {
    expect(findUnstorable({ t: '\uD83D\uDE00' })).toBeNull();
    expect(findUnstorable({ t: '\uDE00\uD83D' })).toBe('t');
  });

  it('walks a deeply nested value without overflowing the stack', () => {
    let deep: unknown = 'bad\u0000';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const path = findUnstorable(deep);
    expect(path?.length).toBe(100_000 * 3);
  });
});
