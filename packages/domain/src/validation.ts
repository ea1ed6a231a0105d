import { isRating } from './ratings.ts';
import { STANCES, type Refusal, type Stance, type Rating } from './types.ts';

/** Maximum lengths (characters, after trimming). */
export const LIMITS = {
  text: 2000,
  claimant: 200,
  language: 35,
  tag: 50,
  tags: 20,
  appearances: 20,
  url: 2000,
  outlet: 200,
  title: 500,
  excerpt: 1000,
  reason: 2000,
  summary: 2000,
  body: 5000,
  rationale: 5000,
  note: 2000,
  id: 200,
} as const;

export class ValidationError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
  toRefusal(): Refusal {
    return { code: 'validation', message: this.message, field: this.field };
  }
}

function fail(field: string, message: string): never {
  throw new ValidationError(field, message);
}

export function requiredString(value: unknown, field: string, max: number): string {
  if (typeof value !== 'string') fail(field, `${field} is required and must be a string`);
  const trimmed = value.trim();
  if (trimmed.length === 0) fail(field, `${field} must not be empty`);
  if (trimmed.length > max) fail(field, `${field} must be at most ${max} characters`);
  return trimmed;
}

/** Absent, null or blank → null. */
export function optionalString(value: unknown, field: string, max: number): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') fail(field, `${field} must be a string`);
  const trimmed = value.trim();
  if (trimmed.length === 0) return null;
  if (trimmed.length > max) fail(field, `${field} must be at most ${max} characters`);
  return trimmed;
}

export function optionalUrl(value: unknown, field: string): string | null {
  const url = optionalString(value, field, LIMITS.url);
  if (url === null) return null;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    fail(field, `${field} must be an absolute http(s) URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') fail(field, `${field} must be an http(s) URL`);
  return url;
}

const LANGUAGE = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/;

export function optionalLanguage(value: unknown, field: string): string | null {
  const language = optionalString(value, field, LIMITS.language);
  if (language === null) return null;
  if (!LANGUAGE.test(language)) fail(field, `${field} must be a BCP-47 language tag such as "en" or "de-CH"`);
  // Primary subtag lower-case: "EN" and "en" are the same language for search and filters.
  const [primary, ...rest] = language.split('-');
  return [primary!.toLowerCase(), ...rest].join('-');
}

const DATE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

export function optionalDate(value: unknown, field: string): string | null {
  const text = optionalString(value, field, 40);
  if (text === null) return null;
  if (!DATE.test(text) || Number.isNaN(Date.parse(text))) fail(field, `${field} must be an ISO-8601 date`);
  return text;
}

export function stance(value: unknown, field: string): Stance {
  if (typeof value !== 'string' || !(STANCES as readonly string[]).includes(value)) {
    fail(field, `${field} must be one of ${STANCES.join(', ')}`);
  }
  return value as Stance;
}

export function rating(value: unknown, field: string): Rating {
  if (!isRating(value)) {
    fail(field, `${field} must be one of true, mostly_true, mixed, mostly_false, false, misleading, unverifiable`);
  }
  return value;
}

export function tags(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) fail(field, `${field} must be an array of strings`);
  if (value.length > LIMITS.tags) fail(field, `${field} may hold at most ${LIMITS.tags} tags`);
  const out: string[] = [];
  value.forEach((tag, i) => {
    // Tags are filter keys: normalised to lower case, duplicates dropped.
    const t = requiredString(tag, `${field}[${i}]`, LIMITS.tag).toLowerCase();
    if (!out.includes(t)) out.push(t);
  });
  return out;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function objectOrFail(value: unknown, field: string): Record<string, unknown> {
  if (!isPlainObject(value)) fail(field, `${field} must be an object`);
  return value;
}

export { fail };
