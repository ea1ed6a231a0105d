import type { ExpectedVersion } from './types.ts';

/** Base class of every error the store throws on purpose. */
export class EventStoreError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The stream's version did not match `expectedVersion`; nothing was written. */
export class ConcurrencyError extends EventStoreError {
  readonly streamId: string;
  readonly expected: ExpectedVersion;
  /** The stream's version as last committed (0 when it does not exist). */
  readonly actual: number;
  constructor(streamId: string, expected: ExpectedVersion, actual: number, options?: { cause?: unknown }) {
    super(
      'concurrency_conflict',
      `stream ${streamId}: expected version ${String(expected)}, actual ${actual}`,
      options,
    );
    this.streamId = streamId;
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * Some of the given event ids already exist but the append is not an exact replay
 * (different stream, type or data, or only part of the batch exists).
 */
export class IdempotencyConflictError extends EventStoreError {
  readonly streamId: string;
  readonly eventIds: string[];
  constructor(streamId: string, eventIds: string[], detail: string) {
    super('idempotency_conflict', `stream ${streamId}: event ids already used: ${detail}`);
    this.streamId = streamId;
    this.eventIds = eventIds;
  }
}

/** The append was malformed (no actor, bad id, empty type, non-object data, …). */
export class InvalidEventError extends EventStoreError {
  constructor(message: string) {
    super('invalid_event', message);
  }
}

/**
 * The stored Merkle tree lacks a node a root or proof needs: the tree was damaged (rows
 * removed around the append-only triggers). `verifyTree` names the first leaf that differs.
 */
export class TreeIncompleteError extends EventStoreError {
  constructor(message: string) {
    super('tree_incomplete', message);
  }
}

/** The store (or its subscription) was closed. */
export class StoreClosedError extends EventStoreError {
  constructor(what = 'event store') {
    super('closed', `${what} is closed`);
  }
}

/** The embedded database could not be opened (the folder is unusable, damaged, or not PGlite's). */
export class DatabaseOpenError extends EventStoreError {
  readonly dataDir: string;
  constructor(dataDir: string, reason: string, options?: { cause?: unknown }) {
    super(
      'database_open_failed',
      `The embedded database in ${dataDir} could not be opened (${reason.trim() || 'PGlite gave no reason'}).\n` +
        'Check that the folder is writable and holds a PGlite database of this version (or is empty),\n' +
        'or set DATA_DIR to another folder.',
      options,
    );
    this.dataDir = dataDir;
  }
}
