import { hashLeaf } from './merkle.ts';

/** What a leaf of the log's tree commits to: one positioned event. */
export interface LeafEvent {
  /** The event's chain hash, 64 hex digits (it covers the event's content and its stream's history). */
  readonly hash: string;
  /** The event's position in the log (≥ 1); leaf index = position − 1. */
  readonly position: number;
  readonly streamId: string;
  readonly version: number;
}

const LEAF_FORMAT = Buffer.from('claimtrail/leaf/v1', 'ascii');

/**
 * The canonical leaf data of an event (version 1), every integer big-endian:
 *
 *   "claimtrail/leaf/v1" (18 ASCII bytes)
 *   position    uint64
 *   version     uint32
 *   stream id   uint32 byte length, then its UTF-8 bytes
 *   hash        32 bytes (the event's chain hash, from its 64 hex digits)
 *
 * Length-prefixed, so no two different events encode to the same bytes.
 */
export function encodeLeaf(event: LeafEvent): Buffer {
  if (!/^[0-9a-f]{64}$/.test(event.hash)) throw new RangeError('leaf hash must be 64 lowercase hex digits');
  if (!Number.isSafeInteger(event.position) || event.position < 1) throw new RangeError('leaf position must be an integer ≥ 1');
  if (!Number.isInteger(event.version) || event.version < 1 || event.version > 0xffffffff) throw new RangeError('leaf version must be a uint32 ≥ 1');
  const stream = Buffer.from(event.streamId, 'utf8');
  const out = Buffer.alloc(LEAF_FORMAT.length + 8 + 4 + 4 + stream.length + 32);
  let at = LEAF_FORMAT.copy(out, 0);
  out.writeBigUInt64BE(BigInt(event.position), at);
  at += 8;
  out.writeUInt32BE(event.version, at);
  at += 4;
  out.writeUInt32BE(stream.length, at);
  at += 4;
  at += stream.copy(out, at);
  Buffer.from(event.hash, 'hex').copy(out, at);
  return out;
}

/** The leaf hash of an event: SHA-256(0x00 || encodeLeaf(event)). */
export function leafHashOf(event: LeafEvent): Buffer {
  return hashLeaf(encodeLeaf(event));
}
