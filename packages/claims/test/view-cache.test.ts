import { afterEach, describe, expect, it, vi } from 'vitest';
import { applyClaimsChanged, applyStoreEvent, ClaimViewCache } from '../src/view-cache.ts';

describe('ClaimViewCache', () => {
  it('keeps the highest version seen; an older read never replaces a newer view', () => {
    const cache = new ClaimViewCache();
    cache.offer('a', 2, '{"v":2}');
    cache.offer('a', 1, '{"v":1}');
    expect(cache.get('a')).toEqual({ version: 2, json: '{"v":2}' });
    cache.offer('a', 3, '{"v":3}');
    expect(cache.get('a')).toEqual({ version: 3, json: '{"v":3}' });
  });

  it('a change heard from elsewhere hides the older view until a read at least that new is offered', () => {
    const cache = new ClaimViewCache();
    cache.offer('a', 2, '{"v":2}');
    cache.changed('a', 4);
    expect(cache.get('a')).toBeUndefined();
    // A read that started before the change and returns after its notification.
    cache.offer('a', 3, '{"v":3}');
    expect(cache.get('a')).toBeUndefined();
    cache.offer('a', 4, '{"v":4}');
    expect(cache.get('a')).toEqual({ version: 4, json: '{"v":4}' });
    // Its own write's notification (same version) keeps the view.
    cache.changed('a', 4);
    expect(cache.get('a')).toEqual({ version: 4, json: '{"v":4}' });
  });

  it('drops the least recently used entry past its capacity', () => {
    const cache = new ClaimViewCache(2);
    cache.offer('a', 1, 'a');
    cache.offer('b', 1, 'b');
    cache.offer('c', 1, 'c');
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('b')?.json).toBe('b');
    expect(cache.size).toBe(2);
  });

  it('bounds the characters held, not only the count: big views push the oldest out', () => {
    const cache = new ClaimViewCache(100, 10);
    cache.offer('a', 1, 'aaaa');
    cache.offer('b', 1, 'bbbb');
    expect(cache.chars).toBe(8);
    cache.offer('c', 1, 'cccc');
    expect(cache.get('a')).toBeUndefined();
    expect(cache.chars).toBe(8);
    cache.offer('b', 2, 'bb');
    expect(cache.chars).toBe(6);
    cache.changed('c', 2);
    expect(cache.chars).toBe(2);
    cache.clear();
    expect(cache.chars).toBe(0);
  });

  it('applies notification payloads: id:version lists, * and a lost listener clear', () => {
    const cache = new ClaimViewCache();
    cache.offer('a', 1, 'a');
    cache.offer('b', 5, 'b');
    applyClaimsChanged(cache, 'a:2,b:5');
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('b')?.json).toBe('b');
    applyClaimsChanged(cache, '*');
    expect(cache.get('b')).toBeUndefined();
    cache.offer('c', 1, 'c');
    applyClaimsChanged(cache, null);
    expect(cache.get('c')).toBeUndefined();
    cache.offer('d', 1, 'd');
    applyClaimsChanged(cache, 'garbage');
    expect(cache.get('d')).toBeUndefined();
  });

  it('once disabled it serves nothing', () => {
    const cache = new ClaimViewCache();
    cache.offer('a', 1, 'a');
    cache.disable();
    cache.offer('a', 2, 'a2');
    expect(cache.get('a')).toBeUndefined();
  });

  describe('maximum age', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('serves a view for at most maxAgeMs after the database last confirmed it; a read of the same version confirms it again', () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(1_000_000);
      const cache = new ClaimViewCache(100, 1000, 500);
      cache.offer('a', 1, 'a1');
      vi.setSystemTime(1_000_500);
      expect(cache.get('a')?.json).toBe('a1');
      vi.setSystemTime(1_000_501);
      // A write that bypassed the store could have changed the row: read it again.
      expect(cache.get('a')).toBeUndefined();
      // The database's text at the same version replaces the old one (an edit behind the service).
      cache.offer('a', 1, 'a1-edited');
      expect(cache.get('a')?.json).toBe('a1-edited');
      vi.setSystemTime(1_001_000);
      expect(cache.get('a')?.json).toBe('a1-edited');
      vi.setSystemTime(1_001_002);
      expect(cache.get('a')).toBeUndefined();
      // Still known at version 1: an older read cannot come back.
      cache.offer('a', 0, 'a0');
      expect(cache.get('a')).toBeUndefined();
    });
  });

  it('applies events of the store subscription: the version of a claim stream hides older views, other streams are ignored', () => {
    const cache = new ClaimViewCache();
    cache.offer('a', 2, 'a2');
    cache.offer('b', 1, 'b1');
    applyStoreEvent(cache, { streamId: 'claim-a', version: 2 });
    expect(cache.get('a')?.json).toBe('a2');
    applyStoreEvent(cache, { streamId: 'claim-a', version: 3 });
    expect(cache.get('a')).toBeUndefined();
    applyStoreEvent(cache, { streamId: 'user-b', version: 9 });
    expect(cache.get('b')?.json).toBe('b1');
  });
});
