import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sql } from 'kysely';
import type { EventStore } from '../src/index.ts';
import { event, openBackend, type Backend } from './helpers.ts';

/** Tampering as a superuser who switches the append-only trigger off. */
export function tamperSuite(kind: 'postgres' | 'pglite'): void {
  let backend: Backend;
  let store: EventStore;
  const streams = ['a-' + randomUUID(), 'b-' + randomUUID(), 'c-' + randomUUID()];

  beforeAll(async () => {
    backend = await openBackend(kind);
    store = backend.store();
    for (const id of streams) {
      await store.append(id, [event('One', { n: 1 }), event('Two', { n: 2 })], { expectedVersion: 'no_stream' });
      await store.append(id, [event('Three', { n: 3 })], { expectedVersion: 2 });
    }
    await store.flush();
    expect(await store.verify()).toEqual({ ok: true, checked: 9 });
  });
  afterAll(async () => {
    await backend?.cleanup();
  });

  async function tampered<T>(fn: () => Promise<T>): Promise<T> {
    const db = backend.database.db;
    await sql`alter table events disable trigger user`.execute(db);
    try {
      return await fn();
    } finally {
      await sql`alter table events enable trigger user`.execute(db);
    }
  }
  const db = () => backend.database.db;
  const target = () => streams[1]!;

  it('a changed payload is reported as hash_mismatch on that event', async () => {
    await tampered(() => sql`update events set data = '{"n": 20}' where stream_id = ${target()} and version = 2`.execute(db()));
    const result = await store.verify();
    expect(result.ok).toBe(false);
    expect(result.firstBroken).toMatchObject({ streamId: target(), version: 2, reason: 'hash_mismatch' });
    expect((await store.verify({ streamId: streams[0]! })).ok).toBe(true);
    await tampered(() => sql`update events set data = '{"n": 2}' where stream_id = ${target()} and version = 2`.execute(db()));
    expect((await store.verify()).ok).toBe(true);
  });

  it('a changed actor or timestamp is reported', async () => {
    await tampered(() => sql`update events set metadata = metadata || '{"actor":"mallory"}' where stream_id = ${target()} and version = 3`.execute(db()));
    expect((await store.verify()).firstBroken).toMatchObject({ streamId: target(), version: 3, reason: 'hash_mismatch' });
    await tampered(() => sql`update events set metadata = metadata || '{"actor":"tester"}' where stream_id = ${target()} and version = 3`.execute(db()));
    const [row] = (await sql<{ recorded_at: Date }>`select recorded_at from events where stream_id = ${target()} and version = 1`.execute(db())).rows;
    await tampered(() => sql`update events set recorded_at = recorded_at - interval '1 day' where stream_id = ${target()} and version = 1`.execute(db()));
    expect((await store.verify()).firstBroken).toMatchObject({ streamId: target(), version: 1, reason: 'hash_mismatch' });
    await tampered(() => sql`update events set recorded_at = ${row!.recorded_at.toISOString()}::timestamptz where stream_id = ${target()} and version = 1`.execute(db()));
    expect((await store.verify()).ok).toBe(true);
  });

  it('a re-hashed rewrite is caught by the next event prev_hash', async () => {
    // The attacker recomputes the row's own hash but cannot fix the successors without rewriting them all.
    await tampered(() => sql`update events set hash = repeat('0', 64) where stream_id = ${target()} and version = 1`.execute(db()));
    const result = await store.verify({ streamId: target() });
    expect(result.firstBroken).toMatchObject({ streamId: target(), version: 1, reason: 'hash_mismatch' });
    const events = await store.readStream(target());
    await tampered(() => sql`update events set hash = ${events[1]!.prevHash} where stream_id = ${target()} and version = 1`.execute(db()));
    await tampered(() => sql`update events set prev_hash = repeat('1', 64) where stream_id = ${target()} and version = 3`.execute(db()));
    expect((await store.verify()).firstBroken).toMatchObject({ streamId: target(), version: 3, reason: 'prev_hash_mismatch' });
    await tampered(() => sql`update events set prev_hash = ${events[1]!.hash} where stream_id = ${target()} and version = 3`.execute(db()));
    expect((await store.verify()).ok).toBe(true);
  });

  it('a deleted event is found (version gap in the middle, position gap at the end)', async () => {
    const [middle] = (await sql<Record<string, unknown>>`select * from events where stream_id = ${target()} and version = 2`.execute(db())).rows;
    await tampered(() => sql`delete from events where stream_id = ${target()} and version = 2`.execute(db()));
    expect((await store.verify()).firstBroken).toMatchObject({ streamId: target(), version: 3, reason: 'version_gap' });
    await tampered(() => restore(middle!));
    expect((await store.verify()).ok).toBe(true);

    const [last] = (await sql<Record<string, unknown>>`select * from events where stream_id = ${target()} and version = 3`.execute(db())).rows;
    await tampered(() => sql`delete from events where stream_id = ${target()} and version = 3`.execute(db()));
    const result = await store.verify();
    expect(result.ok).toBe(false);
    expect(result.firstBroken?.reason).toBe('position_gap');
    expect(result.firstBroken?.position).toBe(Number(last!['position']) + 1);
    await tampered(() => restore(last!));
    expect((await store.verify()).ok).toBe(true);
  });

  async function restore(row: Record<string, unknown>): Promise<void> {
    await sql`insert into events (seq, id, stream_id, version, type, data, metadata, recorded_at, hash, prev_hash, position)
              overriding system value
              values (${row['seq']}, ${row['id']}, ${row['stream_id']}, ${row['version']}, ${row['type']},
                      ${JSON.stringify(row['data'])}::jsonb, ${JSON.stringify(row['metadata'])}::jsonb,
                      ${(row['recorded_at'] as Date).toISOString()}::timestamptz, ${row['hash']}, ${row['prev_hash']}, ${row['position']})`.execute(db());
  }
}
