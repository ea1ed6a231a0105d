/**
 * THE error mapping: every failure becomes one RFC 9457 problem document with a stable
 * `code`. Bad input of any kind is a 4xx; only our own bugs are a 500; an unreachable or
 * exhausted database is a 503 with Retry-After.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CATALOGUE, EXPECTED_SHAPES, PROBLEM_CONTENT_TYPE, problemType, type ErrorCode } from '@claimtrail/contract';
import { isCommandError } from '@claimtrail/claims';
import { TreeIncompleteError } from '@claimtrail/event-store';
import { redactParameterKey, redactUrl } from './redact.ts';

export interface FieldError {
  field: string;
  message: string;
}

export class HttpProblem extends Error {
  readonly statusCode: number;
  constructor(
    readonly code: ErrorCode,
    detail: string,
    readonly extra: Record<string, unknown> & { field?: string; errors?: FieldError[] } = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = 'HttpProblem';
    this.statusCode = ERROR_CATALOGUE[code].status;
  }
}

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  requestId?: string;
  [key: string]: unknown;
}

interface Mapped {
  code: ErrorCode;
  status: number;
  detail: string;
  extra: Record<string, unknown>;
  headers: Record<string, string>;
  /** Log level: our fault (error), infrastructure (warn), the client's (none). */
  log: 'error' | 'warn' | null;
}

const RETRY_AFTER_SECONDS = '2';

/** pg/PGlite/pool failures that mean "the database is not available right now". */
function isUnavailable(error: { code?: unknown; message?: unknown; name?: unknown }): boolean {
  const code = typeof error.code === 'string' ? error.code : '';
  const message = typeof error.message === 'string' ? error.message : '';
  if (/^(08|53|57P)/.test(code) || code === '57014') return true; // connection, resources, shutdown, statement timeout
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', 'EAI_AGAIN', 'closed'].includes(code)) return true;
  // FATAL ends the session: every such error is about the connection, not the request
  // (e.g. 55000 "database … is not currently accepting connections" while connecting).
  if ((error as { severity?: unknown }).severity === 'FATAL') return true;
  return /timeout exceeded when trying to connect|Connection terminated|connection error|not queryable|Cannot use a pool after calling end|PGlite is closed|driver has already been destroyed/i.test(
    message,
  );
}

function ajvField(error: { instancePath?: string; params?: Record<string, unknown> }, context: string | undefined): string {
  const path = (error.instancePath ?? '')
    .split('/')
    .filter(Boolean)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const params = error.params ?? {};
  if (typeof params.missingProperty === 'string') path.push(params.missingProperty);
  if (typeof params.additionalProperty === 'string') path.push(params.additionalProperty);
  // A query parameter is named by its key, also when it carries several values (state=a,b).
  if (context === 'querystring' && path.length > 0) return redactParameterKey(path[0]!);
  const joined = path.reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), '');
  if (joined) return joined;
  return context === 'body' || context === undefined ? 'body' : context;
}

type AjvError = { instancePath?: string; keyword?: string; message?: string; params?: Record<string, unknown> };

/** "<field> must …": what the field expects, in words (patterns and formats by EXPECTED_SHAPES). */
function ajvMessage(error: AjvError, field: string): string {
  const params = error.params ?? {};
  switch (error.keyword) {
    case 'required':
      return `${field} is required`;
    case 'additionalProperties':
      return `${field} is not a known field`;
    case 'enum':
      return `${field} must be one of ${((params.allowedValues as unknown[]) ?? []).join(', ')}`;
    case 'pattern':
      return `${field} must be ${EXPECTED_SHAPES[String(params.pattern)] ?? 'in the documented format'}`;
    case 'format':
      return `${field} must be ${EXPECTED_SHAPES[String(params.format)] ?? `a valid ${String(params.format)}`}`;
    case 'minLength':
      return params.limit === 1 ? `${field} must not be empty` : `${field} must be at least ${String(params.limit)} characters`;
    case 'maxLength':
      return `${field} must be at most ${String(params.limit)} characters`;
    case 'maxItems':
      return `${field} may hold at most ${String(params.limit)} items`;
    case 'minimum':
      return `${field} must be at least ${String(params.limit)}`;
    case 'maximum':
      return `${field} must be at most ${String(params.limit)}`;
    case 'type': {
      const type = String(params.type);
      return `${field} must be ${type === 'integer' ? 'a whole number' : type === 'array' ? 'an array' : type === 'object' ? 'an object' : type === 'null' ? 'null' : `a ${type}`}`;
    }
    default:
      return `${field} ${error.message ?? 'is invalid'}`;
  }
}

/**
 * A nullable field (`anyOf: [X, null]`) that fails reports X's error, "must be null" and
 * "must match a schema in anyOf": only the first says anything; drop the other two when
 * the field has a more specific error.
 */
function usefulAjvErrors(errors: AjvError[], fieldOf: (error: AjvError) => string): AjvError[] {
  const isNoise = (e: AjvError) => e.keyword === 'anyOf' || (e.keyword === 'type' && e.params?.type === 'null');
  const specific = new Set(errors.filter((e) => !isNoise(e)).map(fieldOf));
  return errors.filter((e) => !isNoise(e) || !specific.has(fieldOf(e)));
}

/**
 * What the database said about a value it would not take, for the SQLSTATEs a request's
 * values can reach: class 22 (data exception) and the two class-54 limits a value can hit
 * (a search vector over 1 MB, nesting too deep). Null for everything else, which stays a
 * server fault (e.g. 2200H, a sequence at its maximum; 54011/54023, a statement we built
 * too wide).
 */
