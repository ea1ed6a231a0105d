/**
 * What the command-line tools share: option parsing that refuses what it does not know,
 * `--output FILE`, and one way to report a database that cannot be opened.
 */
import { createWriteStream, renameSync, unlinkSync, type WriteStream } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Writable } from 'node:stream';
import { DataDirLockedError, DatabaseOpenError } from '@claimtrail/event-store';

/** Bad command line: the tool prints the message and its usage, exit code 2. */
export class UsageError extends Error {}

/** Exit code of a tool refused because another process holds the embedded data folder. */
export const EXIT_DATA_DIR_IN_USE = 3;

type Options = NonNullable<ParseArgsConfig['options']>;

export interface ParsedCommand {
  positional: string[];
  values: Record<string, string | boolean | undefined>;
}

/**
 * Parses `args` (after the subcommand) against the subcommand's own options: an unknown
 * option, a missing value or a value given to a switch is a UsageError, never ignored.
 */
export function parseCommand(command: string, args: string[], options: Options): ParsedCommand {
  try {
    const parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { positional: parsed.positionals, values: parsed.values as ParsedCommand['values'] };
  } catch (error) {
    const message = (error as Error).message.replace(/^Unknown option '([^']+)'.*$/s, `unknown option $1 for ${command}`);
    throw new UsageError(message);
  }
}

export function stringOption(values: ParsedCommand['values'], name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

/** Where a tool writes its data: stdout, or a file that appears whole or not at all. */
export interface CliOutput {
  readonly stream: Writable;
  write(text: string): void;
  /** Ends the output; a file is renamed into place only now. */
  commit(): Promise<void>;
  /** Drops a file written so far (the tool failed); stdout is left as it is. */
  abort(): void;
}

/**
 * Opens `--output FILE` (or stdout for none or `-`). The file is written beside its
 * destination and renamed over it on commit, so a failed run never leaves a partial export
 * that looks complete. `secret` files (a new token) are created 0600.
 */
export async function openOutput(file: string | undefined, options: { secret?: boolean } = {}): Promise<CliOutput> {
  if (file === undefined || file === '-') {
    return {
      stream: process.stdout,
      write: (text) => void process.stdout.write(text),
      commit: async () => undefined,
      abort: () => undefined,
    };
  }
  const temporary = join(dirname(file), `.${basename(file)}.${process.pid}.partial`);
  const stream: WriteStream = createWriteStream(temporary, { flags: 'wx', mode: options.secret ? 0o600 : 0o666 });
  try {
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', reject);
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'its folder does not exist' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new UsageError(`cannot write --output ${file}: ${reason}`);
  }
  let finished = false;
  return {
    stream,
    write: (text) => void stream.write(text),
    async commit() {
      await new Promise<void>((resolve, reject) => {
        stream.once('error', reject);
        stream.end(() => resolve());
      });
      renameSync(temporary, file);
      finished = true;
    },
    abort() {
      if (finished) return;
      finished = true;
      stream.destroy();
      try {
        unlinkSync(temporary);
      } catch {
        // already gone
      }
    },
  };
}

/**
 * The message and exit code for a database that cannot be opened (held by another process,
 * or a folder PGlite cannot use), or undefined for any other error.
 */
export function databaseOpenFailure(error: unknown): { message: string; exitCode: number } | undefined {
  if (error instanceof DataDirLockedError) return { message: error.message, exitCode: EXIT_DATA_DIR_IN_USE };
  if (error instanceof DatabaseOpenError) return { message: error.message, exitCode: 1 };
  return undefined;
}
