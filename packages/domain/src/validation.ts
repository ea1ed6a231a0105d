import { isRating } from './ratings.ts';
import type { Refusal } from './commands.ts';
import { RATING_NAMES, STANCES, type Rating, type Stance } from './state.ts';

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

/**
 * A refusal thrown from deep inside a step's reading of its fields; decide catches it and
 * answers with `refusal` (decide itself never throws for bad input).
 */
export class Refused extends Error {
  constructor(readonly refusal: Refusal) {
    super(refusal.message);
  }
}

/** Refuse the command: `field` is invalid. */
function fail(field: string, message: string): never {
  throw new Refused({ code: 'validation', message, field });
}

/** Refuse the command for a reason other than an invalid field. */
export function refuseWith(code: Refusal['code'], message: string): never {
  throw new Refused({ code, message });
}

/**
 * A character that shows nothing: whitespace, control and format characters (zero-width
 * space/joiners, bidi controls, BOM, tag characters) and the other default-ignorable code
 * points (variation selectors, Hangul fillers, combining grapheme joiner).
 */
const VISIBLE = /[^\s\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}]/u;

/** True when `text` shows at least one character (is not blank once invisible ones are ignored). */
export function hasVisibleText(text: string): boolean {
  return VISIBLE.test(text);
}

export function requiredString(value: unknown, field: string, max: number): string {
  if (typeof value !== 'string') fail(field, `${field} is required and must be a string`);
  const trimmed = value.trim();
  if (trimmed.length === 0) fail(field, `${field} must not be empty`);
  if (!hasVisibleText(trimmed)) {
    fail(field, `${field} must contain visible text (it holds only invisible characters: whitespace, zero-width, bidi or other format characters)`);
  }
  if (trimmed.length > max) fail(field, `${field} must be at most ${max} characters (got ${trimmed.length})`);
  return trimmed;
}

/** Absent, null or blank → null. */
export function optionalString(value: unknown, field: string, max: number): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') fail(field, `${field} must be a string`);
  const trimmed = value.trim();
  // Blank or invisible-only (zero-width, bidi controls…) is the same as absent.
  if (!hasVisibleText(trimmed)) return null;
  if (trimmed.length > max) fail(field, `${field} must be at most ${max} characters (got ${trimmed.length})`);
  return trimmed;
}

export function optionalUrl(value: unknown, field: string): string | null {
  const url = optionalString(value, field, LIMITS.url);
  if (url === null) return null;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    fail(field, `${field} must be an absolute http(s) URL, such as https://example.org/report`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') fail(field, `${field} must be an http(s) URL, such as https://example.org/report`);
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

const DATE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-](\d{2}):?(\d{2}))?)?$/;
const DATE_EXAMPLE = 'a date such as 2024-03-12 or a date-time such as 2024-03-12T10:00:00Z';

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * Why `text` is not an ISO-8601 calendar date or date-time (null when it is one). Strict:
 * the day must exist in its month (leap years per the Gregorian rule), hours 00–23 (no
 * 24:00), minutes and seconds 00–59 (no leap second), offsets up to ±23:59. Never rolls
 * a value over (JavaScript's Date.parse turns 2024-02-30 into March 1st).
 */
export function calendarDateProblem(text: string): string | null {
  const m = DATE.exec(text);
  if (m === null) return `must be ${DATE_EXAMPLE}`;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (year < 1) return 'must have a year from 0001 to 9999';
  if (month < 1 || month > 12) return `has no month ${m[2]} (months are 01 to 12)`;
  if (day < 1 || day > daysInMonth(year, month)) return `names a day that does not exist: ${m[1]}-${m[2]} has ${daysInMonth(year, month)} days`;
  if (m[4] !== undefined && Number(m[4]) > 23) return 'must have an hour from 00 to 23 (use 00:00 of the next day, not 24:00)';
  if (m[5] !== undefined && Number(m[5]) > 59) return 'must have minutes from 00 to 59';
  if (m[6] !== undefined && Number(m[6]) > 59) return 'must have seconds from 00 to 59';
  if (m[8] !== undefined && (Number(m[8]) > 23 || Number(m[9]) > 59)) return 'must have a UTC offset from -23:59 to +23:59';
  return null;
}

/** An optional date or date-time, kept exactly as written (a time without offset stays local to its source). */
export function optionalDate(value: unknown, field: string): string | null {
  const text = optionalString(value, field, 40);
  if (text === null) return null;
  const problem = calendarDateProblem(text);
  if (problem !== null) fail(field, `${field} ${problem}`);
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
    fail(field, `${field} must be one of ${RATING_NAMES.join(', ')}`);
  }
  return value;
}

export function tags(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) fail(field, `${field} must be an array of strings, such as ["border", "energy"]`);
  if (value.length > LIMITS.tags) fail(field, `${field} may hold at most ${LIMITS.tags} tags (got ${value.length})`);
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
