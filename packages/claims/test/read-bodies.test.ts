/**
 * ReadBodies: a kept body is served while the claim view cache's generation stands, reads
 * of one key share one database read, and a read that arrives after a change never gets a
 * body whose read started before it.
 */
import { describe, expect, it } from 'vitest';
import { ClaimViewCache, ReadBodies, applyClaimsChanged, applyStoreEvent } from '../src/index.ts';

function deferred(): { promise: Promise<string>; resolve(json: string): void } {
  let resolve!: (json: string) => void;
  const promise = new Promise<string>((r) => (resolve = r));
  return { promise, resolve };
}

const CLAIM = '0d6f8a8e-6a39-4c1e-9d43-3f4e2b7a9c10';

describe('ReadBodies', () => {
  it('serves the kept body until a write, an event of another writer or a rebuild moves the generation', async () => {
    const views = new ClaimViewCache();
    const bodies = new ReadBodies(views, { maxAgeMs: 60_000 });
    let reads = 0;
    const read = async () => `{"n":${++reads}}`;
    const first = await bodies.get('k', read);
    expect(first.bytes.toString()).toBe('{"n":1}');
    expect((await bodies.get('k', read)).etag).toBe(first.etag);
    expect(reads).toBe(1);
    views.offer(CLAIM, 1, '{}'); // a database read of a claim: nothing anyone was told changed
    expect((await bodies.get('k', read)).bytes.toString()).toBe('{"n":1}');
    views.offer(CLAIM, 1, '{}', true); // this service committed a write
    expect((await bodies.get('k', read)).bytes.toString()).toBe('{"n":2}');
    applyStoreEvent(views, { streamId: `claim-${CLAIM}`, version: 2 }); // another instance's write
    expect((await bodies.get('k', read)).bytes.toString()).toBe('{"n":3}');
    applyStoreEvent(views, { streamId: `claim-${CLAIM}`, version: 2 }); // already known: nothing moves
    expect((await bodies.get('k', read)).bytes.toString()).toBe('{"n":3}');
    applyClaimsChanged(views, '*'); // a rebuild's swap
    expect((await bodies.get('k', read)).bytes.toString()).toBe('{"n":4}');
    // Other keys are kept apart.
    expect((await bodies.get('other', read)).bytes.toString()).toBe('{"n":5}');
    expect(bodies.stats).toMatchObject({ builds: 5 });
  });

  it('concurrent reads share one flight; a read after a change waits for a flight that starts after it', async () => {
    const views = new ClaimViewCache();
    const bodies = new ReadBodies(views, { maxAgeMs: 60_000 });
    const flights: ReturnType<typeof deferred>[] = [];
    const read = () => {
      const d = deferred();
      flights.push(d);
      return d.promise;
    };
    const a = bodies.get('k', read);
    const b = bodies.get('k', read);
    expect(flights).toHaveLength(1);
    views.offer(CLAIM, 1, '{}', true); // a write lands while the first read is out
    const c = bodies.get('k', read);
    const d = bodies.get('k', read);
    expect(flights).toHaveLength(1); // the next read waits for the running one
    flights[0]!.resolve('"before the write"');
    expect((await a).bytes.toString()).toBe('"before the write"');
    expect((await b).bytes.toString()).toBe('"before the write"');
    await new Promise((r) => setImmediate(r));
    expect(flights).toHaveLength(2);
    flights[1]!.resolve('"after the write"');
    expect((await c).bytes.toString()).toBe('"after the write"');
    expect((await d).bytes.toString()).toBe('"after the write"');
    // And it is what is kept now.
    expect((await bodies.get('k', read)).bytes.toString()).toBe('"after the write"');
  });

  it('a failed read is not kept and does not stop the next one', async () => {
    const views = new ClaimViewCache();
    const bodies = new ReadBodies(views, { maxAgeMs: 60_000 });
    await expect(bodies.get('k', () => Promise.reject(new Error('database down')))).rejects.toThrow('database down');
    expect((await bodies.get('k', async () => '"ok"')).bytes.toString()).toBe('"ok"');
  });

  it('keeps nothing when the cache cannot hear of other writers', async () => {
    const views = new ClaimViewCache();
    views.disable();
    const bodies = new ReadBodies(views, { maxAgeMs: 60_000 });
    let reads = 0;
    const read = async () => `${++reads}`;
    await bodies.get('k', read);
    await bodies.get('k', read);
    expect(reads).toBe(2);
  });

  it('gzips a body once, and not a small one', async () => {
    const views = new ClaimViewCache();
    const bodies = new ReadBodies(views, { maxAgeMs: 60_000 });
    const big = await bodies.get('big', async () => JSON.stringify({ cards: Array.from({ length: 200 }, (_, i) => ({ id: i, text: 'the same words again' })) }));
    const zipped = big.gzipped();
    expect(zipped).not.toBeNull();
    expect(big.gzipped()).toBe(zipped);
    expect(zipped!.length).toBeLessThan(big.bytes.length / 4);
    expect((await bodies.get('small', async () => '{}')).gzipped()).toBeNull();
  });
});
