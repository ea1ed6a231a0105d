import type { ClaimEventEnvelope } from '@claimtrail/domain';
import type { JsonObject, ScanRow } from '@claimtrail/event-store';

/**
 * The fold's envelopes from the event store's scan rows (`ScanRow`: the store reads the log
 * for the rebuild, ordered by stream, in the cheap form defined there).
 */

/**
 * The envelope `toEnvelope(toRecordedEvent(row))` gives for the full row, built directly.
 * recordedAt is the Date pg's timestamptz parser (postgres-date) makes of the text:
 * UTC fields plus `1000 * parseFloat(fraction)` milliseconds, truncated by Date.UTC; that is
 * seconds × 1000 + trunc(1000 × µs / 10⁶) (µs / 10⁶ is the same double parseFloat gives).
 * ±infinity stays the number pg's parser returns.
 */
export function foldEnvelope(row: ScanRow, version: number): ClaimEventEnvelope {
  const seconds = Number(row.at_s);
  let recordedAt: Date | string;
  let recordedAtIso: string | undefined;
  if (Number.isFinite(seconds) && row.at_us !== null) {
    const ms = Math.trunc(1000 * ((Number(row.at_us) % 1_000_000) / 1_000_000));
    if (seconds >= MIN_ISO_SECONDS && seconds <= MAX_ISO_SECONDS && Number.isInteger(seconds)) {
      recordedAtIso = isoInstant(seconds, ms);
      recordedAt = recordedAtIso;
    } else recordedAt = new Date(seconds * 1000 + ms);
  } else recordedAt = seconds as unknown as Date;
  return {
    type: row.type,
    data: typeof row.data === 'string' ? (JSON.parse(row.data) as JsonObject) : row.data,
    actor: row.actor === null ? undefined : row.actor,
    recordedAt,
    // Always present (undefined when the instant needs a Date): one object shape per event.
    recordedAtIso,
    version,
    streamId: row.stream_id,
  } as unknown as ClaimEventEnvelope;
}

/**
 * The fold's instants are whole seconds plus milliseconds, and a stream's events mostly
 * share their second: the text of the second is formatted once (by Date itself) and only
 * the milliseconds appended — the text `new Date(seconds * 1000 + ms).toISOString()` gives
 * (years 0001–9999: four-digit years; others take a real Date). Handed to evolve as the
 * envelope's `recordedAtIso`.
 */
const MIN_ISO_SECONDS = -62_135_596_800; // 0001-01-01T00:00:00Z
const MAX_ISO_SECONDS = 253_402_300_799; // 9999-12-31T23:59:59Z
let isoSeconds = Number.NaN;
let isoPrefix = '';

function isoInstant(seconds: number, ms: number): string {
  if (seconds !== isoSeconds) {
    // 'YYYY-MM-DDTHH:MM:SS.' (toISOString of a whole second ends in '.000Z').
    isoPrefix = new Date(seconds * 1000).toISOString().slice(0, -4);
    isoSeconds = seconds;
  }
  return `${isoPrefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z`;
}