export function databaseValueRefusal(sqlState: string): string | null {
  switch (sqlState) {
    case '22001':
      return 'a value is longer than the database accepts';
    case '22003':
      return 'a number is outside the range the database accepts';
    case '22007':
    case '22008':
      return 'a date or time is not a valid calendar date/time';
    case '22P02':
      return 'a value is not in the format the database expects';
    case '22021':
    case '22P05':
      return 'a text contains a character the database cannot store';
    case '2200H':
      return null;
    case '54000':
      return 'the text is too long to be indexed for search';
    case '54001':
      return 'a value is nested too deeply';
  }
  return /^22[0-9A-Z]{3}$/.test(sqlState) ? 'a value in the request is not acceptable' : null;
}

export function mapError(error: unknown): Mapped {
  const base = { extra: {}, headers: {}, log: null } as const;
  if (error instanceof HttpProblem) {
    return { ...base, code: error.code, status: error.statusCode, detail: error.message, extra: error.extra, headers: error.headers };
  }
  if (error instanceof TreeIncompleteError) {
    return { ...base, code: 'tree_incomplete', status: 409, detail: `${error.message}; GET /audit/verify names the first leaf that differs`, log: 'error' };
  }
  if (isCommandError(error)) {
    if (error.code === 'conflict_retries_exhausted') {
      return { ...base, code: 'service_unavailable', status: 503, detail: error.message, headers: { 'retry-after': '1' }, log: 'warn' };
    }
    // No cast: every code the domain and the command service refuse with must be catalogued.
    const code: ErrorCode = error.code;
    const extra: Record<string, unknown> = {};
    if (error.field !== undefined) {
      extra.field = error.field;
      extra.errors = [{ field: error.field, message: error.message }];
    }
    if (error.currentVersion !== undefined) extra.currentVersion = error.currentVersion;
    const headers: Record<string, string> = {};
    if (error.currentVersion !== undefined) headers.etag = `"${error.currentVersion}"`;
    return { ...base, code, status: ERROR_CATALOGUE[code].status, detail: error.message, extra, headers };
  }

  const e = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as FastifyError & {
    validation?: { instancePath?: string; keyword?: string; message?: string; params?: Record<string, unknown> }[];
    validationContext?: string;
  };

  if (Array.isArray(e.validation) && e.validation.length > 0) {
    const fieldOf = (v: AjvError) => ajvField(v, e.validationContext);
    const errors = usefulAjvErrors(e.validation.slice(0, 20), fieldOf).map((v) => {
      const field = fieldOf(v);
      return { field, message: ajvMessage(v, field) };
    });
    const first = errors[0]!;
    return {
      ...base,
      code: 'validation',
      status: 400,
      detail: errors.map((x) => x.message).join('; '),
      extra: { field: first.field, errors, in: e.validationContext ?? 'body' },
    };
  }

  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { ...base, code: 'payload_too_large', status: 413, detail: 'the request body exceeds the size limit' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { ...base, code: 'unsupported_media_type', status: 415, detail: 'send JSON with Content-Type: application/json' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { ...base, code: 'validation', status: 400, detail: e.message, extra: { field: 'body' } };
    case 'FST_ERR_BAD_URL':
      return { ...base, code: 'validation', status: 400, detail: 'the URL is malformed (bad percent-encoding?)', extra: { field: 'url' } };
    case 'FST_ERR_RATE_LIMIT_EXCEEDED':
      return { ...base, code: 'rate_limited', status: 429, detail: 'rate limit exceeded; retry later' };
  }

  if (isUnavailable(e)) {
    return {
      ...base,
      code: 'service_unavailable',
      status: 503,
      detail: 'the database is unavailable or busy; retry shortly',
      headers: { 'retry-after': RETRY_AFTER_SECONDS },
      log: 'warn',
    };
  }
  // Data exceptions raised by PostgreSQL for values that passed validation (a safety net:
  // invalid text representation, out of range, bad encoding…). Still the client's input;
  // logged because validation should have caught it first.
  const refusedValue = typeof e.code === 'string' ? databaseValueRefusal(e.code) : null;
  if (refusedValue !== null) return { ...base, code: 'validation', status: 400, detail: refusedValue, log: 'warn' };

  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500) {
    const code: ErrorCode =
      status === 401 ? 'unauthorized'
      : status === 403 ? 'forbidden_role'
      : status === 404 ? 'not_found'
      : status === 405 ? 'method_not_allowed'
      : status === 406 ? 'not_acceptable'
      : status === 408 ? 'request_timeout'
      : status === 413 ? 'payload_too_large'
      : status === 414 ? 'uri_too_long'
      : status === 415 ? 'unsupported_media_type'
      : status === 429 ? 'rate_limited'
      : status === 431 ? 'headers_too_large'
      : 'validation';
    return { ...base, code, status, detail: e.message || ERROR_CATALOGUE[code].title };
  }
  return { ...base, code: 'internal', status: 500, detail: 'internal error; see the server log (requestId)', log: 'error' };
}

export function problemDocument(mapped: Mapped, request: FastifyRequest): ProblemDocument {
  return {
    type: problemType(mapped.code),
    title: ERROR_CATALOGUE[mapped.code].title,
    status: mapped.status,
    detail: mapped.detail,
    code: mapped.code,
    instance: redactUrl(request.url).split('?')[0]!.slice(0, 500),
    requestId: request.id,
    ...mapped.extra,
  };
}

export function sendProblem(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const mapped = mapError(error);
  if (mapped.log === 'error') request.log.error({ err: error }, 'request failed');
  else if (mapped.log === 'warn') request.log.warn({ err: error }, mapped.detail);
  for (const [name, value] of Object.entries(mapped.headers)) reply.header(name, value);
  return reply
    .code(mapped.status)
    .type(PROBLEM_CONTENT_TYPE)
    .send(JSON.stringify(problemDocument(mapped, request)));
}
