import type { FastifyInstance } from 'fastify';
import { HttpProblem } from '../errors.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function isStorableText(text: string): boolean {
  return !text.includes('\u0000') && !LONE_SURROGATE.test(text);
}

/**
 * A string PostgreSQL cannot store (NUL) or that is not valid Unicode (unpaired
 * surrogate), or a prototype-polluting key. Returns the field path, null when clean.
 * Iterative: a deeply nested body must not overflow the stack. Runs on every request's
 * params and query: clean input (nearly all of it) allocates no path strings, each value
 * keeps its parent and key and the path is spelled out only for the one that fails.
 */
export function findUnstorable(value: unknown): string | null {
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
        } else if (item !== null && typeof item === 'object') stack.push({ value: item, parent: visit, key: i });
      }
    } else {
      for (const key of Object.keys(current as object)) {
        if (key === '__proto__' || !isStorableText(key)) return pathOf(visit, key);
        const item: unknown = (current as Record<string, unknown>)[key];
        if (typeof item === 'string') {
          if (!isStorableText(item)) return pathOf(visit, key);
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
 * unpaired surrogates anywhere (PostgreSQL would refuse them later with a 500), an empty
 * body is "no body".
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
    const bad = findUnstorable(value);
    if (bad !== null) {
      return done(
        new HttpProblem('validation', `${bad} contains a NUL character, an unpaired surrogate or a forbidden key`, {
          field: bad,
          errors: [{ field: bad, message: 'not storable text' }],
        }),
        undefined,
      );
    }
    done(null, value);
  });
}

/** The same guard for query strings and path parameters (e.g. `?q=%00`). */
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
  const bad = findUnstorable(value);
  return bad === null ? null : new HttpProblem('validation', `${bad} contains a NUL character or invalid Unicode`, { field: bad, in: part });
}
