import { hash as oneShot } from 'node:crypto';

import { canonicalJson as canonical, contentDigest as digestOf, chainDigest as chainOf } from './chain.mjs';

/**
 * Canonical JSON (RFC 8785 style): object keys sorted by UTF-16 code units, no
 * whitespace, numbers and strings as `JSON.stringify` writes them, `undefined` members
 * dropped, `toJSON` honoured. Equal JSON values always give the same string, so the
 * hash does not depend on key order or on how PostgreSQL's jsonb re-orders keys.
 * (Defined in chain.mjs, shared with the verify worker.)
 */
export function canonicalJson(value: unknown): string {
  return canonical(value);
}

// One-shot crypto.hash (Node ≥ 20.12): about half the cost of createHash() for short inputs.
export function sha256Hex(input: string | Uint8Array): string {
  return oneShot('sha256', input, 'hex');
}

/** What an event's hash covers besides the previous hash. */
export interface HashedContent {
  id: string;
  streamId: string;
  version: number;
  type: string;
  /** Canonical JSON of the data. */
  data: string;
  /** Canonical JSON of the metadata. */
  metadata: string;
  /** ISO-8601 with milliseconds. */
  recordedAt: string;
}

/**
 * contentHash = SHA-256 of the canonical JSON of {id, streamId, version, type, data,
 * metadata, recordedAt}; hash = SHA-256(prevHash bytes ‖ contentHash bytes), prevHash
 * empty for version 1. Both hex.
 */
export function contentHash(content: HashedContent): string {
  return contentDigest(content).toString('hex');
}

/**
 * Raw-digest forms of contentHash/chainHash (internal: the append and verify hot paths
 * chain raw 32-byte digests instead of converting hex back and forth). Same bytes.
 */
export function contentDigest(content: HashedContent): Buffer {
  return digestOf(content);
}

export function chainDigest(prev: Uint8Array | null, content: Uint8Array): Buffer {
  return chainOf(prev, content);
}

export function chainHash(prevHash: string | null, content: string): string {
  // Same bytes as hashing prevHash then content incrementally (Buffer.from(hex) semantics kept).
  const bytes = prevHash === null ? Buffer.from(content, 'hex') : Buffer.concat([Buffer.from(prevHash, 'hex'), Buffer.from(content, 'hex')]);
  return oneShot('sha256', bytes, 'hex');
}

export function eventHash(prevHash: string | null, content: HashedContent): string {
  return chainHash(prevHash, contentHash(content));
}
