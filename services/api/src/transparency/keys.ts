/**
 * The checkpoint signer key (docs/transparency.md, "Keys"). CHECKPOINT_KEY_FILE names a
 * file holding one line in the Go note signer format
 * `PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || 32-byte Ed25519 seed)>`; the key name is
 * the checkpoints' origin line. Without it: the embedded database creates `checkpoint.key`
 * in its data folder on first start (mode 0600) and keeps using it; an in-memory or borrowed
 * database (tests, embedding) gets a key for this process only; PostgreSQL keeps one in the
 * database (table `checkpoint_signer`, made by the first instance to start), so every
 * instance signs with the same key — weaker than a file the database cannot reach, which
 * the service says at start.
 */
import { readFile, rename, writeFile, mkdir } from 'node:fs/promises';
import { sql, type Kysely } from 'kysely';
import { join } from 'node:path';
import { generateSignerKey, parseSignerKey, SIGNATURE_TYPE_ED25519, type SignerKey } from '@claimtrail/transparency';

export const CHECKPOINT_KEY_FILE_NAME = 'checkpoint.key';

export class CheckpointKeyError extends Error {
  override name = 'CheckpointKeyError';
}

async function readSigner(file: string): Promise<SignerKey> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new CheckpointKeyError(`CHECKPOINT_KEY_FILE ${file} cannot be read: ${(error as Error).message}`);
  }
  try {
    const signer = parseSignerKey(text);
    if (signer.type !== SIGNATURE_TYPE_ED25519) throw new Error('a checkpoint key has type 0x01 (Ed25519 note signatures)');
    return signer;
  } catch (error) {
    throw new CheckpointKeyError(`CHECKPOINT_KEY_FILE ${file}: ${(error as Error).message}`);
  }
}

/** The default key name (and checkpoint origin): `<PUBLIC_URL host>/claimtrail`, else `claimtrail.localhost/log`. */
export function defaultKeyName(publicUrl: string | undefined): string {
  return publicUrl ? `${new URL(publicUrl).host}/claimtrail` : 'claimtrail.localhost/log';
}

export interface SignerChoice {
  signer: SignerKey | undefined;
  /** Where it came from, for the start-up log. */
  source: 'file' | 'embedded-file' | 'ephemeral' | 'database';
}

export async function loadCheckpointSigner(options: {
  keyFile: string | undefined;
  /** The embedded database's folder when this process opened it (not `memory://`). */
  embeddedDataDir: string | undefined;
  /** No key file and no folder of ours: an in-memory or borrowed database. */
  ephemeralAllowed: boolean;
  publicUrl: string | undefined;
  /** Where a PostgreSQL deployment without a key file keeps its key. */
  db: Kysely<any>;
}): Promise<SignerChoice> {
  if (options.keyFile !== undefined) return { signer: await readSigner(options.keyFile), source: 'file' };
  if (options.embeddedDataDir !== undefined) {
    const file = join(options.embeddedDataDir, CHECKPOINT_KEY_FILE_NAME);
    try {
      return { signer: await readSigner(file), source: 'embedded-file' };
    } catch (error) {
      if ((error as { message?: string }).message?.includes('ENOENT') !== true) throw error;
    }
    await mkdir(options.embeddedDataDir, { recursive: true });
    const temporary = `${file}.${process.pid}.tmp`;
    await writeFile(temporary, `${generateSignerKey(defaultKeyName(options.publicUrl))}\n`, { mode: 0o600 });
    await rename(temporary, file);
    return { signer: await readSigner(file), source: 'embedded-file' };
  }
  if (options.ephemeralAllowed) return { signer: parseSignerKey(generateSignerKey(defaultKeyName(options.publicUrl))), source: 'ephemeral' };
  return { signer: await databaseSigner(options.db, defaultKeyName(options.publicUrl)), source: 'database' };
}

/** The key kept in the database: the first instance's insert wins, every instance reads that one. */
async function databaseSigner(db: Kysely<any>, name: string): Promise<SignerKey> {
  await sql`insert into checkpoint_signer (signer_key) values (${generateSignerKey(name)}) on conflict (id) do nothing`.execute(db);
  const { rows } = await sql<{ signer_key: string }>`select signer_key from checkpoint_signer`.execute(db);
  return parseSignerKey(rows[0]!.signer_key);
}
