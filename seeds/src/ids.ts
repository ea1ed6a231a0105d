import { createHash } from 'node:crypto';

/** Namespace of the seed claim ids (a fixed random UUID). */
export const SEED_NAMESPACE = '5b0c7c1e-3d2a-4f6e-9a41-2f7d8e1c6b90';

/** RFC 4122 version-5 UUID (SHA-1 of namespace + name): the same name always gives the same id. */
export function uuidV5(name: string, namespace: string = SEED_NAMESPACE): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function seedClaimId(slug: string): string {
  return uuidV5(`claim:${slug}`);
}

export function seedIdempotencyKey(slug: string, step: number): string {
  return `seed:${slug}:${step}`;
}
