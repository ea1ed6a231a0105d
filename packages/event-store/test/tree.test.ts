/**
 * The stored Merkle tree (migration 0019, tree.ts) and checkpoints (checkpoints.ts) on both
 * backends: the tree extended from the positioned log equals a tree computed in memory from
 * the events, proofs from the stored nodes verify, extension is idempotent, and the tables
 * refuse changes.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { MemoryTree, leafHashOf, treeRoot, verifyConsistency, verifyInclusion } from '@claimtrail/transparency';
import {
  checkpointAt,
  extendTree,
  extendTreeToHead,
  latestCheckpoint,
  storeCheckpoint,
  storedConsistencyProof,
  storedInclusionProof,
  storedTreeRoot,
  treeSize,
  verifyTree,
  type EventStore,
} from '../src/index.ts';
import { event, openBackend, type Backend } from './helpers.ts';

const postgres = await requirePostgres();

for (const kind of ['pglite', 'postgres'] as const) {
  describe.skipIf(kind === 'postgres' && !postgres)(`the stored Merkle tree (${kind})`, () => {
    let backend: Backend;
    let store: EventStore;
    beforeAll(async () => {
      backend = await openBackend(kind);
      store = backend.store();
    });
    afterAll(() => backend?.cleanup());

    async function appendSome(count: number): Promise<void> {
      for (let i = 0; i < count; i++) await store.append(`s-${i % 5}`, [event('Happened', { i })]);
      await store.flush();
    }

    async function memoryTree(): Promise<MemoryTree> {
      const tree = new MemoryTree();
      for await (const e of store.streamAll({ after: 0 })) tree.append(leafHashOf({ hash: e.hash, position: e.position, streamId: e.streamId, version: e.version }));
      return tree;
    }

    it('extends from the positioned log in passes, and equals the tree computed from the events', async () => {
      expect(await extendTree(backend.database.db)).toEqual({ busy: false, size: 0, added: 0 });
      await appendSome(23);
      expect(await extendTree(backend.database.db, { maxLeaves: 10 })).toEqual({ busy: false, size: 10, added: 10 });
      expect((await extendTreeToHead(backend.database.db, { maxLeaves: 4 })).size).toBe(23);
      // Idempotent: nothing new, nothing added.
      expect(await extendTree(backend.database.db)).toEqual({ busy: false, size: 23, added: 0 });
      await appendSome(18);
      expect((await extendTreeToHead(backend.database.db)).size).toBe(41);
      expect(await treeSize(backend.database.db)).toBe(41);

      const tree = await memoryTree();
      for (let size = 1; size <= 41; size++) {
        const root = await storedTreeRoot(backend.database.db, size);
        expect(Buffer.from(root).equals(Buffer.from(treeRoot(tree.nodes, size)))).toBe(true);
      }
      const root = await storedTreeRoot(backend.database.db, 41);
      for (let index = 0; index < 41; index += 3) {
        const proof = await storedInclusionProof(backend.database.db, index, 41);
        expect(verifyInclusion(index, 41, tree.nodes(0, index), proof, root)).toBe(true);
      }
      for (const from of [1, 2, 7, 8, 23, 40, 41]) {
        const proof = await storedConsistencyProof(backend.database.db, from, 41);
        expect(verifyConsistency(from, 41, await storedTreeRoot(backend.database.db, from), root, proof)).toBe(true);
      }
    });

    it('concurrent extenders leave one tree', async () => {
      await appendSome(30);
      const results = await Promise.all(Array.from({ length: 4 }, () => extendTreeToHead(backend.database.db, { maxLeaves: 7 })));
      expect(results.some((r) => !r.busy)).toBe(true);
      await extendTreeToHead(backend.database.db);
      const tree = await memoryTree();
      expect(tree.size).toBe(71);
      expect(Buffer.from(await storedTreeRoot(backend.database.db, 71)).equals(Buffer.from(treeRoot(tree.nodes, 71)))).toBe(true);
    });

    it('keeps one checkpoint per tree size, and the tables refuse UPDATE, DELETE and TRUNCATE', async () => {
      const root = await storedTreeRoot(backend.database.db, 71);
      expect(await storeCheckpoint(backend.database.db, { treeSize: 71, rootHash: root, note: 'first' })).toBe(true);
      expect(await storeCheckpoint(backend.database.db, { treeSize: 71, rootHash: root, note: 'second' })).toBe(false);
      expect((await checkpointAt(backend.database.db, 71))?.note).toBe('first');
      expect((await latestCheckpoint(backend.database.db))?.treeSize).toBe(71);
      for (const statement of [
        'update events_tree set hash = hash where level = 0 and idx = 0',
        'delete from events_tree where level = 0 and idx = 70',
        'truncate events_tree',
        "update events_checkpoints set note = 'forged'",
        'delete from events_checkpoints',
      ]) {
        await expect(sql.raw(statement).execute(backend.database.db)).rejects.toThrow(/append-only/);
      }
    });
  });
}

describe('verifyTree', () => {
  let backend: Backend;
  let store: EventStore;
  beforeAll(async () => {
    backend = await openBackend('pglite');
    store = backend.store();
  });
  afterAll(() => backend?.cleanup());

  it('accepts the tree extended from the log, and names the first leaf when the log is changed under it', async () => {
    for (let i = 0; i < 37; i++) await store.append(`v-${i % 4}`, [event('Happened', { i })]);
    await store.flush();
    await extendTreeToHead(backend.database.db);
    expect(await verifyTree(backend.database.db, { batchSize: 8 })).toEqual({ ok: true, size: 37, checked: 37 });
    // A superuser rewrites an event (triggers off), even keeping its hash: the leaf commits to position, stream, version and hash.
    await sql.raw('alter table events disable trigger user').execute(backend.database.db);
    await sql.raw("update events set version = version + 100 where position = 20").execute(backend.database.db);
    expect(await verifyTree(backend.database.db, { batchSize: 8 })).toMatchObject({ ok: false, firstBroken: { leafIndex: 19 } });
    await sql.raw("update events set version = version - 100 where position = 20").execute(backend.database.db);
    await sql.raw('delete from events where position = 37').execute(backend.database.db);
    expect(await verifyTree(backend.database.db)).toMatchObject({ ok: false, firstBroken: { leafIndex: 36, reason: expect.stringMatching(/beyond the log's head 36/) } });
  });
});
