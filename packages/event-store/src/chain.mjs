// Plain JavaScript on purpose: the verify worker (verify-worker.mjs) loads this file
// directly in a worker thread, where no TypeScript loader is available (tsx, vitest).
// It is the single definition of the hashed content; hash.ts re-exports it with types.
import { hash as oneShot } from 'node:crypto';

/**
 * Canonical JSON (RFC 8785 style): object keys sorted by UTF-16 code units, no
 * whitespace, numbers and strings as `JSON.stringify` writes them, `undefined` members
 * dropped, `toJSON` honoured. Equal JSON values always give the same string, so the
 * hash does not depend on key order or on how PostgreSQL's jsonb re-orders keys.
 */
export function canonicalJson(value) {
  return write(value) ?? 'null';
}

function write(value) {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`not JSON: ${value}`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'bigint':
      throw new TypeError('not JSON: bigint');
    default:
      break;
  }
  if (typeof value.toJSON === 'function') return write(value.toJSON());
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += write(value[i]) ?? 'null';
    }
    return out + ']';
  }
  const keys = Object.keys(value).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const item = write(value[key]);
    if (item === undefined) continue;
    if (!first) out += ',';
    first = false;
    out += JSON.stringify(key) + ':' + item;
  }
  return out + '}';
}

/**
 * canonicalJson for a value that came out of JSON.parse (verify: jsonb text parsed like
 * pg does): such a value holds only null, booleans, finite numbers, strings, arrays and
 * plain objects, so the checks for undefined, functions, toJSON and non-finite numbers can
 * never change the result and are skipped. Same output as canonicalJson for those values.
 */
export function canonicalParsedJson(value) {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError(`not JSON: ${value}`);
  if (typeof value !== 'object' || value === null) return String(value);
  if (Array.isArray(value)) {
    const n = value.length;
    if (n === 0) return '[]';
    let out = '[' + canonicalParsedJson(value[0]);
    for (let i = 1; i < n; i++) out += ',' + canonicalParsedJson(value[i]);
    return out + ']';
  }
  const keys = Object.keys(value);
  const n = keys.length;
  if (n === 0) return '{}';
  if (n > 1) keys.sort();
  let out = '{' + JSON.stringify(keys[0]) + ':' + canonicalParsedJson(value[keys[0]]);
  for (let i = 1; i < n; i++) out += ',' + JSON.stringify(keys[i]) + ':' + canonicalParsedJson(value[keys[i]]);
  return out + '}';
}

/**
 * canonicalParsedJson(JSON.parse(text)) without building the value, for the texts
 * PostgreSQL prints for jsonb (verify): one pass over the text, strings copied verbatim,
 * object members re-ordered. Returns null — the caller then parses — for anything outside
 * the cases where verbatim copying is provably the same output:
 * - a string with a backslash (escapes: JSON.stringify might write them differently);
 *   a backslash-free JSON string holds no control character, and JSON.stringify writes
 *   every other character (U+2028 included; lone surrogates cannot come from UTF-8) as is;
 * - a number other than a plain integer of at most 15 digits (those print the same
 *   through Number → String; "-0" excluded); others are converted like JSON.parse does;
 * - anything that is not valid JSON.
 */
export function canonicalFromJsonText(text) {
  src = text;
  at = 0;
  failed = false;
  const out = scanValue();
  skipSpace();
  const ok = !failed && at === src.length;
  src = '';
  return ok ? out : null;
}

let src = '';
let at = 0;
let failed = false;
const PLAIN_INTEGER = /^-?(?:0|[1-9][0-9]{0,14})$/;
const JSON_NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

function skipSpace() {
  for (;;) {
    const c = src.charCodeAt(at);
    if (c === 32 || c === 10 || c === 13 || c === 9) at++;
    else return;
  }
}

// A string token without backslash: its text, quotes included ('' and failed on anything else).
function scanString() {
  const start = at;
  const end = src.indexOf('"', start + 1);
  if (end < 0) {
    failed = true;
    return '';
  }
  const token = src.slice(start, end + 1);
  if (token.includes('\\')) {
    failed = true;
    return '';
  }
  at = end + 1;
  return token;
}

