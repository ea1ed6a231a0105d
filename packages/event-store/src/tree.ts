/**
 * The log's Merkle tree in the database (`events_tree`, migration 0019): extending it from
 * the positioned events, and reading roots and proofs in O(log n) point reads. The tree
 * itself (hashing, proofs, leaf encoding) is @claimtrail/transparency; this module only
 * stores and fetches its complete subtrees.
 *
 * The tree is extended outside the write transactions, by whoever calls `extendTree` (the
 * service runs it from a background job on every instance): one extender at a time holds a
 * transaction-scoped advisory lock, reads the tree's size and frontier inside that
 * transaction, appends the next positioned events and commits. So it is idempotent and safe
 * with several instances: a second caller finds the lock taken and returns, and the next
 * pass starts from whatever the previous one committed.
 */
import type { Kysely, Transaction } from 'kysely';
import {
  TreeBuilder,
  consistencyProof,
  frontierKeys,
  inclusionProof,
  leafHashOf,
  nodesRead,
  treeRoot,
  type NodeKey,
  type NodeSource,
  type TreeNode,
} from '@claimtrail/transparency';
import { q } from './row.ts';
import { TreeIncompleteError } from './errors.ts';

/** The advisory lock key pair of the tree extender (the sequencer holds (4242001, 1)). */
const TREE_LOCK = [4242001, 2] as const;

export interface ExtendTreeOptions {
  /** Most leaves appended by this call (default 20,000): one transaction each. */
  maxLeaves?: number;
}

export interface ExtendTreeResult {
  /** Another extender held the lock: nothing done. */
  busy: boolean;
  /** The tree's size after the call. */
  size: number;
  added: number;
}

type Db = Kysely<any> | Transaction<any>;

/** How many leaves the stored tree has. */
export async function treeSize(db: Db): Promise<number> {
  const { rows } = await db.executeQuery<{ size: string | number | null }>(
    q('select coalesce(max(idx) + 1, 0) as size from events_tree where level = 0'),
  );
  return Number(rows[0]?.size ?? 0);
}

/** Fetches the given complete subtrees in one query; throws when one is missing. */
export async function readTreeNodes(db: Db, keys: readonly NodeKey[]): Promise<NodeSource> {
  const found = new Map<string, Uint8Array>();
  for (let at = 0; at < keys.length; at += 500) {
    const chunk = keys.slice(at, at + 500);
    if (chunk.length === 0) continue;
    const params: number[] = [];
    const pairs = chunk.map((key) => {
      params.push(key.level, key.index);
      return `($${params.length - 1}::smallint, $${params.length}::bigint)`;
    });
    const { rows } = await db.executeQuery<{ level: number; idx: string | number; hash: Uint8Array }>(
      q(`select level, idx, hash from events_tree where (level, idx) in (${pairs.join(', ')})`, params),
    );
    for (const row of rows) found.set(`${row.level}/${Number(row.idx)}`, row.hash);
  }
  return (level, index) => {
    const hash = found.get(`${level}/${index}`);
    if (hash === undefined) throw new TreeIncompleteError(`the stored tree has no node at level ${level}, index ${index}`);
    return hash;
  };
}

/** Runs a tree computation over the stored nodes: plan its reads, fetch them in one query, run it. */
export async function withStoredNodes<T>(db: Db, run: (nodes: NodeSource) => T): Promise<T> {
  return run(await readTreeNodes(db, nodesRead(run)));
}

/** The root of the stored tree's first `size` leaves (size ≤ treeSize). */
export function storedTreeRoot(db: Db, size: number): Promise<Uint8Array> {
  return withStoredNodes(db, (nodes) => treeRoot(nodes, size));
}

/** The inclusion proof of leaf `index` in the stored tree of `size` leaves (size ≤ treeSize). */
export function storedInclusionProof(db: Db, index: number, size: number): Promise<Uint8Array[]> {
  return withStoredNodes(db, (nodes) => inclusionProof(nodes, index, size));
}

/** The consistency proof between two sizes of the stored tree (to ≤ treeSize). */
export function storedConsistencyProof(db: Db, from: number, to: number): Promise<Uint8Array[]> {
  return withStoredNodes(db, (nodes) => consistencyProof(nodes, from, to));
}

interface LeafRow {
  position: string | number;
  stream_id: string;
  version: number;
  hash: string;
}

async function insertNodes(tx: Transaction<any>, nodes: readonly TreeNode[]): Promise<void> {
  for (let at = 0; at < nodes.length; at += 1000) {
    const chunk = nodes.slice(at, at + 1000);
    const params: unknown[] = [];
    const values = chunk.map((node) => {
      params.push(node.level, node.index, Buffer.from(node.hash));
      return `($${params.length - 2}::smallint, $${params.length - 1}::bigint, $${params.length}::bytea)`;
    });
    await tx.executeQuery(q(`insert into events_tree (level, idx, hash) values ${values.join(', ')}`, params));
  }
}

/** The leaf of a stored event (what a leaf commits to: @claimtrail/transparency encodeLeaf). */
export function leafHashOfRow(row: { position: number; streamId: string; version: number; hash: string }): Uint8Array {
  return leafHashOf({ position: row.position, streamId: row.streamId, version: row.version, hash: row.hash });
}

/**
 * Appends the positioned events the tree does not cover yet (at most `maxLeaves`), in one
 * transaction under the extender's advisory lock. Returns at once when another extender
 * holds it.
 */
