import { createPrivateKey, createPublicKey, generateKeyPairSync, hash as oneShot, sign, verify, type KeyObject } from 'node:crypto';

/**
 * C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys, in the formats of
 * golang.org/x/mod/sumdb/note, so Go's tooling reads our keys and notes:
 *
 *   note       <text, every line ending in \n>\n<signature line>...
 *   signature  "— <key name> <base64(key id (4 bytes) || signature)>\n"  (U+2014 EM DASH)
 *   key id     the first 4 bytes of SHA-256(<key name> || 0x0A || <type> || <public key>),
 *              type 0x01 for Ed25519 signatures, 0x04 for tlog-cosignature/v1
 *   verifier   "<name>+<key id, 8 hex digits>+<base64(type || 32-byte public key)>"
 *   signer     "PRIVATE+KEY+<name>+<key id, 8 hex digits>+<base64(0x01 || 32-byte seed)>"
 */

export const SIGNATURE_TYPE_ED25519 = 0x01;
export const SIGNATURE_TYPE_COSIGNATURE_V1 = 0x04;

const EM_DASH = '\u2014';
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export class NoteFormatError extends Error {
  override name = 'NoteFormatError';
}

/** A key name: non-empty, no whitespace, no '+'. */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && name.length <= 256 && !/[\s+]/u.test(name) && !/[\p{C}]/u.test(name);
}

export function keyId(name: string, type: number, publicKey: Uint8Array): Buffer {
  return oneShot('sha256', Buffer.concat([Buffer.from(name, 'utf8'), Buffer.from([0x0a, type]), publicKey]), 'buffer').subarray(0, 4);
}

export interface VerifierKey {
  readonly name: string;
  readonly type: number;
  readonly keyId: Buffer;
  /** The raw 32-byte Ed25519 public key. */
  readonly publicKey: Buffer;
  readonly key: KeyObject;
}

export interface SignerKey extends VerifierKey {
  readonly privateKey: KeyObject;
}

