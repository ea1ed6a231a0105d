import type { ClaimView } from '@claimtrail/domain';
import type { PositionedEvent } from '@claimtrail/event-store';
import type { LiveChannel } from '@claimtrail/client';
import { claimIdOf } from './views.ts';

/**
 * One event, serialized once. The JSON body (with the claim view, the expensive part) is
 * built on first use and shared; each channel's message only prefixes its own
 * `type`/`channel` fields to it, so N watchers of a channel cost one string, not N.
 */
export class PreparedEvent {
  readonly position: number;
  readonly streamId: string;
  readonly claimId: string | null;
  /** When the event was recorded (ms since the epoch): the fan-out measures its delay from it. */
  readonly recordedAtMs: number;
  /**
   * What the message is made from, until it is first encoded; then dropped, so that an
   * event kept for replays (the hub's recent events) holds its frames and nothing else.
   */
  private source: { event: PositionedEvent; claim: ClaimView | null | (() => ClaimView | null) } | null;
  /** The message's bytes after the channel prefix (a view into the first frame built). */
  private rest: Buffer | null = null;
  /** One buffer per channel: the whole frame; the message is a view into it (no copy). */
  private readonly frames = new Map<LiveChannel, Buffer>();

  constructor(
    event: PositionedEvent,
    /** The claim view after the event, or how to compute it (only if some watcher gets the event). */
    claim: ClaimView | null | (() => ClaimView | null),
  ) {
    this.position = event.position;
    this.streamId = event.streamId;
    this.claimId = claimIdOf(event.streamId);
    this.recordedAtMs = event.recordedAt instanceof Date ? event.recordedAt.getTime() : Date.parse(event.recordedAt);
    this.source = { event, claim };
  }

  /** The UTF-8 bytes of the event message on `channel` (encoded once, sent as a text frame). */
  message(channel: LiveChannel): Buffer {
    const frame = this.frame(channel);
    return frame.subarray(frameHeaderLength(frame));
  }

  /**
   * The message on `channel` framed for the wire. Encoded once per channel and kept: the
   * live fan-out and every replay served from the hub's recent events share it.
   */
  frame(channel: LiveChannel): Buffer {
    let frame = this.frames.get(channel);
    if (frame !== undefined) return frame;
    const prefix = `{"type":"event","channel":${JSON.stringify(channel)},`;
    if (this.rest === null) {
      const { event, claim } = this.source!;
      const body = JSON.stringify({
        position: this.position,
        claimId: this.claimId,
        version: event.version,
        streamId: this.streamId,
        event: {
          type: event.type,
          data: event.data,
          actor: event.metadata.actor,
          recordedAt: toIso(event.recordedAt),
        },
        claim: typeof claim === 'function' ? claim() : claim,
      });
      frame = textFrame(prefix + body.slice(1));
      this.rest = frame.subarray(frameHeaderLength(frame) + Buffer.byteLength(prefix));
      this.source = null;
    } else {
      frame = textFrame(Buffer.concat([Buffer.from(prefix), this.rest]));
    }
    this.frames.set(channel, frame);
    return frame;
  }
}

/**
 * The complete websocket frame (RFC 6455 §5.2: FIN, text opcode, unmasked as a server
 * sends it) around `payload`, encoded straight into the frame. Identical for every
 * socket, so it is built once per channel and written as is: no per-socket framing work.
 */
export function textFrame(payload: string | Buffer): Buffer {
  const length = typeof payload === 'string' ? Buffer.byteLength(payload, 'utf8') : payload.length;
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  // Its own memory, not a slice of the shared pool: a frame may be kept for minutes (the
  // hub's recent events), and a pooled slice would keep its whole 8 KiB slab alive.
  const frame = Buffer.allocUnsafeSlow(headerLength + length);
  frame[0] = 0x81;
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  if (typeof payload === 'string') frame.write(payload, headerLength, 'utf8');
  else payload.copy(frame, headerLength);
  return frame;
}

/** The header length of a frame `textFrame` built (from its length byte). */
export function frameHeaderLength(frame: Buffer): number {
  const marker = frame[1]! & 0x7f;
  return marker < 126 ? 2 : marker === 126 ? 4 : 10;
}

function toIso(value: Date | string): string {
  return value instanceof Date ? value.toISOString() : new Date(value).toISOString();
}

const OPEN_BRACKET = Buffer.from('[');
const COMMA = Buffer.from(',');
const CLOSE_BRACKET = Buffer.from(']');

/**
 * One frame holding the messages of `events` on `channel` as a JSON array (the coalesced
 * form a subscription opts in to with `batch`): each message's bytes are the ones its
 * single frame carries, copied once into the array frame.
 */
export function arrayFrame(events: readonly PreparedEvent[], channel: LiveChannel): Buffer {
  const parts: Buffer[] = [OPEN_BRACKET];
  events.forEach((event, i) => {
    if (i > 0) parts.push(COMMA);
    parts.push(event.message(channel));
  });
  parts.push(CLOSE_BRACKET);
  return textFrame(Buffer.concat(parts));
}
