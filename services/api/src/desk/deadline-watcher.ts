/**
 * The deadline watcher (docs/desk-operations.md): appends one `ClaimEscalated` per overdue
 * period through the one write pipeline (`ClaimService.execute`), as a system actor.
 * Every instance may run it at once; each escalation is one event because:
 * - the idempotency key is made from the claim and the version that began the period, so
 *   instances racing for the same period send the same key and all but one get the stored
 *   answer (nothing appended);
 * - the command carries the claim's version (If-Match): a claim that moved on meanwhile
 *   (reassigned, advanced) is refused, and its new period has another key;
 * - the desk projection records the escalated period, so after a restart nothing is sent
 *   again (and if it were, the key would answer).
 */
import type { Actor } from '@claimtrail/domain';
import { isCommandError, unescalatedOverdue, type ClaimService, type Thresholds } from '@claimtrail/claims';
import type { Kysely } from 'kysely';

export const DEADLINE_ACTOR: Actor = { id: 'system-deadlines', role: 'admin', name: 'Deadline watcher' };

/** Refusals meaning another instance or a person got there first: nothing to do. */
const SETTLED = new Set(['precondition_failed', 'illegal_transition', 'idempotency_key_reuse', 'not_found']);

export async function escalateOverdue(
  db: Kysely<any>,
  claims: ClaimService,
  thresholds: Thresholds,
  at: Date,
): Promise<{ escalated: string[] }> {
  const escalated: string[] = [];
  for (const claim of await unescalatedOverdue(db, thresholds, at)) {
    try {
      const result = await claims.execute({
        claimId: claim.claimId,
        command: { type: 'escalate', state: claim.state, since: claim.since, dueAt: claim.dueAt },
        actor: DEADLINE_ACTOR,
        expectedVersion: claim.version,
        idempotencyKey: `escalate:${claim.claimId}:${claim.periodVersion}`,
      });
      if (!result.replayed) escalated.push(claim.claimId);
    } catch (error) {
      if (!(isCommandError(error) && SETTLED.has(error.code))) throw error;
    }
  }
  return { escalated };
}