function publicKeyObject(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** Splits at the first `count` '+' (the last field, base64, may contain '+'). */
function fields(text: string, count: number): string[] | undefined {
  const out: string[] = [];
  let rest = text.trim();
  for (let i = 0; i < count; i++) {
    const at = rest.indexOf('+');
    if (at === -1) return undefined;
    out.push(rest.slice(0, at));
    rest = rest.slice(at + 1);
  }
  out.push(rest);
  return out;
}

function strictBase64(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  return Buffer.from(text, 'base64');
}

/** Parses a verifier key (`name+hex+base64`). Accepts signature types 0x01 and 0x04. */
export function parseVerifierKey(text: string): VerifierKey {
  const parts = fields(text, 2);
  if (!parts) throw new NoteFormatError('a verifier key is <name>+<key id hex>+<base64 key>');
  const [name, idHex, encoded] = parts as [string, string, string];
  if (!isValidKeyName(name)) throw new NoteFormatError('the verifier key has an invalid name');
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new NoteFormatError('the verifier key id must be 8 lowercase hex digits');
  const bytes = strictBase64(encoded);
  if (!bytes || bytes.length !== 33) throw new NoteFormatError('the verifier key must be base64 of a type byte and a 32-byte Ed25519 key');
  const type = bytes[0]!;
  if (type !== SIGNATURE_TYPE_ED25519 && type !== SIGNATURE_TYPE_COSIGNATURE_V1) throw new NoteFormatError(`unsupported verifier key type 0x${type.toString(16)}`);
  const publicKey = bytes.subarray(1);
  const id = keyId(name, type, publicKey);
  if (id.toString('hex') !== idHex) throw new NoteFormatError('the verifier key id does not match its name and key');
  return { name, type, keyId: id, publicKey, key: publicKeyObject(publicKey) };
}

export function formatVerifierKey(key: Pick<VerifierKey, 'name' | 'type' | 'keyId' | 'publicKey'>): string {
  return `${key.name}+${key.keyId.toString('hex')}+${Buffer.concat([Buffer.from([key.type]), key.publicKey]).toString('base64')}`;
}

function signerFromSeed(name: string, seed: Uint8Array, type: number): SignerKey {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  const publicKey = Buffer.from(spki.subarray(spki.length - 32));
  return { name, type, keyId: keyId(name, type, publicKey), publicKey, key: publicKeyObject(publicKey), privateKey };
}

/**
 * Parses a signer key file's text (`PRIVATE+KEY+name+hex+base64(type || seed)`). The key
 * type is 0x01 (a log's note signatures) or 0x04 (a witness's cosignatures).
 */
export function parseSignerKey(text: string): SignerKey {
  const parts = fields(text, 4);
  if (!parts || parts[0] !== 'PRIVATE' || parts[1] !== 'KEY') throw new NoteFormatError('a signer key is PRIVATE+KEY+<name>+<key id hex>+<base64 key>');
  const [, , name, idHex, encoded] = parts as [string, string, string, string, string];
  if (!isValidKeyName(name)) throw new NoteFormatError('the signer key has an invalid name');
  const bytes = strictBase64(encoded);
  if (!bytes || bytes.length !== 33) throw new NoteFormatError('the signer key must be base64 of a type byte and a 32-byte Ed25519 seed');
  const type = bytes[0]!;
  if (type !== SIGNATURE_TYPE_ED25519 && type !== SIGNATURE_TYPE_COSIGNATURE_V1) throw new NoteFormatError(`unsupported signer key type 0x${type.toString(16)}`);
  const signer = signerFromSeed(name, bytes.subarray(1), type);
  if (signer.keyId.toString('hex') !== idHex) throw new NoteFormatError('the signer key id does not match its name and key');
  return signer;
}

/** A fresh Ed25519 signer key, as the text of a key file (type 0x01 for a log, 0x04 for a witness). */
export function generateSignerKey(name: string, type: number = SIGNATURE_TYPE_ED25519): string {
  if (!isValidKeyName(name)) throw new NoteFormatError('a key name must be non-empty, without spaces or "+"');
  const { privateKey } = generateKeyPairSync('ed25519');
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
  const seed = pkcs8.subarray(pkcs8.length - 32);
  const signer = signerFromSeed(name, seed, type);
  return `PRIVATE+KEY+${name}+${signer.keyId.toString('hex')}+${Buffer.concat([Buffer.from([type]), seed]).toString('base64')}`;
}

export function verifierKeyOf(signer: SignerKey): VerifierKey {
  const { privateKey: _private, ...verifier } = signer;
  return verifier;
}

/** One signature line of a note. */
export interface NoteSignature {
  readonly name: string;
  readonly keyId: Buffer;
  /** What follows the key id: the Ed25519 signature (64 bytes), or timestamp + signature for cosignatures. */
  readonly signature: Buffer;
  /** The line as it appears in the note, without its newline. */
  readonly line: string;
}

export interface OpenedNote {
  /** The signed text, every line ending in \n. */
  readonly text: string;
  readonly signatures: NoteSignature[];
}

const MAX_NOTE_BYTES = 1 << 20;

/** Splits a note into its text and signature lines (nothing verified yet). */
export function openNote(note: string): OpenedNote {
  if (Buffer.byteLength(note, 'utf8') > MAX_NOTE_BYTES) throw new NoteFormatError('the note is too large');
  if (note.includes('\r')) throw new NoteFormatError('a note has no carriage returns');
  const split = note.lastIndexOf('\n\n');
  if (split === -1) throw new NoteFormatError('a note is its text, a blank line, then signature lines');
  const text = note.slice(0, split + 1);
  const rest = note.slice(split + 2);
  if (!rest.endsWith('\n')) throw new NoteFormatError('the note must end with a newline');
  const signatures: NoteSignature[] = [];
  for (const line of rest.slice(0, -1).split('\n')) {
    const match = /^\u2014 (\S+) (\S+)$/u.exec(line);
    if (!match) throw new NoteFormatError('a signature line is "— <name> <base64 signature>"');
    const name = match[1]!;
    const bytes = strictBase64(match[2]!);
    if (!isValidKeyName(name) || !bytes || bytes.length < 5) throw new NoteFormatError('a signature line has an invalid name or signature');
    signatures.push({ name, keyId: bytes.subarray(0, 4), signature: bytes.subarray(4), line });
  }
  if (signatures.length === 0) throw new NoteFormatError('the note has no signature');
  return { text, signatures };
}

function checkText(text: string): void {
  if (!text.endsWith('\n') || text.includes('\n\n') || text.startsWith('\n') || text.includes('\r')) {
    throw new NoteFormatError('a note text is non-empty lines, each ending in \\n');
  }
}

/** The signature line of `signer` over `text`. */
export function signatureLine(text: string, signer: SignerKey): string {
  checkText(text);
  const signature = sign(null, Buffer.from(text, 'utf8'), signer.privateKey);
  return `${EM_DASH} ${signer.name} ${Buffer.concat([signer.keyId, signature]).toString('base64')}`;
}

/** A signed note: `text`, a blank line, one signature line. */
export function signNote(text: string, signer: SignerKey): string {
  return `${text}\n${signatureLine(text, signer)}\n`;
}

/** Whether `signature` is `key`'s valid signature over the note text. */
export function isValidNoteSignature(text: string, signature: NoteSignature, key: VerifierKey): boolean {
  if (key.type !== SIGNATURE_TYPE_ED25519 || signature.name !== key.name || !signature.keyId.equals(key.keyId)) return false;
  if (signature.signature.length !== 64) return false;
  return verify(null, Buffer.from(text, 'utf8'), key.key, signature.signature);
}

/**
 * Opens a note and checks it carries a valid signature of `key`. Throws NoteFormatError
 * when malformed or when `key` did not sign it.
 */
export function verifyNote(note: string, key: VerifierKey): OpenedNote {
  const opened = openNote(note);
  if (!opened.signatures.some((signature) => isValidNoteSignature(opened.text, signature, key))) {
    throw new NoteFormatError(`the note carries no valid signature by ${key.name}`);
  }
  return opened;
}
