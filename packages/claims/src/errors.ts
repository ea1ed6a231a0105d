import type { RefusalCode } from '@claimtrail/domain';

/**
 * Why a command was not carried out. Nothing was appended when this is thrown.
 * `code` is the stable name of the HTTP contract (ERROR_CATALOGUE in @claimtrail/contract).
 */
export type CommandErrorCode =
  | RefusalCode
  | 'not_found'
  | 'precondition_failed'
  | 'idempotency_key_reuse'
  | 'conflict_retries_exhausted';

export class CommandError extends Error {
  readonly code: CommandErrorCode;
  /** The offending field (validation refusals). */
  readonly field: string | undefined;
  /** On precondition_failed: the stream's current version. */
  readonly currentVersion: number | undefined;
  constructor(code: CommandErrorCode, message: string, extra: { field?: string; currentVersion?: number } = {}) {
    super(message);
    this.name = 'CommandError';
    this.code = code;
    this.field = extra.field;
    this.currentVersion = extra.currentVersion;
  }
}

export function isCommandError(error: unknown): error is CommandError {
  return error instanceof CommandError;
}
