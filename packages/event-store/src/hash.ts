import { hash as oneShot } from 'node:crypto';

/**
 * Canonical JSON (RFC 8785 style): object keys sorted by UTF-16 code units, no
 * whitespace, numbers and strings as `JSON.stringify` writes them, `undefined` members
 * dropped, `toJSON` honoured. Equal JSON values always give the same string, so the
 * hash does not depend on key order or on how PostgreSQL's jsonb re-orders keys.
 */
export function canonicalJson(value: unknown): string {
  return write(value) ?? 'null';
}

function write(value: unknown): string | undefined {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`not JSON: ${value}`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'bigint':
      throw new TypeError('not JSON: bigint');
    default:
      break;
  }
  const object = value as { toJSON?: () => unknown };
  if (typeof object.toJSON === 'function') return write(object.toJSON());
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += write(value[i]) ?? 'null';
    }
    return out + ']';
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const item = write(record[key]);
    if (item === undefined) continue;
    if (!first) out += ',';
    first = false;
    out += JSON.stringify(key) + ':' + item;
  }
  return out + '}';
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

/** The canonical text `contentHash` hashes: keys in sorted order, values already canonical. */
function contentText(content: HashedContent): string {
  return (
    '{"data":' + content.data +
    ',"id":' + JSON.stringify(content.id) +
    ',"metadata":' + content.metadata +
    ',"recordedAt":' + JSON.stringify(content.recordedAt) +
    ',"streamId":' + JSON.stringify(content.streamId) +
    ',"type":' + JSON.stringify(content.type) +
    ',"version":' + String(content.version) +
    '}'
  );
}

/**
 * Raw-digest forms of contentHash/chainHash (internal: the append and verify hot paths
 * chain raw 32-byte digests instead of converting hex back and forth). Same bytes.
 */
export function contentDigest(content: HashedContent): Buffer {
  return oneShot('sha256', contentText(content), 'buffer') as unknown as Buffer;
}

// Scratch for prev ‖ content: crypto.hash copies its input synchronously, so one buffer is reused.
const pair = Buffer.alloc(64);

export function chainDigest(prev: Uint8Array | null, content: Uint8Array): Buffer {
  if (prev === null) return oneShot('sha256', content, 'buffer') as unknown as Buffer;
  if (prev.length !== 32 || content.length !== 32) return oneShot('sha256', Buffer.concat([prev, content]), 'buffer') as unknown as Buffer;
  pair.set(prev, 0);
  pair.set(content, 32);
  return oneShot('sha256', pair, 'buffer') as unknown as Buffer;
}

export function chainHash(prevHash: string | null, content: string): string {
  // Same bytes as hashing prevHash then content incrementally (Buffer.from(hex) semantics kept).
  const bytes = prevHash === null ? Buffer.from(content, 'hex') : Buffer.concat([Buffer.from(prevHash, 'hex'), Buffer.from(content, 'hex')]);
  return oneShot('sha256', bytes, 'hex');
}

export function eventHash(prevHash: string | null, content: HashedContent): string {
  return chainHash(prevHash, contentHash(content));
}
