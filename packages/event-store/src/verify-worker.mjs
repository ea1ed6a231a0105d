// The verify worker (see verify.ts): receives pages of event rows as the raw text
// PostgreSQL sent, and does what the main thread would otherwise do per row — parse the
// jsonb and timestamptz texts exactly as pg's own type parsers do, canonicalize, hash,
// check the chain. Plain JavaScript: no TypeScript loader exists in a worker thread.
import { parentPort } from 'node:worker_threads';
import pg from 'pg';
import { canonicalFromJsonText, canonicalParsedJson, createChainChecker } from './chain.mjs';

// The parser the pool would apply to a timestamptz column (postgres-date).
const parseTimestamptz = pg.types.getTypeParser(1184, 'text');

// toISOString() of that parse, without the Date, for the one shape the store writes: UTC
// output, 4-digit year, at most 3 fraction digits. The milliseconds come from a table built
// with the parser's own arithmetic (1000 * parseFloat(fraction), truncated by Date.UTC), so
// the result is the same string; every other text goes through the parser.
const UTC_MS = /^([1-9][0-9]{3}-[0-9]{2}-[0-9]{2}) ([0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]{1,3})?\+00$/;
const MILLIS = new Map([['', '000']]);
for (let digits = 1; digits <= 3; digits++) {
  for (let n = 0; n < 10 ** digits; n++) {
    const fraction = '.' + String(n).padStart(digits, '0');
    MILLIS.set(fraction, String(Math.trunc(1000 * parseFloat(fraction))).padStart(3, '0'));
  }
}
function isoOf(text) {
  const m = UTC_MS.exec(text);
  if (m !== null) return m[1] + 'T' + m[2] + '.' + MILLIS.get(m[3] ?? '') + 'Z';
  const recorded = parseTimestamptz(text);
  return (recorded instanceof Date ? recorded : new Date(recorded)).toISOString();
}

// Message: { page, seed, rows } with rows flattened, COLUMNS per row (see verify.ts):
// id, stream_id, version, type, data, metadata, recorded_at, hash, prev_hash. seed: the
// event before the page (checked by whoever got the previous page), or null.
const COLUMNS = 9;
parentPort.on('message', ({ page, seed, rows }) => {
  try {
    const checker = createChainChecker(seed);
    const n = rows.length / COLUMNS;
    for (let i = 0; i < n; i++) {
      const o = i * COLUMNS;
      const reason = checker.check(
        rows[o],
        rows[o + 1],
        parseInt(rows[o + 2], 10),
        rows[o + 3],
        canonicalFromJsonText(rows[o + 4]) ?? canonicalParsedJson(JSON.parse(rows[o + 4])),
        canonicalFromJsonText(rows[o + 5]) ?? canonicalParsedJson(JSON.parse(rows[o + 5])),
        isoOf(rows[o + 6]),
        rows[o + 7],
        rows[o + 8],
      );
      if (reason !== null) {
        parentPort.postMessage({ page, checked: i + 1, broken: { index: i, reason } });
        return;
      }
    }
    parentPort.postMessage({ page, checked: n, broken: null });
  } catch (error) {
    parentPort.postMessage({ page, error: error instanceof Error ? error.message : String(error) });
  }
});
