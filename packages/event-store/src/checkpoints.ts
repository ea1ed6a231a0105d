/**
 * Signed checkpoints of the log's tree (`events_checkpoints`, one per tree size) and the
 * witnesses' cosignatures over them (`events_checkpoint_cosignatures`), migration 0019. The
 * store keeps the notes as text; signing and verifying them is the caller's
 * (@claimtrail/transparency).
 */
import type { Kysely, Transaction } from 'kysely';
import { q } from './row.ts';

type Db = Kysely<any> | Transaction<any>;

export interface StoredCheckpoint {
  readonly treeSize: number;
  readonly rootHash: Uint8Array;
  /** The signed note (checkpoint text, blank line, the log's signature line). */
  readonly note: string;
  readonly createdAt: Date;
}

export interface StoredCosignature {
  readonly keyName: string;
  readonly keyId: string;
  /** The signature line, without its newline. */
  readonly line: string;
}

interface CheckpointRow {
  tree_size: string | number;
  root_hash: Uint8Array;
  note: string;
  created_at: Date | string;
}

function toCheckpoint(row: CheckpointRow): StoredCheckpoint {
  return { treeSize: Number(row.tree_size), rootHash: row.root_hash, note: row.note, createdAt: new Date(row.created_at) };
}

/** Keeps a checkpoint; a second one for the same size is ignored (the first stays). Returns whether it was stored. */
export async function storeCheckpoint(db: Db, checkpoint: { treeSize: number; rootHash: Uint8Array; note: string }): Promise<boolean> {
  const result = await db.executeQuery(
    q('insert into events_checkpoints (tree_size, root_hash, note) values ($1, $2, $3) on conflict (tree_size) do nothing', [
      checkpoint.treeSize,
      Buffer.from(checkpoint.rootHash),
      checkpoint.note,
    ]),
  );
  return Number(result.numAffectedRows ?? 0n) > 0;
}

/** The checkpoint of the largest tree size, if any. */
export async function latestCheckpoint(db: Db): Promise<StoredCheckpoint | undefined> {
  const { rows } = await db.executeQuery<CheckpointRow>(
    q('select tree_size, root_hash, note, created_at from events_checkpoints order by tree_size desc limit 1'),
  );
  return rows[0] ? toCheckpoint(rows[0]) : undefined;
}

export async function checkpointAt(db: Db, treeSize: number): Promise<StoredCheckpoint | undefined> {
  const { rows } = await db.executeQuery<CheckpointRow>(
    q('select tree_size, root_hash, note, created_at from events_checkpoints where tree_size = $1', [treeSize]),
  );
  return rows[0] ? toCheckpoint(rows[0]) : undefined;
}

/** The checkpoint of the smallest tree that holds the leaf at `position` (1-based), if any. */
export async function firstCheckpointCovering(db: Db, position: number): Promise<StoredCheckpoint | undefined> {
  const { rows } = await db.executeQuery<CheckpointRow>(
    q('select tree_size, root_hash, note, created_at from events_checkpoints where tree_size >= $1 order by tree_size limit 1', [position]),
  );
  return rows[0] ? toCheckpoint(rows[0]) : undefined;
}

/** Every stored checkpoint, smallest tree first (for verification of the whole history). */
export async function allCheckpoints(db: Db): Promise<StoredCheckpoint[]> {
  const { rows } = await db.executeQuery<CheckpointRow>(q('select tree_size, root_hash, note, created_at from events_checkpoints order by tree_size'));
  return rows.map(toCheckpoint);
}

/** Keeps a witness's cosignature line; the same witness key twice keeps the first. Returns whether it was stored. */
export async function storeCosignature(db: Db, treeSize: number, cosignature: StoredCosignature): Promise<boolean> {
  const result = await db.executeQuery(
    q(
      'insert into events_checkpoint_cosignatures (tree_size, key_name, key_id, line) values ($1, $2, $3, $4) on conflict do nothing',
      [treeSize, cosignature.keyName, cosignature.keyId, cosignature.line],
    ),
  );
  return Number(result.numAffectedRows ?? 0n) > 0;
}

export async function cosignaturesAt(db: Db, treeSize: number): Promise<StoredCosignature[]> {
  const { rows } = await db.executeQuery<{ key_name: string; key_id: string; line: string }>(
    q('select key_name, key_id, line from events_checkpoint_cosignatures where tree_size = $1 order by created_at, key_name', [treeSize]),
  );
  return rows.map((row) => ({ keyName: row.key_name, keyId: row.key_id, line: row.line }));
}
