import { hashChildren, rangeHash, type NodeKey, type NodeSource } from './merkle.ts';

/** A complete subtree and its hash. */
export interface TreeNode extends NodeKey {
  readonly hash: Uint8Array;
}

/**
 * The complete subtrees whose concatenation is the tree of `size` leaves (one per set bit of
 * `size`, largest first): all an append needs to know of the tree so far.
 */
export function frontierKeys(size: number): NodeKey[] {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`size must be a non-negative integer (got ${size})`);
  const keys: NodeKey[] = [];
  let start = 0;
  for (let level = Math.floor(Math.log2(Math.max(size, 1))) + 1; level >= 0; level--) {
    const width = 2 ** level;
    if (start + width <= size) {
      keys.push({ level, index: start / width });
      start += width;
    }
  }
  return keys;
}

/**
 * Extends a tree leaf by leaf, knowing only its frontier, and reports every complete subtree
 * each append completes (the leaf itself at level 0, then each parent it closes). What a
 * store persists so that any proof costs O(log n) node reads.
 */
export class TreeBuilder {
  private readonly frontier: TreeNode[];

  /** `frontier`: the nodes of `frontierKeys(size)` with their hashes, in that order. */
  constructor(
    private treeSize: number,
    frontier: readonly TreeNode[],
  ) {
    const expected = frontierKeys(treeSize);
    if (frontier.length !== expected.length || frontier.some((node, i) => node.level !== expected[i]!.level || node.index !== expected[i]!.index)) {
      throw new Error(`the frontier given does not match a tree of ${treeSize} leaves`);
    }
    this.frontier = [...frontier];
  }

  get size(): number {
    return this.treeSize;
  }

  /** Appends one leaf hash; returns the nodes completed (leaf first). */
  append(leafHash: Uint8Array): TreeNode[] {
    const created: TreeNode[] = [{ level: 0, index: this.treeSize, hash: leafHash }];
    this.frontier.push(created[0]!);
    for (;;) {
      const right = this.frontier[this.frontier.length - 1]!;
      const left = this.frontier[this.frontier.length - 2];
      if (left === undefined || left.level !== right.level) break;
      const parent: TreeNode = { level: left.level + 1, index: left.index / 2, hash: hashChildren(left.hash, right.hash) };
      this.frontier.splice(this.frontier.length - 2, 2, parent);
      created.push(parent);
    }
    this.treeSize++;
    return created;
  }

  /** The current root (of `size` leaves). */
  root(): Uint8Array {
    const byKey = new Map(this.frontier.map((node) => [`${node.level}/${node.index}`, node.hash]));
    return rangeHash((level, index) => byKey.get(`${level}/${index}`)!, 0, this.treeSize);
  }
}

/**
 * A whole tree in memory, every complete subtree kept (2n hashes for n leaves): what an
 * outside verifier builds from an export to compute roots and proofs without a database.
 */
export class MemoryTree {
  private readonly levels: Uint8Array[][] = [[]];

  get size(): number {
    return this.levels[0]!.length;
  }

  append(leafHash: Uint8Array): void {
    let level = 0;
    let hash = leafHash;
    for (;;) {
      const row = (this.levels[level] ??= []);
      row.push(hash);
      if (row.length % 2 !== 0) return;
      hash = hashChildren(row[row.length - 2]!, row[row.length - 1]!);
      level++;
    }
  }

  /** The nodes of the tree as it is now (reading a node beyond it throws). */
  readonly nodes: NodeSource = (level, index) => {
    const node = this.levels[level]?.[index];
    if (node === undefined) throw new RangeError(`no complete subtree at level ${level}, index ${index}`);
    return node;
  };
}
