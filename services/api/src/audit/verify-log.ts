/**
 * Verification of the log from outside the service, with no database (docs/transparency.md):
 * given the log's verifier key, a signed checkpoint, the events (an NDJSON export, from a
 * file or the service) and optionally an earlier checkpoint the auditor kept, it checks
 *
 *   1. the checkpoint's signature (and, when asked, k witness cosignatures);
 *   2. every exported event: dense positions from 1, its hash recomputed from its content
 *      when the export carries `metadata`, its `prevHash` link to its stream's previous event;
 *   3. the Merkle root of the first `size` events equals the checkpoint's root;
 *   4. the earlier checkpoint: signed by the same key, not larger, and its root equal to the
 *      root of the export's first `size` events (so the log today extends the log it signed
 *      then); and, when the service is asked, its RFC 9162 consistency proof verifies.
 *
 * Any rewrite, removal or reordering of an event that a kept checkpoint covered changes that
 * root, whatever the attacker recomputed or re-signed afterwards.
 */
import { canonicalJson, eventHash } from '@claimtrail/event-store';
import {
  MemoryTree,
  NoteFormatError,
  isValidCosignature,
  leafHashOf,
  parseCheckpoint,
  treeRoot,
  verifyConsistency,
  verifyNote,
  type Checkpoint,
  type VerifierKey,
} from '@claimtrail/transparency';

/** One event as the NDJSON export and the JSON feed write it (EventRecord). */
export interface ExportedEvent {
  id: string;
  position: number;
  version: number;
  streamId: string;
  type: string;
  data: unknown;
  metadata?: Record<string, unknown>;
  recordedAt: string;
  hash: string;
  prevHash: string | null;
}

export interface VerifyLogInput {
  key: VerifierKey;
  checkpoint: string;
  events: AsyncIterable<ExportedEvent>;
  previous?: string;
  witnesses?: readonly VerifierKey[];
  minWitnesses?: number;
  /** Asks the service for a consistency proof (with --url); absent: the export alone decides. */
  consistencyProof?: (from: number, to: number) => Promise<Uint8Array[]>;
}

export interface VerifyLogReport {
  ok: boolean;
  checkpoint?: { origin: string; size: number; witnesses: number };
  /** Events read from the export. */
  events: number;
  /** Events whose hash was recomputed from their content. */
  rehashed: number;
  previous?: { size: number; consistent: boolean; proofChecked: boolean };
  /** The first problem found, in words. */
  problem?: string;
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

function openCheckpoint(note: string, key: VerifierKey, what: string): { checkpoint: Checkpoint; text: string; signatures: ReturnType<typeof verifyNote>['signatures'] } {
  const opened = verifyNote(note, key);
  const checkpoint = parseCheckpoint(opened.text);
  if (checkpoint.origin !== key.name) throw new NoteFormatError(`${what}'s origin "${checkpoint.origin}" is not the key's name "${key.name}"`);
  return { checkpoint, text: opened.text, signatures: opened.signatures };
}

export async function verifyLog(input: VerifyLogInput): Promise<VerifyLogReport> {
  const report: VerifyLogReport = { ok: false, events: 0, rehashed: 0 };
  const fail = (problem: string): VerifyLogReport => ({ ...report, ok: false, problem });

  let current;
  try {
    current = openCheckpoint(input.checkpoint, input.key, 'the checkpoint');
  } catch (error) {
    return fail(`the checkpoint is refused: ${(error as Error).message}`);
  }
  const witnesses = (input.witnesses ?? []).filter((witness) =>
    current.signatures.some((signature) => isValidCosignature(current.text, signature, witness)),
  );
  report.checkpoint = { origin: current.checkpoint.origin, size: current.checkpoint.size, witnesses: witnesses.length };
  if (witnesses.length < (input.minWitnesses ?? 0)) {
    return fail(`the checkpoint has ${witnesses.length} valid witness cosignature(s), ${input.minWitnesses} required`);
  }

  let previous;
  if (input.previous !== undefined) {
    try {
      previous = openCheckpoint(input.previous, input.key, 'the previous checkpoint');
    } catch (error) {
      return fail(`the previous checkpoint is refused: ${(error as Error).message}`);
    }
    if (previous.checkpoint.size > current.checkpoint.size) {
      report.previous = { size: previous.checkpoint.size, consistent: false, proofChecked: false };
      return fail(`the log shrank: the previous checkpoint covers ${previous.checkpoint.size} events, the current one ${current.checkpoint.size}`);
    }
  }

  const tree = new MemoryTree();
  const heads = new Map<string, { version: number; hash: string }>();
  for await (const event of input.events) {
    report.events++;
    const position = tree.size + 1;
    if (event.position !== position) return fail(`the export has position ${event.position} where ${position} was expected`);
    const head = heads.get(event.streamId);
    if (event.version !== (head?.version ?? 0) + 1) return fail(`event ${event.id} (position ${position}) has version ${event.version}, expected ${(head?.version ?? 0) + 1}`);
    if (event.prevHash !== (head?.hash ?? null)) return fail(`event ${event.id} (position ${position}) does not link to its stream's previous event`);
    if (event.metadata !== undefined) {
      const recomputed = eventHash(event.prevHash, {
        id: event.id,
        streamId: event.streamId,
        version: event.version,
        type: event.type,
        data: canonicalJson(event.data),
        metadata: canonicalJson(event.metadata),
        recordedAt: event.recordedAt,
      });
      if (recomputed !== event.hash) return fail(`event ${event.id} (position ${position}): its content does not give its hash`);
      report.rehashed++;
    }
    heads.set(event.streamId, { version: event.version, hash: event.hash });
    tree.append(leafHashOf({ hash: event.hash, position, streamId: event.streamId, version: event.version }));
  }
  if (tree.size < current.checkpoint.size) return fail(`the export has ${tree.size} events, the checkpoint covers ${current.checkpoint.size}`);
  const root = treeRoot(tree.nodes, current.checkpoint.size);
  if (b64(root) !== b64(current.checkpoint.rootHash)) return fail(`the export's first ${current.checkpoint.size} events do not give the checkpoint's root hash`);

  if (previous) {
    const size = previous.checkpoint.size;
    const consistent = b64(treeRoot(tree.nodes, size)) === b64(previous.checkpoint.rootHash);
    report.previous = { size, consistent, proofChecked: false };
    if (!consistent) return fail(`the log was rewritten: its first ${size} events no longer give the previous checkpoint's root hash`);
    if (input.consistencyProof && size > 0) {
      const proof = await input.consistencyProof(size, current.checkpoint.size);
      const proved = verifyConsistency(size, current.checkpoint.size, previous.checkpoint.rootHash, current.checkpoint.rootHash, proof);
      report.previous = { size, consistent: proved, proofChecked: true };
      if (!proved) return fail(`the service's consistency proof from ${size} to ${current.checkpoint.size} does not verify`);
    }
  }
  return { ...report, ok: true };
}
