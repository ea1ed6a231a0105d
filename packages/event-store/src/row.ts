import { CompiledQuery } from 'kysely';
import type { EventMetadata, JsonObject } from './types.ts';

/** The columns of an `events` row as the store and verify() select them (in this order). */
export const EVENT_COLUMNS = 'position, id, stream_id, version, type, data, metadata, recorded_at, hash, prev_hash';

/** One `events` row as selected with EVENT_COLUMNS. */
export interface EventRow {
  position: string | number | bigint | null;
  id: string;
  stream_id: string;
  version: number;
  type: string;
  data: JsonObject;
  metadata: EventMetadata;
  recorded_at: Date | string;
  hash: string;
  prev_hash: string | null;
}

export function q(text: string, params: unknown[] = []): CompiledQuery {
  return CompiledQuery.raw(text, params);
}
