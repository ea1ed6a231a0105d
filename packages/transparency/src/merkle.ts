import { hash as oneShot } from 'node:crypto';

/**
 * The RFC 6962 / RFC 9162 (§2.1) Merkle tree: hashes, proofs and their verification.
 * Pure: proofs are computed over a `NodeSource` (the complete subtrees of the tree, however
 * they are stored), so the same code serves the service (nodes from the database) and an
 * outside verifier (nodes computed from an export).
 *
 * Sizes and indexes are JavaScript numbers (exact up to 2^53): arithmetic, never 32-bit
 * bit operations.
 */

export const HASH_SIZE = 32;

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

/** SHA-256(0x00 || leaf data). */
export function hashLeaf(data: Uint8Array): Buffer {
  return oneShot('sha256', Buffer.concat([LEAF_PREFIX, data]), 'buffer');
}

/** SHA-256(0x01 || left || right). */
export function hashChildren(left: Uint8Array, right: Uint8Array): Buffer {
  return oneShot('sha256', Buffer.concat([NODE_PREFIX, left, right]), 'buffer');
}

/** MTH({}) = SHA-256 of the empty string. */
export const EMPTY_ROOT: Buffer = oneShot('sha256', Buffer.alloc(0), 'buffer');

/**
 * The hash of the complete subtree at `level` (2^level leaves) and `index` (its leaves are
 * [index·2^level, (index+1)·2^level)). Level 0 are the leaf hashes.
 */
export type NodeSource = (level: number, index: number) => Uint8Array;

/** A complete subtree's address. */
export interface NodeKey {
  readonly level: number;
  readonly index: number;
}

/** Largest power of two strictly smaller than n (n ≥ 2). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  return n >= 1 && Number.isInteger(Math.log2(n)) && 2 ** Math.log2(n) === n;
}

function checkSize(name: string, n: number, min: number): void {
  if (!Number.isSafeInteger(n) || n < min) throw new RangeError(`${name} must be an integer ≥ ${min} (got ${n})`);
}

/**
 * MTH(D[start : start+size]) for a range the RFC's recursion produces: a complete subtree
 * when `size` is a power of two aligned on `start`, else split at the largest power of two
 * below `size`. Reads O(log size) nodes.
 */
export function rangeHash(nodes: NodeSource, start: number, size: number): Uint8Array {
  if (size === 0) return EMPTY_ROOT;
  if (isPowerOfTwo(size) && start % size === 0) return nodes(Math.log2(size), start / size);
  const k = splitPoint(size);
  return hashChildren(rangeHash(nodes, start, k), rangeHash(nodes, start + k, size - k));
}

/** The root of the tree of the first `size` leaves. */
export function treeRoot(nodes: NodeSource, size: number): Uint8Array {
  checkSize('size', size, 0);
  return rangeHash(nodes, 0, size);
}

/** RFC 6962 §2.1.1 PATH(m, D[start : start+n]), leaf to root. */
function path(nodes: NodeSource, m: number, start: number, n: number, out: Uint8Array[]): void {
  if (n <= 1) return;
  const k = splitPoint(n);
  if (m < k) {
    path(nodes, m, start, k, out);
    out.push(rangeHash(nodes, start + k, n - k));
  } else {
    path(nodes, m - k, start + k, n - k, out);
    out.push(rangeHash(nodes, start, k));
  }
}

/** The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 §2.1.3.1). */
export function inclusionProof(nodes: NodeSource, index: number, size: number): Uint8Array[] {
  checkSize('size', size, 1);
  checkSize('index', index, 0);
  if (index >= size) throw new RangeError(`index ${index} is not below size ${size}`);
  const out: Uint8Array[] = [];
  path(nodes, index, 0, size, out);
  return out;
}

/** RFC 6962 §2.1.2 SUBPROOF(m, D[start : start+n], b). */
function subproof(nodes: NodeSource, m: number, start: number, n: number, complete: boolean, out: Uint8Array[]): void {
  if (m === n) {
    if (!complete) out.push(rangeHash(nodes, start, n));
    return;
  }
  const k = splitPoint(n);
  if (m <= k) {
    subproof(nodes, m, start, k, complete, out);
    out.push(rangeHash(nodes, start + k, n - k));
  } else {
    subproof(nodes, m - k, start + k, n - k, false, out);
    out.push(rangeHash(nodes, start, k));
  }
}

/**
 * The consistency proof from the tree of `from` leaves to the tree of `to` leaves (RFC 9162
 * §2.1.4.1). Empty when from = to or from = 0 (every tree extends the empty one).
 */
export function consistencyProof(nodes: NodeSource, from: number, to: number): Uint8Array[] {
  checkSize('from', from, 0);
  checkSize('to', to, 0);
  if (from > to) throw new RangeError(`from ${from} is above to ${to}`);
  if (from === 0 || from === to) return [];
  const out: Uint8Array[] = [];
  subproof(nodes, from, 0, to, true, out);
  return out;
}

/**
 * The nodes a computation reads, without their values: runs it over a source that records
 * each address and answers zeros (the recursion's shape never depends on hash values). A
 * store fetches them in one query, then runs the computation again over the fetched nodes.
 */
export function nodesRead(run: (nodes: NodeSource) => unknown): NodeKey[] {
  const seen = new Map<string, NodeKey>();
  const zero = Buffer.alloc(HASH_SIZE);
  run((level, index) => {
    seen.set(`${level}/${index}`, { level, index });
    return zero;
  });
  return [...seen.values()];
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** RFC 9162 §2.1.3.2: whether `proof` proves leaf `index` (its hash `leafHash`) in the tree of `size` with `root`. */
export function verifyInclusion(index: number, size: number, leafHash: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r: Uint8Array = leafHash;
  for (const p of proof) {
    if (p.length !== HASH_SIZE) return false;
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = hashChildren(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = hashChildren(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalBytes(r, root);
}

/**
 * RFC 9162 §2.1.4.2: whether `proof` proves the tree of `from` leaves (root `fromRoot`) is a
 * prefix of the tree of `to` leaves (root `toRoot`). from = 0 is consistent with anything
 * (empty proof); from = to needs an empty proof and equal roots.
 */
export function verifyConsistency(from: number, to: number, fromRoot: Uint8Array, toRoot: Uint8Array, proof: readonly Uint8Array[]): boolean {
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || from > to) return false;
  if (proof.some((p) => p.length !== HASH_SIZE)) return false;
  if (from === 0) return proof.length === 0;
  if (from === to) return proof.length === 0 && equalBytes(fromRoot, toRoot);
  const path: Uint8Array[] = isPowerOfTwo(from) ? [fromRoot, ...proof] : [...proof];
  if (path.length === 0) return false;
  let fn = from - 1;
  let sn = to - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr: Uint8Array = path[0]!;
  let sr: Uint8Array = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalBytes(fr, fromRoot) && equalBytes(sr, toRoot);
}