export async function extendTree(db: Kysely<any>, options: ExtendTreeOptions = {}): Promise<ExtendTreeResult> {
  const maxLeaves = options.maxLeaves ?? 20_000;
  return db.transaction().execute(async (tx) => {
    const { rows: locked } = await tx.executeQuery<{ locked: boolean }>(
      q('select pg_try_advisory_xact_lock($1, $2) as locked', [...TREE_LOCK]),
    );
    if (!locked[0]?.locked) return { busy: true, size: await treeSize(tx), added: 0 };
    const size = await treeSize(tx);
    const { rows } = await tx.executeQuery<LeafRow>(
      q(
        'select position, stream_id, version, hash from events where position > $1 and position <= $2 order by position',
        [size, size + maxLeaves],
      ),
    );
    if (rows.length === 0) return { busy: false, size, added: 0 };
    const frontier = frontierKeys(size);
    const stored = await readTreeNodes(tx, frontier);
    const builder = new TreeBuilder(size, frontier.map((key) => ({ ...key, hash: stored(key.level, key.index) })));
    const created: TreeNode[] = [];
    for (const row of rows) {
      const position = Number(row.position);
      // Positions become visible in order and without gaps (the sequencer's guarantee); a
      // gap here means the log lost an event: stop rather than hash past it.
      if (position !== builder.size + 1) throw new Error(`the log has no event at position ${builder.size + 1} (found ${position})`);
      created.push(...builder.append(leafHashOfRow({ position, streamId: row.stream_id, version: row.version, hash: row.hash })));
    }
    await insertNodes(tx, created);
    return { busy: false, size: builder.size, added: rows.length };
  });
}

/** Extends the tree until it covers every event positioned when the call started (or another extender is at work). */
export async function extendTreeToHead(db: Kysely<any>, options: ExtendTreeOptions = {}): Promise<ExtendTreeResult> {
  let added = 0;
  for (;;) {
    const result = await extendTree(db, options);
    added += result.added;
    if (result.busy || result.added < (options.maxLeaves ?? 20_000)) return { ...result, added };
  }
}

export interface TreeVerifyResult {
  ok: boolean;
  /** Leaves of the stored tree. */
  size: number;
  /** Leaves recomputed from the events and compared (every stored node they complete too). */
  checked: number;
  /** The first leaf whose stored tree differs from the events, with why. */
  firstBroken?: { leafIndex: number; reason: string };
}

/**
 * Recomputes the tree from the positioned events and compares every stored node with it:
 * a rewritten, removed or reordered event (even with its stream's hash chain recomputed)
 * changes its leaf and every node above it. A tree larger than the log means events were
 * removed after the tree covered them. The tree lagging behind the log is normal (it is
 * extended after positions are assigned).
 */
export async function verifyTree(db: Kysely<any>, options: { batchSize?: number } = {}): Promise<TreeVerifyResult> {
  const batchSize = options.batchSize ?? 10_000;
  const size = await treeSize(db);
  const { rows: headRows } = await db.executeQuery<{ head: string | number | null }>(q('select max(position) as head from events where position is not null'));
  const head = Number(headRows[0]?.head ?? 0);
  const builder = new TreeBuilder(0, []);
  const broken = (leafIndex: number, reason: string): TreeVerifyResult => ({ ok: false, size, checked: leafIndex, firstBroken: { leafIndex, reason } });
  while (builder.size < size) {
    const from = builder.size;
    const to = Math.min(size, from + batchSize);
    const { rows } = await db.executeQuery<LeafRow>(
      q('select position, stream_id, version, hash from events where position > $1 and position <= $2 order by position', [from, to]),
    );
    // Each level's nodes completed by leaves [from, to) are one contiguous index range.
    const ranges: string[] = [];
    const params: number[] = [];
    for (let level = 0; 2 ** level <= to; level++) {
      const width = 2 ** level;
      const low = Math.ceil((from + 1) / width) - 1;
      const high = Math.floor(to / width) - 1;
      if (high < low) continue;
      params.push(level, low, high);
      ranges.push(`(level = $${params.length - 2} and idx between $${params.length - 1} and $${params.length})`);
    }
    const { rows: nodeRows } = await db.executeQuery<{ level: number; idx: string | number; hash: Uint8Array }>(
      q(`select level, idx, hash from events_tree where ${ranges.join(' or ')}`, params),
    );
    const stored = new Map(nodeRows.map((row) => [`${row.level}/${Number(row.idx)}`, Buffer.from(row.hash)]));
    let at = 0;
    for (let leaf = from; leaf < to; leaf++) {
      const row = rows[at];
      if (row === undefined || Number(row.position) !== leaf + 1) {
        return broken(leaf, leaf + 1 > head ? `the tree covers position ${leaf + 1}, beyond the log's head ${head}` : `the log has no event at position ${leaf + 1}`);
      }
      at++;
      const created = builder.append(leafHashOfRow({ position: leaf + 1, streamId: row.stream_id, version: row.version, hash: row.hash }));
      for (const node of created) {
        const kept = stored.get(`${node.level}/${node.index}`);
        if (!kept || !kept.equals(Buffer.from(node.hash))) {
          return broken(leaf, node.level === 0 ? `leaf ${leaf} differs from the event at position ${leaf + 1}` : `the stored node at level ${node.level}, index ${node.index} differs`);
        }
      }
    }
  }
  return { ok: true, size, checked: size };
}

/** The positioned event behind leaf `position − 1`, and its leaf hash; undefined when no event has that position. */
export async function leafAt(db: Db, position: number): Promise<{ id: string; streamId: string; version: number; hash: string; leafHash: Uint8Array } | undefined> {
  const { rows } = await db.executeQuery<{ id: string; stream_id: string; version: number; hash: string }>(
    q('select id, stream_id, version, hash from events where position = $1', [position]),
  );
  const row = rows[0];
  if (!row) return undefined;
  return { id: row.id, streamId: row.stream_id, version: row.version, hash: row.hash, leafHash: leafHashOfRow({ position, streamId: row.stream_id, version: row.version, hash: row.hash }) };
}
