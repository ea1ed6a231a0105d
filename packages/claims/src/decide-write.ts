import { decide, type ClaimState, type DecideContext } from '@claimtrail/domain';
import type { JsonObject, NewEvent } from '@claimtrail/event-store';
import { CommandError } from './errors.ts';
import type { ExecuteInput } from './execute.ts';

/**
 * What every write decides on its claim's current state, batched or alone: the If-Match
 * check, "no such claim" for anything but a submission, the domain's decision, and the
 * events to append with their metadata — or the refusal.
 */
export function decideWrite(input: ExecuteInput, state: ClaimState, context: DecideContext): NewEvent[] | CommandError {
  const { claimId, command, actor } = input;
  if (input.expectedVersion !== undefined && input.expectedVersion !== state.version) {
    return new CommandError('precondition_failed', `the claim is at version ${state.version}`, { currentVersion: state.version });
  }
  if (command?.type !== 'submit_claim' && state.status === null) {
    return new CommandError('not_found', `claim ${claimId} not found`);
  }
  const decision = decide(command, state, actor, context);
  if (!decision.ok) {
    const { code, message, field } = decision.refusal;
    return new CommandError(code, message, field === undefined ? {} : { field });
  }
  const metadata = {
    actor: actor.id,
    actorRole: actor.role,
    ...(input.correlationId ? { correlationId: input.correlationId } : {}),
  };
  return decision.events.map((event) => ({ type: event.type, data: event.data as unknown as JsonObject, metadata }));
}
