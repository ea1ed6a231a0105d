import { CompiledQuery } from 'kysely';
import type { EventMetadata, JsonObject, RecordedEvent } from './types.ts';

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

export function toRecorded(row: EventRow): RecordedEvent {
  return {
    id: row.id,
    streamId: row.stream_id,
    version: row.version,
    position: row.position === null ? null : Number(row.position),
    type: row.type,
    data: row.data,
    metadata: row.metadata,
    recordedAt: row.recorded_at instanceof Date ? row.recorded_at : new Date(row.recorded_at),
    hash: row.hash,
    prevHash: row.prev_hash,
  };
}

/** A unique violation: on `events`, a (stream_id, version) another append took first. */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '23505';
}
