import { createHash } from 'node:crypto';

const MASK_64 = (1n << 64n) - 1n;
const JUMP_MULTIPLIER = 2862933555777941757n;

/**
 * The shard a stream lives on, out of `shardCount`: jump consistent hash (Lamping & Veach,
 * 2014) of the first 8 bytes of SHA-256 over the stream id's UTF-8 bytes.
 *
 * Why these two: SHA-256 gives the same key in any language and process (no seed, no
 * platform-dependent string hash), so another implementation can route exactly like this
 * one; jump hash moves only 1/(n+1) of the streams when a shard is added (mod-n would move
 * almost all of them), which keeps a future resharding small. The result for a given
 * (streamId, shardCount) must never change: it is where a stream's events already are.
 */
export function shardOf(streamId: string, shardCount: number): number {
  if (!Number.isInteger(shardCount) || shardCount < 1) throw new RangeError(`shardCount must be a positive integer, got ${shardCount}`);
  if (shardCount === 1) return 0;
  const digest = createHash('sha256').update(streamId, 'utf8').digest();
  return jumpConsistentHash(digest.readBigUInt64BE(0), shardCount);
}

/** Lamping & Veach's jump consistent hash: a bucket in [0, buckets) for a 64-bit key. */
export function jumpConsistentHash(key: bigint, buckets: number): number {
  let k = key & MASK_64;
  let bucket = -1;
  let next = 0;
  while (next < buckets) {
    bucket = next;
    k = (k * JUMP_MULTIPLIER + 1n) & MASK_64;
    next = Math.floor((bucket + 1) * (2 ** 31 / (Number(k >> 33n) + 1)));
  }
  return bucket;
}
