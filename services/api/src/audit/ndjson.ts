import type { Writable } from 'node:stream';
import { toEventRecord } from '@claimtrail/claims';
import type { PositionedEvent } from '@claimtrail/event-store';

export const NDJSON_CONTENT_TYPE = 'application/x-ndjson';

/**
 * Writes every event after `after` (up to `until`, at most `limit`) as NDJSON to a raw
 * response (or any writable: the CLI's stdout), waiting for 'drain' whenever the socket's buffer is full. Returns the count.
 * Stops early (and releases the store's cursor) when the client goes away.
 */
export async function writeNdjson(
  raw: Writable,
  events: AsyncIterable<PositionedEvent>,
  options: { until?: number; limit?: number } = {},
): Promise<number> {
  let written = 0;
  let closed = raw.destroyed;
  const onClose = () => {
    closed = true;
  };
  raw.on('close', onClose);
  // Lines are grouped into ~64 KiB chunks: one write per line would cost a syscall each.
  let chunk = '';
  const flush = async () => {
    if (chunk === '' || closed) return;
    const ok = raw.write(chunk);
    chunk = '';
    if (!ok && !closed) {
      await new Promise<void>((resolve) => {
        const done = () => {
          raw.off('drain', done);
          raw.off('close', done);
          resolve();
        };
        raw.on('drain', done);
        raw.on('close', done);
      });
    }
  };
  try {
    for await (const event of events) {
      if (closed) break;
      if (options.until !== undefined && event.position > options.until) break;
      chunk += JSON.stringify(toEventRecord(event)) + '\n';
      written++;
      if (chunk.length >= 64 * 1024) await flush();
      if (options.limit !== undefined && written >= options.limit) break;
    }
    await flush();
  } finally {
    raw.off('close', onClose);
  }
  return written;
}
