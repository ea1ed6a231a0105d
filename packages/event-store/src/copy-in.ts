import type { Kysely, Transaction } from 'kysely';
import copyStreams from 'pg-copy-streams';
import { COPY_BINARY_SIGNATURE, PG_EPOCH_SECONDS, submitCopy } from './copy-out.ts';

/**
 * COPY … FROM STDIN in binary format (PostgreSQL through pg only): a tuple writer that
 * encodes fields as they are produced, and `copyIn` to send the data. The field encoders
 * reproduce exactly what the database's own input of the same value gives, or refuse
 * (see `binaryInstant`): a caller writes a refused row another way.
 */

const TEXT_OID = 25;
// The signature, flags (no OIDs), header extension length (none).
export const BINARY_HEADER = Buffer.concat([COPY_BINARY_SIGNATURE, Buffer.alloc(8)]);
export const BINARY_TRAILER = Buffer.from([0xff, 0xff]);

const CANONICAL_UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
// toISOString's text for years 0001–9999 (year 0000 is one the server's parser refuses).
const ISO_INSTANT = /^(?!0000)\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** Whether `value` is a uuid's canonical text (the only form `CopyTupleWriter.uuid` writes). */
export function isCanonicalUuid(value: unknown): value is string {
  return typeof value === 'string' && CANONICAL_UUID.test(value);
}

/** An instant's value in COPY binary (µs since 2000-01-01), or null when not toISOString's text. */
export function binaryInstant(value: unknown): bigint | null {
  if (typeof value !== 'string' || !ISO_INSTANT.test(value)) return null;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? BigInt(ms - PG_EPOCH_SECONDS * 1000) * 1000n : null;
}

const EMPTY_BUFFER = Buffer.alloc(0);
const TUPLE_BUFFER_START = 1 << 21;

/**
 * COPY binary tuples, encoded as they are produced: a batch can wait (e.g. for values
 * computed on another connection) while the next rows are built, and strings held that long
 * were copied by every young-generation collection on the way to the old generation; bytes
 * outside the JS heap are not.
 */
export class CopyTupleWriter {
  // Allocated at the first row, large enough for a typical batch (a row is a few kB; every
  // doubling copies what was written so far).
  buffer = EMPTY_BUFFER;
  at = 0;
  /** Where each row's bytes end. */
  readonly ends: number[] = [];

  private reserve(bytes: number): void {
    if (this.buffer.length - this.at >= bytes) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, TUPLE_BUFFER_START, this.at + bytes));
    this.buffer.copy(grown, 0, 0, this.at);
    this.buffer = grown;
  }

  int16(value: number): void {
    this.reserve(2);
    this.at = this.buffer.writeInt16BE(value, this.at);
  }

  int32(value: number): void {
    this.reserve(4);
    this.at = this.buffer.writeInt32BE(value, this.at);
  }

  /** An int4 field (length and value). */
  int4(value: number): void {
    this.int32(4);
    this.int32(value);
  }

  /** A field of 8 bytes (int8, timestamptz). */
  int64(value: bigint): void {
    this.reserve(12);
    this.at = this.buffer.writeInt32BE(8, this.at);
    this.at = this.buffer.writeBigInt64BE(value, this.at);
  }

  /** A text field (UTF-8), or NULL. */
  text(value: string | null): void {
    if (value === null) return this.int32(-1);
    // A UTF-16 code unit takes at most 3 bytes in UTF-8.
    this.reserve(4 + value.length * 3);
    const lengthAt = this.at;
    const written = this.buffer.write(value, lengthAt + 4);
    this.buffer.writeInt32BE(written, lengthAt);
    this.at = lengthAt + 4 + written;
  }

  /** A uuid field from its canonical text (see `isCanonicalUuid`). */
  uuid(value: string): void {
    this.reserve(20);
    this.at = this.buffer.writeInt32BE(16, this.at);
    this.at += this.buffer.write(value.replace(/-/g, ''), this.at, 16, 'hex');
  }

  /** A text[] field (one dimension, NULL elements allowed), or NULL. */
  textArray(elements: (string | null)[] | null): void {
    if (elements === null) return this.int32(-1);
    this.reserve(4);
    const lengthAt = this.at;
    this.at += 4;
    this.int32(elements.length === 0 ? 0 : 1);
    this.int32(elements.includes(null) ? 1 : 0);
    this.int32(TEXT_OID);
    if (elements.length > 0) {
      this.int32(elements.length);
      this.int32(1);
      for (const element of elements) this.text(element);
    }
    this.buffer.writeInt32BE(this.at - lengthAt - 4, lengthAt);
  }

  endRow(): void {
    this.ends.push(this.at);
  }

  /** Drops what was written since `at` (a row abandoned half-way). */
  rewind(at: number): void {
    this.at = at;
  }
}

/**
 * Runs one COPY … FROM STDIN with `data` on the connection behind `db` (a pg transaction;
 * see `submitCopy`). The data is written before the stream is submitted: it is corked until
 * the server's CopyInResponse, then flushed.
 */
export async function copyIn(db: Kysely<any> | Transaction<any>, text: string, data: Buffer): Promise<void> {
  const stream = copyStreams.from(text);
  const submitted = submitCopy(db, stream, 'finish');
  stream.end(data);
  await submitted;
}
