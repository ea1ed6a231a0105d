/**
 * Proof that the log is intact, shared by `GET /audit/verify`, `npm run audit -- verify`
 * and the audit benchmark:
 *   - the hash chains (store.verify: every hash recomputed, prev-hash links, dense
 *     versions, and for the whole log dense positions, so a deleted event shows);
 *   - the projections agree with the events: for one claim its row is compared with the
 *     fold of its stream; for the whole log every projection is rebuilt into a scratch
 *     table and compared row by row, inside a transaction that is rolled back.
 * `firstBroken` names streamId, claimId, version, eventId, position and reason. Reads only.
 */
import { checkClaimProjection, claimIdOfStream, rebuildProjections } from '@claimtrail/claims';
import { claimStreamId } from '@claimtrail/domain';
import { latestCheckpoint, storedTreeRoot, verifyTree, type EventStore, type TreeVerifyResult, type VerifyResult } from '@claimtrail/event-store';

export type BrokenReason =
  | 'hash_mismatch'
  | 'prev_hash_mismatch'
  | 'version_gap'
  | 'position_gap'
  | 'projection_missing'
  | 'projection_extra'
  | 'projection_mismatch';

export interface AuditBroken {
  streamId: string;
  claimId: string | null;
  version: number | null;
  eventId: string | null;
  position: number | null;
  reason: BrokenReason;
  /** For projection mismatches: the columns that differ. */
  columns?: string[];
}

export interface AuditReport {
  ok: boolean;
  /** Events whose hash chain was checked. */
  checked: number;
  firstBroken?: AuditBroken;
  /** The projection comparison (absent when the chain is already broken). */
  projections?: { checked: number; differences: number };
  /**
   * The whole log's Merkle tree (docs/transparency.md) recomputed from the events and
   * compared with the stored one, and the latest checkpoint's root with the stored tree's.
   */
  tree?: TreeVerifyResult & { checkpoint?: { treeSize: number; ok: boolean } };
  scope: { claimId: string } | 'all';
  durationMs: number;
}

async function lastEventOf(store: EventStore, streamId: string): Promise<{ id: string; version: number; position: number | null } | null> {
  const head = await store.streamVersion(streamId);
  if (head === 0) return null;
  const [event] = await store.readStream(streamId, { fromVersion: head, toVersion: head });
  return event ? { id: event.id, version: event.version, position: event.position } : null;
}

function chainBroken(result: VerifyResult): AuditBroken | undefined {
  const b = result.firstBroken;
  if (!b) return undefined;
  return {
    streamId: b.streamId,
    claimId: claimIdOfStream(b.streamId),
    version: b.version,
    eventId: b.eventId,
    position: b.position,
    reason: b.reason,
  };
}

const PROJECTION_REASON = { missing: 'projection_missing', extra: 'projection_extra', different: 'projection_mismatch' } as const;

/** Verifies one claim (its chain and its projection row). Null when the claim has no events. */
export async function verifyClaim(store: EventStore, claimId: string): Promise<AuditReport | null> {
  const started = Date.now();
  const streamId = claimStreamId(claimId);
  const chain = await store.verify({ streamId });
  if (chain.checked === 0 && chain.ok) return null;
  const scope = { claimId };
  if (!chain.ok) return { ok: false, checked: chain.checked, firstBroken: chainBroken(chain)!, scope, durationMs: Date.now() - started };
  const check = await checkClaimProjection(store, streamId);
  const report: AuditReport = {
    ok: check.ok,
    checked: chain.checked,
    projections: { checked: 1, differences: check.ok ? 0 : 1 },
    scope,
    durationMs: 0,
  };
  if (check.diff) {
    report.firstBroken = {
      streamId,
      claimId,
      version: check.lastEvent?.version ?? check.diff.rebuiltVersion,
      eventId: check.lastEvent?.id ?? null,
      position: check.lastEvent?.position ?? null,
      reason: PROJECTION_REASON[check.diff.reason],
      ...(check.diff.columns ? { columns: check.diff.columns } : {}),
    };
  }
  report.durationMs = Date.now() - started;
  return report;
}

/** Verifies the whole log: every chain, dense positions, then every projection against a rebuild. */
export async function verifyAll(
  store: EventStore,
  options: { onProgress?: (phase: string, done: number) => void; concurrentReads?: boolean } = {},
): Promise<AuditReport> {
  const started = Date.now();
  const chain = await store.verify({ onProgress: (n) => options.onProgress?.('chain', n) });
  if (!chain.ok) {
    return { ok: false, checked: chain.checked, firstBroken: chainBroken(chain)!, scope: 'all', durationMs: Date.now() - started };
  }
  const rebuilt = await rebuildProjections(store, {
    mode: 'compare',
    maxDiffs: 1,
    concurrentReads: options.concurrentReads ?? false,
    onProgress: (p) => options.onProgress?.(`projections:${p.phase}`, p.events),
  });
  const tree = await verifyStoredTree(store);
  const report: AuditReport = {
    ok: rebuilt.differences === 0 && tree.ok,
    checked: chain.checked,
    projections: { checked: rebuilt.claims, differences: rebuilt.differences },
    tree,
    scope: 'all',
    durationMs: 0,
  };
  const diff = rebuilt.diffs[0];
  if (diff) {
    const last = await lastEventOf(store, diff.streamId);
    report.firstBroken = {
      streamId: diff.streamId,
      claimId: diff.claimId,
      version: last?.version ?? diff.rebuiltVersion ?? diff.liveVersion,
      eventId: last?.id ?? null,
      position: last?.position ?? null,
      reason: PROJECTION_REASON[diff.reason],
      ...(diff.columns ? { columns: diff.columns } : {}),
    };
  }
  report.durationMs = Date.now() - started;
  return report;
}

/** The stored tree against the events, and the latest checkpoint's root against the stored tree. */
async function verifyStoredTree(store: EventStore): Promise<NonNullable<AuditReport['tree']>> {
  const tree = await verifyTree(store.db);
  const checkpoint = await latestCheckpoint(store.db);
  if (!checkpoint) return tree;
  const covered = checkpoint.treeSize <= tree.size;
  // A tree with missing nodes cannot give the root: that is a mismatch, not an error.
  const root = covered ? await storedTreeRoot(store.db, checkpoint.treeSize).catch(() => undefined) : undefined;
  const same = root !== undefined && Buffer.from(root).equals(Buffer.from(checkpoint.rootHash));
  return { ...tree, ok: tree.ok && same, checkpoint: { treeSize: checkpoint.treeSize, ok: same } };
}
