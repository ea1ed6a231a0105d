import type { FastifyInstance } from 'fastify';
import { HttpProblem } from '../errors.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** Most input is ASCII: it can hold neither a surrogate nor anything NFC would change. */
const NON_ASCII = /[^\x00-\x7F]/;

export function isStorableText(text: string): boolean {
  return !text.includes('\u0000') && !(NON_ASCII.test(text) && LONE_SURROGATE.test(text));
}

/** `text` in Unicode NFC: the composed and decomposed spellings of a word are one string. */
export function toNfc(text: string): string {
  return NON_ASCII.test(text) ? text.normalize('NFC') : text;
}

/**
 * A string PostgreSQL cannot store (NUL) or that is not valid Unicode (unpaired
 * surrogate), or a prototype-polluting key. Returns the field path, null when clean.
 */
export function findUnstorable(value: unknown): string | null {
  return walk(value, false);
}

/**
 * The boundary's one pass over a parsed body, query or params: refuses what
 * `findUnstorable` refuses (returns its path) and rewrites every other string value to NFC
 * in place, so that what is stored, searched and filtered never depends on which Unicode
 * form a client's keyboard or library produced. A bare string value is only checked
 * (there is no place to write it back; no route takes one).
 */
export function normalizeInput(value: unknown): string | null {
  return walk(value, true);
}

/**
 * Iterative: a deeply nested body must not overflow the stack. Runs on every request's
 * params and query: clean ASCII input (nearly all of it) allocates nothing; each value
 * keeps its parent and key and the path is spelled out only for the one that fails.
 */
function walk(value: unknown, normalize: boolean): string | null {
  if (typeof value === 'string') return isStorableText(value) ? null : 'body';
  if (value === null || typeof value !== 'object') return null;
  const stack: Visit[] = [{ value, parent: null, key: '' }];
  while (stack.length > 0) {
    const visit = stack.pop()!;
    const current = visit.value;
    if (Array.isArray(current)) {
      for (let i = 0; i < current.length; i++) {
        const item: unknown = current[i];
        if (typeof item === 'string') {
          if (!isStorableText(item)) return pathOf(visit, i);
          if (normalize && NON_ASCII.test(item)) current[i] = item.normalize('NFC');
        } else if (item !== null && typeof item === 'object') stack.push({ value: item, parent: visit, key: i });
      }
    } else {
      const record = current as Record<string, unknown>;
      for (const key of Object.keys(record)) {
        if (key === '__proto__' || !isStorableText(key)) return pathOf(visit, key);
        const item: unknown = record[key];
        if (typeof item === 'string') {
          if (!isStorableText(item)) return pathOf(visit, key);
          if (normalize && NON_ASCII.test(item)) record[key] = item.normalize('NFC');
        } else if (item !== null && typeof item === 'object') stack.push({ value: item, parent: visit, key });
      }
    }
  }
  return null;
}

interface Visit {
  value: object;
  parent: Visit | null;
  /** Where `value` sits in its parent ('' for the root). */
  key: string | number;
}

/** `a.b[2].c`: the path of `key` inside `visit`'s value. */
function pathOf(visit: Visit, key: string | number): string {
  const keys: (string | number)[] = [key];
  for (let at: Visit | null = visit; at !== null && at.parent !== null; at = at.parent) keys.push(at.key);
  let path = '';
  for (let i = keys.length - 1; i >= 0; i--) {
    const k = keys[i]!;
    path = typeof k === 'number' ? `${path}[${k}]` : path ? `${path}.${k}` : k;
  }
  return path || 'body';
}

/**
 * JSON bodies: strict UTF-8 (invalid bytes are a 400, not silently replaced), no NUL or
 * unpaired surrogates anywhere (PostgreSQL would refuse them later with a 500), strings in
 * NFC, an empty body is "no body".
 */
export function registerJsonParser(app: FastifyInstance): void {
  // JSON only: any other media type (text/plain included) is a 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    const buffer = body as Buffer;
    if (buffer.length === 0) return done(null, undefined);
    let text: string;
    try {
      text = utf8.decode(buffer);
    } catch {
      return done(new HttpProblem('validation', 'the request body is not valid UTF-8', { field: 'body' }), undefined);
    }
    if (text.trim() === '') return done(null, undefined);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      const reason = error instanceof Error ? error.message.slice(0, 200) : 'syntax error';
      return done(new HttpProblem('validation', `the request body is not valid JSON: ${reason}`, { field: 'body' }), undefined);
    }
    const bad = normalizeInput(value);
    if (bad !== null) {
      const message = unstorableMessage(bad);
      return done(new HttpProblem('validation', message, { field: bad, errors: [{ field: bad, message }] }), undefined);
    }
    done(null, value);
  });
}

/** The same guard and NFC normalization for query strings and path parameters (e.g. `?q=%00`). */
export function registerTextGuards(app: FastifyInstance): void {
  // Callback style (runs on every request; an async hook costs a promise and a microtask).
  app.addHook('preValidation', (request, _reply, done) => {
    const bad = unstorableIn(request.query, 'querystring') ?? unstorableIn(request.params, 'params');
    if (bad !== null) return done(bad);
    // Bodiless steps (triage, submit, publish) may come without a body at all.
    if (request.body === undefined && (request.method === 'POST' || request.method === 'PUT' || request.method === 'PATCH')) {
      request.body = {};
    }
    done();
  });
}

function unstorableIn(value: unknown, part: 'querystring' | 'params'): HttpProblem | null {
  if (!value || typeof value !== 'object') return null;
  const bad = normalizeInput(value);
  return bad === null ? null : new HttpProblem('validation', unstorableMessage(bad), { field: bad, in: part });
}

function unstorableMessage(path: string): string {
  return path === '__proto__' || path.endsWith('.__proto__')
    ? `${path}: the key __proto__ is not allowed`
    : `${path} must not contain a NUL character (U+0000) or an unpaired UTF-16 surrogate`;
}
