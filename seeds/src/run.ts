import type { Actor, ClaimCommand } from '@claimtrail/domain';
import { PENDING_CORRECTION, SEED_CLAIMS, type SeedClaim } from './data/claims.ts';
import { seedActor } from './data/users.ts';
import { seedIdempotencyKey } from './ids.ts';

export interface SeedCommandInput {
  claimId: string;
  command: ClaimCommand;
  actor: Actor;
  idempotencyKey?: string;
}

/** The shape of ClaimService.execute (its answer is only read for the claim view). */
export type SeedExecutor = (input: SeedCommandInput) => Promise<unknown>;

export interface SeedRunResult {
  /** Commands sent (all of them, also on a second run: they are replayed, not re-applied). */
  commands: number;
  /** Commands whose answer said `replayed: true` (when the executor reports it). */
  replayed: number;
  claims: { slug: string; id: string; expectedState: string }[];
}

/** The parts of an answer's claim view the runner reads (answers of older services may lack them). */
interface AnswerView {
  appearances?: { id?: unknown }[];
  pendingCorrection?: { id?: unknown } | null;
}

function viewOf(answer: unknown): AnswerView | null {
  if (typeof answer !== 'object' || answer === null) return null;
  const view = (answer as { view?: unknown }).view;
  return typeof view === 'object' && view !== null ? (view as AnswerView) : null;
}

/**
 * A seed step's command as sent: `PENDING_CORRECTION` becomes the id of the correction the
 * previous answer shows pending. `null` = nothing to send: the previous step's correction
 * was recorded at once, as a service before two-person corrections did (its answer, replayed
 * from an older database, shows no proposal).
 */
export function resolveSeedCommand(command: ClaimCommand, previous: AnswerView | null): ClaimCommand | null {
  if (command.type !== 'approve_correction' || command.correctionId !== PENDING_CORRECTION) return command;
  const id = previous?.pendingCorrection?.id;
  return typeof id === 'string' ? { ...command, correctionId: id } : null;
}

/**
 * Writes the seed claims through the command handler, claim by claim (merge targets come
 * first), each step with a deterministic idempotency key: a second run sends the same
 * commands with the same keys and appends nothing.
 */
export async function runSeed(
  executor: SeedExecutor,
  options: { claims?: readonly SeedClaim[]; onStep?: (slug: string, step: number, command: ClaimCommand) => void } = {},
): Promise<SeedRunResult> {
  const claims = options.claims ?? SEED_CLAIMS;
  let commands = 0;
  let replayed = 0;
  for (const claim of claims) {
    // Evidence refers to appearances as a<n> (the domain's default ids); if the service
    // generated other ids, map them through the answer of submit_claim.
    let appearanceIds: string[] | null = null;
    let previous: AnswerView | null = null;
    for (const [index, step] of claim.steps.entries()) {
      const resolved = resolveSeedCommand(step.command, previous);
      if (resolved === null) continue;
      let command = resolved;
      if (command.type === 'add_evidence' && command.appearance && appearanceIds) {
        const n = Number(command.appearance.slice(1));
        const id = appearanceIds[n - 1];
        if (id !== undefined) command = { ...command, appearance: id };
      }
      options.onStep?.(claim.slug, index + 1, command);
      const answer = await executor({
        claimId: claim.id,
        command,
        actor: seedActor(step.as),
        idempotencyKey: seedIdempotencyKey(claim.slug, index + 1),
      });
      commands++;
      previous = viewOf(answer);
      if (typeof answer === 'object' && answer !== null && (answer as { replayed?: unknown }).replayed === true) replayed++;
      if (command.type === 'submit_claim') {
        const ids = viewOf(answer)?.appearances?.map((a) => a.id);
        if (ids && ids.every((id): id is string => typeof id === 'string')) appearanceIds = ids;
      }
    }
  }
  return {
    commands,
    replayed,
    claims: claims.map((c) => ({ slug: c.slug, id: c.id, expectedState: c.expected.state })),
  };
}
