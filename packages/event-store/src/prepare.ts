/**
 * What every append does before it reaches the database: check the caller's input, turn
 * each new event into its canonical texts (made once, for the hash and for the INSERT),
 * then number and hash the events after the stream's head.
 */
import { randomUUID } from 'node:crypto';
import { InvalidEventError } from './errors.ts';
import { canonicalJson, contentDigest, chainDigest } from './hash.ts';
import { isUuid } from './uuid.ts';
import type { EventMetadata, ExpectedVersion, JsonObject, NewEvent, RecordedEvent } from './types.ts';

/** At most this many events per append (one statement; parameters stay bounded). */
export const MAX_PARAMS_EVENTS = 5000;

/** A stream's last event as an append chains to it: `{version: 0, hash: null}` for a new stream. */
export interface Head {
  version: number;
  hash: string | null;
}

/** A new event checked and in canonical form, not yet numbered. */
export interface Prepared {
  id: string;
  type: string;
  data: JsonObject;
  metadata: EventMetadata;
  dataJson: string;
  metadataJson: string;
}

/** A prepared event numbered and hashed after a head: one row to insert. */
export interface ChainedRow {
  event: Prepared;
  version: number;
  hash: string;
  prevHash: string | null;
}

/**
 * A NUL character in JSON text: the escape `\u0000` after an even number of backslashes.
 * After an odd number the backslash itself is escaped and the text holds the six
 * characters `\u0000` (as in a regex), which PostgreSQL stores like any other text.
 */
const JSON_NUL_ESCAPE = /(?<!\\)(?:\\\\)*\\u0000/;

function holdsNul(json: string): boolean {
  return json.includes('\\u0000') && JSON_NUL_ESCAPE.test(json);
}

export function checkStream(streamId: unknown, events: unknown): void {
  if (typeof streamId !== 'string' || streamId.length === 0) throw new InvalidEventError('streamId must be a non-empty string');
  if (!Array.isArray(events)) throw new InvalidEventError('events must be an array');
}

export function checkExpected(expected: ExpectedVersion): void {
  if (typeof expected === 'number') {
    if (!Number.isInteger(expected) || expected < 0) throw new InvalidEventError(`invalid expectedVersion ${expected}`);
    return;
  }
  if (expected !== 'no_stream' && expected !== 'stream_exists' && expected !== 'any') {
    throw new InvalidEventError(`invalid expectedVersion ${String(expected)}`);
  }
}

export function checkHead(head: Head): void {
  const ok =
    typeof head === 'object' &&
    head !== null &&
    Number.isInteger(head.version) &&
    head.version >= 0 &&
    (head.version === 0 ? head.hash === null : typeof head.hash === 'string' && head.hash.length > 0);
  if (!ok) throw new InvalidEventError('head must be {version: 0, hash: null} or {version > 0, hash: string}');
}

/** Whether a stream at `version` meets the expectation. */
export function matches(expected: ExpectedVersion, version: number): boolean {
  if (expected === 'any') return true;
  if (expected === 'no_stream') return version === 0;
  if (expected === 'stream_exists') return version > 0;
  return version === expected;
}

export function prepareEvents(events: NewEvent[]): Prepared[] {
  if (events.length > MAX_PARAMS_EVENTS) {
    throw new InvalidEventError(`at most ${MAX_PARAMS_EVENTS} events per append`);
  }
  const seen = new Set<string>();
  const firstId = events[0]?.id ?? randomUUID();
  return events.map((event, index) => {
    if (typeof event !== 'object' || event === null) throw new InvalidEventError(`event ${index} is not an object`);
    const id = index === 0 ? firstId : (event.id ?? randomUUID());
    if (!isUuid(id)) throw new InvalidEventError(`event ${index}: id must be a UUID`);
    const lowerId = id.toLowerCase();
    if (seen.has(lowerId)) throw new InvalidEventError(`event ${index}: duplicate id ${id}`);
    seen.add(lowerId);
    if (typeof event.type !== 'string' || event.type.length === 0) throw new InvalidEventError(`event ${index}: type must be a non-empty string`);
    if (typeof event.data !== 'object' || event.data === null || Array.isArray(event.data)) {
      throw new InvalidEventError(`event ${index}: data must be a JSON object`);
    }
    const given = event.metadata;
    if (typeof given !== 'object' || given === null || typeof given.actor !== 'string' || given.actor.length === 0) {
      throw new InvalidEventError(`event ${index}: metadata.actor is required`);
    }
    // Every event carries correlation and causation ids: a batch without them is its own cause.
    const metadata: EventMetadata = {
      ...given,
      correlationId: given.correlationId ?? firstId.toLowerCase(),
      causationId: given.causationId ?? given.correlationId ?? firstId.toLowerCase(),
    };
    let dataJson: string;
    let metadataJson: string;
    try {
      dataJson = canonicalJson(event.data);
      metadataJson = canonicalJson(metadata);
    } catch (error) {
      throw new InvalidEventError(`event ${index}: ${(error as Error).message}`);
    }
    if (holdsNul(dataJson) || holdsNul(metadataJson)) {
      throw new InvalidEventError(`event ${index}: PostgreSQL JSON cannot hold \\u0000`);
    }
    return { id: lowerId, type: event.type, data: event.data, metadata, dataJson, metadataJson };
  });
}

/** Numbers and hashes `prepared` after `head`: the rows to insert, as recorded events. */
export function chain(
  streamId: string,
  prepared: Prepared[],
  head: Head,
  recordedAtDate: Date,
  recordedAt: string,
): { events: RecordedEvent[]; rows: ChainedRow[] } {
  const events: RecordedEvent[] = [];
  const rows: ChainedRow[] = [];
  let prevHash = head.hash;
  let prevDigest: Buffer | null = head.hash === null ? null : Buffer.from(head.hash, 'hex');
  let version = head.version;
  for (const event of prepared) {
    version++;
    const digest = chainDigest(
      prevDigest,
      contentDigest({
        id: event.id,
        streamId,
        version,
        type: event.type,
        data: event.dataJson,
        metadata: event.metadataJson,
        recordedAt,
      }),
    );
    const hash = digest.toString('hex');
    rows.push({ event, version, hash, prevHash });
    events.push({
      id: event.id,
      streamId,
      version,
      position: null,
      type: event.type,
      data: event.data,
      metadata: event.metadata,
      recordedAt: recordedAtDate,
      hash,
      prevHash,
    });
    prevHash = hash;
    prevDigest = digest;
  }
  return { events, rows };
}
