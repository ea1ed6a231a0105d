import { EventStoreError } from '../errors.ts';

/**
 * Where a reader of the merged feed stands: for each shard, the last position it has
 * processed on that shard (0 = nothing yet). Index = shard number.
 */
export type FeedCursor = readonly number[];

/** A cursor that does not parse, or was made for another number of shards. */
export class InvalidCursorError extends EventStoreError {
  constructor(message: string) {
    super('invalid_cursor', message);
  }
}

const POSITION = /^(0|[1-9][0-9]{0,15})$/;

/**
 * The cursor as text: the per-shard positions joined by dots (`"120.98.143.77"`). Opaque to
 * clients, but chosen so that with one shard the cursor is exactly the integer position
 * the single-database feed already uses.
 */
export function encodeFeedCursor(cursor: FeedCursor): string {
  return cursor.join('.');
}

/** Parses a cursor made by `encodeFeedCursor` for `shardCount` shards. */
export function decodeFeedCursor(text: string, shardCount: number): FeedCursor {
  if (typeof text !== 'string') throw new InvalidCursorError('a cursor is a string');
  const parts = text.split('.');
  if (parts.length !== shardCount) {
    throw new InvalidCursorError(`a cursor has one position per shard: expected ${shardCount}, got ${parts.length}`);
  }
  return parts.map((part) => {
    const position = POSITION.test(part) ? Number(part) : Number.NaN;
    if (!Number.isSafeInteger(position)) throw new InvalidCursorError(`invalid position ${JSON.stringify(part.slice(0, 20))} in cursor`);
    return position;
  });
}

/** Checks a cursor given as positions: one non-negative safe integer per shard. */
export function checkFeedCursor(cursor: FeedCursor, shardCount: number): FeedCursor {
  if (!Array.isArray(cursor) || cursor.length !== shardCount) {
    throw new InvalidCursorError(`a cursor has one position per shard: expected ${shardCount}`);
  }
  for (const position of cursor) {
    if (!Number.isSafeInteger(position) || position < 0) throw new InvalidCursorError(`invalid position ${String(position)} in cursor`);
  }
  return [...cursor];
}

/** The cursor after processing an event of `shard` at `position`. */
export function advanceFeedCursor(cursor: FeedCursor, shard: number, position: number): FeedCursor {
  const next = [...cursor];
  next[shard] = position;
  return next;
}
