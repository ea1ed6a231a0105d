import { sign, verify } from 'node:crypto';
import { HASH_SIZE } from './merkle.ts';
import { NoteFormatError, SIGNATURE_TYPE_COSIGNATURE_V1, type NoteSignature, type SignerKey, type VerifierKey } from './note.ts';

/**
 * C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the text of a signed note
 *
 *   <origin>\n
 *   <tree size, decimal>\n
 *   <root hash, base64>\n
 *
 * and C2SP tlog-cosignature/v1 (https://c2sp.org/tlog-cosignature): a witness signs
 * "cosignature/v1\ntime <unix seconds>\n" followed by the checkpoint text; its signature
 * line carries base64(key id || timestamp uint64 BE || Ed25519 signature).
 */
export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Uint8Array;
}

export function formatCheckpoint(checkpoint: Checkpoint): string {
  if (!/^\S(.*\S)?$/u.test(checkpoint.origin) || checkpoint.origin.includes('\n')) throw new NoteFormatError('invalid checkpoint origin');
  if (!Number.isSafeInteger(checkpoint.size) || checkpoint.size < 0) throw new NoteFormatError('invalid checkpoint size');
  if (checkpoint.rootHash.length !== HASH_SIZE) throw new NoteFormatError('the root hash must be 32 bytes');
  return `${checkpoint.origin}\n${checkpoint.size}\n${Buffer.from(checkpoint.rootHash).toString('base64')}\n`;
}

/** Parses a checkpoint note's text (extension lines after the third are allowed and ignored). */
export function parseCheckpoint(text: string): Checkpoint {
  const lines = text.split('\n');
  if (lines.length < 4 || lines[lines.length - 1] !== '') throw new NoteFormatError('a checkpoint is origin, size and root hash lines');
  const [origin, size, root] = lines as [string, string, string];
  if (origin === '') throw new NoteFormatError('the checkpoint has no origin');
  if (!/^(0|[1-9][0-9]{0,15})$/.test(size) || !Number.isSafeInteger(Number(size))) throw new NoteFormatError('the checkpoint size is not a decimal integer');
  const rootHash = /^[A-Za-z0-9+/]{43}=$/.test(root) ? Buffer.from(root, 'base64') : undefined;
  if (!rootHash || rootHash.length !== HASH_SIZE) throw new NoteFormatError('the checkpoint root hash is not base64 of 32 bytes');
  return { origin, size: Number(size), rootHash };
}

function cosignedMessage(checkpointText: string, timestamp: number): Buffer {
  return Buffer.from(`cosignature/v1\ntime ${timestamp}\n${checkpointText}`, 'utf8');
}

/** A witness's cosignature line over a checkpoint text, at `timestamp` (unix seconds). */
export function cosignatureLine(checkpointText: string, witness: SignerKey, timestamp: number): string {
  if (witness.type !== SIGNATURE_TYPE_COSIGNATURE_V1) throw new NoteFormatError('a witness key has type 0x04 (cosignature/v1)');
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new NoteFormatError('invalid cosignature timestamp');
  const time = Buffer.alloc(8);
  time.writeBigUInt64BE(BigInt(timestamp));
  const signature = sign(null, cosignedMessage(checkpointText, timestamp), witness.privateKey);
  return `\u2014 ${witness.name} ${Buffer.concat([witness.keyId, time, signature]).toString('base64')}`;
}

/** Whether a signature line is `witness`'s valid cosignature over the checkpoint text. */
export function isValidCosignature(checkpointText: string, signature: NoteSignature, witness: VerifierKey): boolean {
  if (witness.type !== SIGNATURE_TYPE_COSIGNATURE_V1 || signature.name !== witness.name || !signature.keyId.equals(witness.keyId)) return false;
  if (signature.signature.length !== 8 + 64) return false;
  const timestamp = signature.signature.readBigUInt64BE(0);
  if (timestamp > BigInt(Number.MAX_SAFE_INTEGER)) return false;
  return verify(null, cosignedMessage(checkpointText, Number(timestamp)), witness.key, signature.signature.subarray(8));
}
