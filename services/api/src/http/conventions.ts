/**
 * The HTTP conventions every route shares: the OpenAPI security requirement of a route,
 * versions as ETags and If-Match, and claim ids in paths.
 */
import { isClaimId } from '@claimtrail/claims';
import { HttpProblem } from '../errors.ts';

export const SECURED = [{ bearerAuth: [] as string[] }];
export const PUBLIC: { [name: string]: string[] }[] = [];

export function etag(version: number): string {
  return `"${version}"`;
}

/**
 * `If-Match: "<version>"` → the version. Accepts the weak form and a bare number too;
 * `*` means "whatever the current version is" (no check). Anything else is a 400.
 */
export function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (value === '*') return undefined;
  const match = /^(?:W\/)?"?(\d{1,9})"?$/.exec(value);
  if (!match) {
    throw new HttpProblem('validation', 'If-Match must be the ETag of a version, e.g. "3"', {
      field: 'If-Match',
      in: 'headers',
    });
  }
  return Number(match[1]);
}

/** A claim id from the path: anything that is not a uuid names no claim (404, never a 500). */
export function claimIdParam(id: string): string {
  if (!isClaimId(id)) throw new HttpProblem('not_found', `claim ${String(id).slice(0, 100)} not found`);
  return id.toLowerCase();
}
