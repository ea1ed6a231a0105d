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
  private body: string | null = null;
  private readonly perChannel = new Map<LiveChannel, Buffer>();
  private readonly frames = new Map<LiveChannel, Buffer>();

  constructor(
    private readonly event: PositionedEvent,
    /** The claim view after the event, or how to compute it (only if some watcher gets the event). */
    private claim: ClaimView | null | (() => ClaimView | null),
  ) {
    this.position = event.position;
    this.streamId = event.streamId;
    this.claimId = claimIdOf(event.streamId);
  }

  private claimView(): ClaimView | null {
    if (typeof this.claim === 'function') this.claim = this.claim();
    return this.claim;
  }

  /** The UTF-8 bytes of the event message on `channel` (encoded once, sent as a text frame). */
  message(channel: LiveChannel): Buffer {
    let message = this.perChannel.get(channel);
    if (message === undefined) {
      this.body ??= JSON.stringify({
        position: this.position,
        claimId: this.claimId,
        version: this.event.version,
        streamId: this.streamId,
        event: {
          type: this.event.type,
          data: this.event.data,
          actor: this.event.metadata.actor,
          recordedAt: toIso(this.event.recordedAt),
        },
        claim: this.claimView(),
      });
      message = Buffer.from(`{"type":"event","channel":${JSON.stringify(channel)},${this.body.slice(1)}`, 'utf8');
      this.perChannel.set(channel, message);
    }
    return message;
  }

  /** `message(channel)` framed for the wire. */
  frame(channel: LiveChannel): Buffer {
    let frame = this.frames.get(channel);
    if (frame === undefined) {
      frame = textFrame(this.message(channel));
      this.frames.set(channel, frame);
    }
    return frame;
  }
}

/**
 * The complete websocket frame (RFC 6455 §5.2: FIN, text opcode, unmasked as a server
 * sends it) around `payload`. Identical for every socket, so it is built once per channel
 * and written as is: no per-socket framing work.
 */
export function textFrame(payload: Buffer): Buffer {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
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
  payload.copy(frame, headerLength);
  return frame;
}

function toIso(value: Date | string): string {
  return value instanceof Date ? value.toISOString() : new Date(value).toISOString();
}
