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
  createEventStore,
  eventStoreMigrations,
  migrateToLatest,
  openDatabase,
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
      // Roots and proofs mix stored subtrees (16 leaves and up) and nodes computed from the events.
      for (let size = 60; size <= 71; size++) {
        expect(Buffer.from(await storedTreeRoot(backend.database.db, size)).equals(Buffer.from(treeRoot(tree.nodes, size)))).toBe(true);
      }
      const root = treeRoot(tree.nodes, 71);
      for (const index of [0, 31, 63, 64, 70]) {
        expect(verifyInclusion(index, 71, tree.nodes(0, index), await storedInclusionProof(backend.database.db, index, 71), root)).toBe(true);
      }
      for (const from of [1, 63, 64, 65, 70]) {
        const proof = await storedConsistencyProof(backend.database.db, from, 71);
        expect(verifyConsistency(from, 71, treeRoot(tree.nodes, from), root, proof)).toBe(true);
      }
    });

    it('keeps one checkpoint per tree size, and the tables refuse UPDATE, DELETE and TRUNCATE', async () => {
      const root = await storedTreeRoot(backend.database.db, 71);
      expect(await storeCheckpoint(backend.database.db, { treeSize: 71, rootHash: root, note: 'first' })).toBe(true);
      expect(await storeCheckpoint(backend.database.db, { treeSize: 71, rootHash: root, note: 'second' })).toBe(false);
      expect((await checkpointAt(backend.database.db, 71))?.note).toBe('first');
      expect((await latestCheckpoint(backend.database.db))?.treeSize).toBe(71);
      for (const statement of [
        'update events_tree set hash = hash',
        'update events_tree_sizes set size = size + 1',
        'delete from events_tree_sizes',
        'truncate events_tree',
        "update events_checkpoints set note = 'forged'",
        'delete from events_checkpoints',
      ]) {
        await expect(sql.raw(statement).execute(backend.database.db)).rejects.toThrow(/append-only/);
      }
    });
  });
}

describe('migration 0024: a tree stored in full before it', () => {
  it('keeps its size and roots, drops the nodes below 16 leaves, and extends from there', async () => {
    const database = await openDatabase({ dataDir: 'memory://' });
    try {
      const before = eventStoreMigrations.filter((entry) => entry.name < '0024');
      await migrateToLatest(database.db, before);
      const store = createEventStore(database);
      for (let i = 0; i < 45; i++) await store.append(`m-${i % 3}`, [event('Happened', { i })]);
      await store.flush();
      // The tree as 0019 stored it: every complete subtree, leaves included.
      const tree = new MemoryTree();
      for await (const e of store.streamAll({ after: 0 })) tree.append(leafHashOf({ hash: e.hash, position: e.position, streamId: e.streamId, version: e.version }));
      for (let level = 0; 2 ** level <= 45; level++) {
        for (let index = 0; (index + 1) * 2 ** level <= 45; index++) {
          await sql`insert into events_tree (level, idx, hash) values (${level}, ${index}, ${Buffer.from(tree.nodes(level, index))})`.execute(database.db);
        }
      }
      await migrateToLatest(database.db, eventStoreMigrations);
      expect(await treeSize(database.db)).toBe(45);
      const { rows } = await sql<{ low: number }>`select count(*)::int as low from events_tree where level < 4`.execute(database.db);
      expect(rows[0]!.low).toBe(0);
      for (const size of [1, 16, 31, 45]) {
        expect(Buffer.from(await storedTreeRoot(database.db, size)).equals(Buffer.from(treeRoot(tree.nodes, size)))).toBe(true);
      }
      for (let i = 45; i < 70; i++) await store.append(`m-${i % 3}`, [event('Happened', { i })]);
      await store.flush();
      expect((await extendTreeToHead(database.db)).size).toBe(70);
      expect(await verifyTree(database.db)).toEqual({ ok: true, size: 70, checked: 70 });
      await store.close();
    } finally {
      await database.close();
    }
  });
});

describe('verifyTree', () => {
  let backend: Backend;
  let store: EventStore;
  beforeAll(async () => {
    backend = await openBackend('pglite');
    store = backend.store();
  });
  afterAll(() => backend?.cleanup());

  it('accepts the tree extended from the log, and names the first stored subtree the changed log no longer matches', async () => {
    for (let i = 0; i < 200; i++) await store.append(`v-${i % 4}`, [event('Happened', { i })]);
    await store.flush();
    await extendTreeToHead(backend.database.db);
    expect(await verifyTree(backend.database.db, { batchSize: 50 })).toEqual({ ok: true, size: 200, checked: 200 });
    // A superuser rewrites an event (triggers off), even keeping its hash: the leaf commits to
    // position, stream, version and hash, and the stored subtree of leaves 80–95 to that leaf.
    await sql.raw('alter table events disable trigger user').execute(backend.database.db);
    await sql.raw('update events set version = version + 100 where position = 90').execute(backend.database.db);
    expect(await verifyTree(backend.database.db, { batchSize: 50 })).toMatchObject({
      ok: false,
      firstBroken: { leafIndex: 80, reason: expect.stringMatching(/positions 81–96 differ from the stored subtree at level 4, index 5/) },
    });
    // The proofs that need that subtree's lower nodes are computed from the rewritten event: they no longer verify.
    const root = await storedTreeRoot(backend.database.db, 128);
    await sql.raw('update events set version = version - 100 where position = 90').execute(backend.database.db);
    expect(Buffer.from(await storedTreeRoot(backend.database.db, 128)).equals(Buffer.from(root))).toBe(true);
    await sql.raw('delete from events where position = 200').execute(backend.database.db);
    expect(await verifyTree(backend.database.db)).toMatchObject({ ok: false, firstBroken: { leafIndex: 199, reason: expect.stringMatching(/beyond the log's head 199/) } });
    // A proof that needs the deleted event's leaf is refused as incomplete, not computed over a gap.
    await expect(storedInclusionProof(backend.database.db, 198, 200)).rejects.toThrow(/no event at position 200/);
  });

  it('stores subtrees of 16 leaves and up, and records the size each extension reached', async () => {
    const { rows } = await sql<{ low: number; high: number; sizes: number }>`
      select (select count(*)::int from events_tree where level < 4) as low,
             (select count(*)::int from events_tree) as high,
             (select count(*)::int from events_tree_sizes) as sizes`.execute(backend.database.db);
    // 200 leaves: 12 subtrees of 16, 6 of 32, 3 of 64, 1 of 128.
    expect(rows[0]).toEqual({ low: 0, high: 22, sizes: 1 });
    await expect(sql.raw('insert into events_tree (level, idx, hash) values (0, 500, decode(repeat(\'00\', 32), \'hex\'))').execute(backend.database.db)).rejects.toThrow(/events_tree_stored_levels/);
    await expect(sql.raw('delete from events_tree_sizes').execute(backend.database.db)).rejects.toThrow(/append-only/);
  });
});
