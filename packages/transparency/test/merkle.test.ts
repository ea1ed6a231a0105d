import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MemoryTree,
  TreeBuilder,
  consistencyProof,
  frontierKeys,
  hashLeaf,
  inclusionProof,
  nodesRead,
  treeRoot,
  verifyConsistency,
  verifyInclusion,
} from '../src/index.ts';

// An independent, naive implementation of RFC 6962 §2.1 over arrays of leaf data: every
// hash recomputed from the leaves, no stored nodes, no shared helpers.
const sha = (...parts: Uint8Array[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
const k = (n: number) => 2 ** Math.ceil(Math.log2(n) - 1);
function mth(d: Buffer[]): Buffer {
  if (d.length === 0) return sha();
  if (d.length === 1) return sha(Buffer.from([0]), d[0]!);
  const s = k(d.length);
  return sha(Buffer.from([1]), mth(d.slice(0, s)), mth(d.slice(s)));
}
function naivePath(m: number, d: Buffer[]): Buffer[] {
  if (d.length <= 1) return [];
  const s = k(d.length);
  return m < s ? [...naivePath(m, d.slice(0, s)), mth(d.slice(s))] : [...naivePath(m - s, d.slice(s)), mth(d.slice(0, s))];
}
function naiveSubproof(m: number, d: Buffer[], b: boolean): Buffer[] {
  if (m === d.length) return b ? [] : [mth(d)];
  const s = k(d.length);
  return m <= s ? [...naiveSubproof(m, d.slice(0, s), b), mth(d.slice(s))] : [...naiveSubproof(m - s, d.slice(s), false), mth(d.slice(0, s))];
}

const leaves = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Buffer.from(`leaf ${seed} ${i}`));
function treeOf(data: Buffer[]): MemoryTree {
  const tree = new MemoryTree();
  for (const leaf of data) tree.append(hashLeaf(leaf));
  return tree;
}
const hex = (list: Uint8Array[]) => list.map((b) => Buffer.from(b).toString('hex'));

describe('RFC 6962 Merkle tree', () => {
  it('matches the RFC 6962 test vectors of certificate-transparency (roots of the first 1..8 leaves)', () => {
    const data = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map((h) => Buffer.from(h, 'hex'));
    const roots = [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
      'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
      '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
      '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
      'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
      '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
    ];
    const tree = treeOf(data);
    for (let n = 1; n <= 8; n++) expect(Buffer.from(treeRoot(tree.nodes, n)).toString('hex')).toBe(roots[n - 1]);
    expect(Buffer.from(treeRoot(tree.nodes, 0)).toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('roots, inclusion proofs of every index and consistency proofs of every pair equal the naive recomputation, and verify', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.integer(), (n, seed) => {
        const data = leaves(n, seed);
        const tree = treeOf(data);
        for (let size = 1; size <= n; size++) {
          const prefix = data.slice(0, size);
          const root = treeRoot(tree.nodes, size);
          expect(Buffer.from(root).equals(mth(prefix))).toBe(true);
          for (let i = 0; i < size; i++) {
            const proof = inclusionProof(tree.nodes, i, size);
            expect(hex(proof)).toEqual(hex(naivePath(i, prefix)));
            expect(verifyInclusion(i, size, hashLeaf(data[i]!), proof, root)).toBe(true);
          }
          for (let m = 1; m <= size; m++) {
            const proof = consistencyProof(tree.nodes, m, size);
            expect(hex(proof)).toEqual(m === size ? [] : hex(naiveSubproof(m, prefix, true)));
            expect(verifyConsistency(m, size, mth(data.slice(0, m)), root, proof)).toBe(true);
          }
        }
      }),
      { numRuns: 8 },
    );
  });

  it('refuses tampered proofs, wrong indexes, wrong sizes and wrong roots', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 200 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 }), fc.integer({ min: 1, max: n - 1 }), fc.nat())),
        ([n, index, from, flip]) => {
          const data = leaves(n, n);
          const tree = treeOf(data);
          const root = treeRoot(tree.nodes, n);
          const proof = inclusionProof(tree.nodes, index, n);
          const leaf = hashLeaf(data[index]!);
          if (proof.length > 0) {
            const bad = proof.map((p) => Buffer.from(p));
            bad[flip % bad.length]![flip % 32]! ^= 1;
            expect(verifyInclusion(index, n, leaf, bad, root)).toBe(false);
            expect(verifyInclusion(index, n, leaf, proof.slice(1), root)).toBe(false);
          }
          expect(verifyInclusion(index, n, leaf, [...proof, Buffer.alloc(32)], root)).toBe(false);
          expect(verifyInclusion(index, n, hashLeaf(Buffer.from('other')), proof, root)).toBe(false);
          expect(verifyInclusion(n, n, leaf, proof, root)).toBe(false);

          const fromRoot = treeRoot(tree.nodes, from);
          const consistency = consistencyProof(tree.nodes, from, n);
          expect(verifyConsistency(from, n, fromRoot, root, consistency)).toBe(true);
          const forged = consistency.map((p) => Buffer.from(p));
          forged[flip % forged.length]![flip % 32]! ^= 1;
          expect(verifyConsistency(from, n, fromRoot, root, forged)).toBe(false);
          expect(verifyConsistency(from, n, hashLeaf(Buffer.from('x')), root, consistency)).toBe(false);
          expect(verifyConsistency(from, n, fromRoot, fromRoot, consistency)).toBe(false);
          expect(verifyConsistency(n, from, root, fromRoot, consistency)).toBe(false);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('the frontier builder completes the same nodes as the whole tree, from any starting size', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 100 }), (start, more) => {
        const data = leaves(start + more, 7);
        const full = treeOf(data);
        const builder = new TreeBuilder(
          start,
          frontierKeys(start).map((key) => ({ ...key, hash: full.nodes(key.level, key.index) })),
        );
        for (let i = start; i < start + more; i++) {
          for (const node of builder.append(hashLeaf(data[i]!))) {
            expect(Buffer.from(node.hash).equals(Buffer.from(full.nodes(node.level, node.index)))).toBe(true);
          }
        }
        expect(Buffer.from(builder.root()).equals(mth(data))).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('a proof reads O(log n) nodes', () => {
    for (const size of [1, 2, 3, 1000, 2 ** 20 - 1, 2 ** 20 + 1, 1_000_000_007]) {
      const bound = 2 * Math.ceil(Math.log2(size + 1)) + 2;
      expect(nodesRead((nodes) => inclusionProof(nodes, Math.floor(size / 3), size)).length).toBeLessThanOrEqual(bound);
      expect(nodesRead((nodes) => consistencyProof(nodes, Math.max(1, Math.floor(size / 3)), size)).length).toBeLessThanOrEqual(bound);
      expect(nodesRead((nodes) => treeRoot(nodes, size)).length).toBeLessThanOrEqual(bound);
    }
  });
});

describe('leaf encoding', () => {
  it('is the documented length-prefixed layout, and distinct events give distinct leaves', async () => {
    const { encodeLeaf, leafHashOf } = await import('../src/index.ts');
    const hash = 'ab'.repeat(32);
    const bytes = encodeLeaf({ hash, position: 5, streamId: 'claim-é', version: 3 });
    expect(bytes.toString('hex')).toBe(
      Buffer.from('claimtrail/leaf/v1').toString('hex') + '0000000000000005' + '00000003' + '00000008' + Buffer.from('claim-é').toString('hex') + hash,
    );
    expect(leafHashOf({ hash, position: 5, streamId: 'a', version: 3 }).equals(leafHashOf({ hash, position: 6, streamId: 'a', version: 3 }))).toBe(false);
    expect(() => encodeLeaf({ hash: 'AB'.repeat(32), position: 1, streamId: 'a', version: 1 })).toThrow(RangeError);
    expect(() => encodeLeaf({ hash, position: 0, streamId: 'a', version: 1 })).toThrow(RangeError);
  });
});