function byKey(a, b) {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

function scanValue() {
  if (failed) return '';
  skipSpace();
  const c = src.charCodeAt(at);
  if (c === 34) return scanString();
  if (c === 123) {
    at++;
    skipSpace();
    if (src.charCodeAt(at) === 125) {
      at++;
      return '{}';
    }
    const members = [];
    for (;;) {
      skipSpace();
      if (src.charCodeAt(at) !== 34) {
        failed = true;
        return '';
      }
      const key = scanString();
      skipSpace();
      if (failed || src.charCodeAt(at) !== 58) {
        failed = true;
        return '';
      }
      at++;
      const value = scanValue();
      if (failed) return '';
      // Sort on the key itself (no quotes: '"' sorts after ' ' and '!').
      members.push([key.slice(1, -1), key, value]);
      skipSpace();
      const next = src.charCodeAt(at++);
      if (next === 44) continue;
      if (next === 125) break;
      failed = true;
      return '';
    }
    if (members.length > 1) {
      members.sort(byKey);
      // A repeated key: JSON.parse keeps the last one; leave that to the parser.
      for (let i = 1; i < members.length; i++) {
        if (members[i][0] === members[i - 1][0]) {
          failed = true;
          return '';
        }
      }
    }
    let out = '{' + members[0][1] + ':' + members[0][2];
    for (let i = 1; i < members.length; i++) out += ',' + members[i][1] + ':' + members[i][2];
    return out + '}';
  }
  if (c === 91) {
    at++;
    skipSpace();
    if (src.charCodeAt(at) === 93) {
      at++;
      return '[]';
    }
    let out = '[';
    for (let first = true; ; first = false) {
      const value = scanValue();
      if (failed) return '';
      out += first ? value : ',' + value;
      skipSpace();
      const next = src.charCodeAt(at++);
      if (next === 44) continue;
      if (next === 93) return out + ']';
      failed = true;
      return '';
    }
  }
  if (c === 116 && src.startsWith('true', at)) {
    at += 4;
    return 'true';
  }
  if (c === 102 && src.startsWith('false', at)) {
    at += 5;
    return 'false';
  }
  if (c === 110 && src.startsWith('null', at)) {
    at += 4;
    return 'null';
  }
  if (c === 45 || (c >= 48 && c <= 57)) {
    const start = at;
    for (;;) {
      const d = src.charCodeAt(at);
      if ((d >= 48 && d <= 57) || d === 45 || d === 43 || d === 46 || d === 101 || d === 69) at++;
      else break;
    }
    const token = src.slice(start, at);
    if (token !== '-0' && PLAIN_INTEGER.test(token)) return token;
    if (!JSON_NUMBER.test(token)) {
      failed = true;
      return '';
    }
    const number = Number(token);
    if (!Number.isFinite(number)) throw new TypeError(`not JSON: ${number}`);
    return String(number);
  }
  failed = true;
  return '';
}

/** The canonical text `contentHash` hashes: keys in sorted order, values already canonical. */
export function contentText(content) {
  return (
    '{"data":' + content.data +
    ',"id":' + JSON.stringify(content.id) +
    ',"metadata":' + content.metadata +
    ',"recordedAt":' + JSON.stringify(content.recordedAt) +
    ',"streamId":' + JSON.stringify(content.streamId) +
    ',"type":' + JSON.stringify(content.type) +
    ',"version":' + String(content.version) +
    '}'
  );
}

export function contentDigest(content) {
  return oneShot('sha256', contentText(content), 'buffer');
}

// Scratch for prev ‖ content: crypto.hash copies its input synchronously, so one buffer is reused.
const pair = Buffer.alloc(64);

export function chainDigest(prev, content) {
  if (prev === null) return oneShot('sha256', content, 'buffer');
  if (prev.length !== 32 || content.length !== 32) return oneShot('sha256', Buffer.concat([prev, content]), 'buffer');
  pair.set(prev, 0);
  pair.set(content, 32);
  return oneShot('sha256', pair, 'buffer');
}

/**
 * The per-event checks of verify, in (stream_id, version) order, carrying the chain across
 * calls. `check` returns null or the reason the event is broken. Used on the main
 * thread and in the verify worker: one definition of what "intact" means.
 */
export function createChainChecker(seed) {
  // A seed is the event just before the first one this checker sees (another checker
  // verifies it): { streamId, version, hash }. Starting from its stored hash is the same as
  // starting from its computed digest whenever that event is intact — and when it is not,
  // the other checker reports it, earlier in (stream_id, version) order than anything here.
  let lastStream = seed ? seed.streamId : null;
  let lastVersion = seed ? seed.version : 0;
  let prevHash = seed ? seed.hash : null;
  let prevDigest = seed ? Buffer.from(seed.hash, 'hex') : null;
  return {
    /** data/metadata: canonical JSON texts; recordedAt: ISO-8601 with milliseconds. */
    check(id, streamId, version, type, data, metadata, recordedAt, hash, rowPrevHash) {
      if (streamId !== lastStream) {
        lastStream = streamId;
        lastVersion = 0;
        prevHash = null;
        prevDigest = null;
      }
      if (version !== lastVersion + 1) return 'version_gap';
      if (rowPrevHash !== prevHash) return 'prev_hash_mismatch';
      // Raw digests along the chain: prevDigest is the digest computed for the previous
      // row, whose hex was just checked equal to this row's prev_hash.
      const digest = chainDigest(prevDigest, contentDigest({ id, streamId, version, type, data, metadata, recordedAt }));
      if (digest.toString('hex') !== hash) return 'hash_mismatch';
      lastVersion = version;
      prevHash = hash;
      prevDigest = digest;
      return null;
    },
  };
}
