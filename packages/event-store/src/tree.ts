/**
 * The log's Merkle tree in the database (`events_tree`, migration 0019): extending it from
 * the positioned events, and reading roots and proofs in O(log n) point reads. The tree
 * itself (hashing, proofs, leaf encoding) is @claimtrail/transparency; this module only
 * stores and fetches its complete subtrees.
 *
 * Only complete subtrees of 16 leaves and up are stored (`TREE_STORED_LEVEL`); a node below
 * is computed from the ≤ 16 events it covers when a proof or the extender needs it, as a
 * tiled transparency log serves its partial tiles. A proof needs such nodes at two edges at
 * most, so it reads O(log n) stored rows plus at most 2 × 16 events in one query, and the
 * extender writes one tree row per 8 events instead of two per event. The size the tree has reached
 * is recorded per extension in `events_tree_sizes` (migration 0024).
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
  hashChildren,
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

/**
 * The lowest level `events_tree` keeps: subtrees of 2^4 = 16 leaves and up, one row per 8
 * events. Lower nodes are computed from the ≤ 16 events under them: a proof computes at most
 * two such edges (≈ 32 leaf hashes, ≈ 0.2 ms).
 */
export const TREE_STORED_LEVEL = 4;

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
    q('select coalesce(max(size), 0) as size from events_tree_sizes'),
  );
  return Number(rows[0]?.size ?? 0);
}

/**
 * Fetches the given complete subtrees in one query: the stored ones (level ≥
 * TREE_STORED_LEVEL) by key, the lower ones computed from the events they cover. Throws
 * TreeIncompleteError when a stored node or a covered event is missing. The keys are a
 * proof's or a frontier's: O(log n) of them.
 */
export async function readTreeNodes(db: Db, keys: readonly NodeKey[]): Promise<NodeSource> {
  const stored = keys.filter((key) => key.level >= TREE_STORED_LEVEL);
  const computed = keys.filter((key) => key.level < TREE_STORED_LEVEL);
  const params: number[] = [];
  const parts: string[] = [];
  if (stored.length > 0) {
    const pairs = stored.map((key) => {
      params.push(key.level, key.index);
      return `($${params.length - 1}::smallint, $${params.length}::bigint)`;
    });
    parts.push(
      `select level, idx, hash as node, null::bigint as position, null::text as stream_id, null::int as version, null::text as hash
         from events_tree where (level, idx) in (${pairs.join(', ')})`,
    );
  }
  if (computed.length > 0) {
    const ranges = leafRanges(computed).map(([first, last]) => {
      params.push(first + 1, last + 1);
      return `position between $${params.length - 1} and $${params.length}`;
    });
    parts.push(`select null::smallint as level, null::bigint as idx, null::bytea as node, position, stream_id, version, hash from events where ${ranges.join(' or ')}`);
  }
  const found = new Map<string, Uint8Array>();
  const leaves = new Map<number, Uint8Array>();
  if (parts.length > 0) {
    const { rows } = await db.executeQuery<{ level: number | null; idx: string | number | null; node: Uint8Array | null } & { [K in keyof LeafRow]: LeafRow[K] | null }>(
      q(parts.join(' union all '), params),
    );
    for (const row of rows) {
      if (row.node !== null) found.set(`${row.level}/${Number(row.idx)}`, row.node);
      else if (row.position !== null && row.stream_id !== null && row.version !== null && row.hash !== null) {
        const position = Number(row.position);
        leaves.set(position - 1, leafHashOfRow({ position, streamId: row.stream_id, version: row.version, hash: row.hash }));
      }
    }
  }
  const subtree = (level: number, index: number): Uint8Array => {
    if (level === 0) {
      const leaf = leaves.get(index);
      if (leaf === undefined) throw new TreeIncompleteError(`the log has no event at position ${index + 1}, which the tree covers`);
      return leaf;
    }
    return hashChildren(subtree(level - 1, 2 * index), subtree(level - 1, 2 * index + 1));
  };
  for (const key of computed) found.set(`${key.level}/${key.index}`, subtree(key.level, key.index));
  return (level, index) => {
    const hash = found.get(`${level}/${index}`);
    if (hash === undefined) throw new TreeIncompleteError(`the stored tree has no node at level ${level}, index ${index}`);
    return hash;
  };
}

/** The leaf index ranges [first, last] under the given subtrees, merged where they touch. */
function leafRanges(keys: readonly NodeKey[]): [number, number][] {
  const ranges = keys.map((key) => [key.index * 2 ** key.level, (key.index + 1) * 2 ** key.level - 1] as [number, number]).sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const range of ranges) {
    const last = merged[merged.length - 1];
    if (last && range[0] <= last[1] + 1) last[1] = Math.max(last[1], range[1]);
    else merged.push([...range]);
  }
  return merged;
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
      for (const node of builder.append(leafHashOfRow({ position, streamId: row.stream_id, version: row.version, hash: row.hash }))) {
        if (node.level >= TREE_STORED_LEVEL) created.push(node);
      }
    }
    await insertNodes(tx, created);
    await tx.executeQuery(q('insert into events_tree_sizes (size) values ($1)', [builder.size]));
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
  /**
   * Where the events first differ from the stored tree, with why: a missing event's leaf, or
   * the first leaf of the lowest stored subtree (16 leaves) that no longer matches.
   */
  firstBroken?: { leafIndex: number; reason: string };
}

/**
 * Recomputes the tree from the positioned events and compares every stored node with it:
 * a rewritten, removed or reordered event (even with its stream's hash chain recomputed)
 * changes its leaf and every stored node above it. A tree larger than the log means events
 * were removed after the tree covered them. The tree lagging behind the log is normal (it is
 * extended after positions are assigned). The last 0–15 leaves are in no stored node: a
 * signed checkpoint's root covers them (the service's audit compares it, audit/verify.ts).
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
    for (let level = TREE_STORED_LEVEL; 2 ** level <= to; level++) {
      const width = 2 ** level;
      const low = Math.ceil((from + 1) / width) - 1;
      const high = Math.floor(to / width) - 1;
      if (high < low) continue;
      params.push(level, low, high);
      ranges.push(`(level = $${params.length - 2} and idx between $${params.length - 1} and $${params.length})`);
    }
    const { rows: nodeRows } =
      ranges.length === 0
        ? { rows: [] }
        : await db.executeQuery<{ level: number; idx: string | number; hash: Uint8Array }>(q(`select level, idx, hash from events_tree where ${ranges.join(' or ')}`, params));
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
        if (node.level < TREE_STORED_LEVEL) continue;
        const kept = stored.get(`${node.level}/${node.index}`);
        if (!kept || !kept.equals(Buffer.from(node.hash))) {
          const first = node.index * 2 ** node.level;
          return broken(first, `the events at positions ${first + 1}–${first + 2 ** node.level} differ from the stored subtree at level ${node.level}, index ${node.index}`);
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
