import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ClaimCommand } from '@claimtrail/domain';
import { isClaimId } from '@claimtrail/claims';
import { HttpProblem } from '../errors.ts';
import { actorOf } from '../plugins/auth.ts';

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

export interface WriteHeaders {
  'if-match'?: string;
  'idempotency-key'?: string;
}

/** The whole write pipeline is ClaimService.execute; this only translates HTTP around it. */
export async function runCommand(
  request: FastifyRequest,
  reply: FastifyReply,
  claimId: string,
  command: ClaimCommand,
  successStatus: 200 | 201,
): Promise<FastifyReply> {
  const actor = actorOf(request);
  const headers = request.headers as WriteHeaders;
  const expectedVersion = command.type === 'submit_claim' ? undefined : parseIfMatch(headers['if-match']);
  const idempotencyKey = headers['idempotency-key'];
  const result = await request.server.claims.execute({
    claimId,
    command,
    actor,
    ...(expectedVersion !== undefined ? { expectedVersion } : {}),
    ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
    correlationId: request.id,
  });
  reply.code(successStatus).header('etag', etag(result.view.version));
  if (successStatus === 201) reply.header('location', `/claims/${result.view.id}`);
  if (result.replayed) reply.header('idempotent-replayed', 'true');
  // The view's JSON text as the service stored it: sent as is (a string with a JSON
  // content type skips the response serializer), byte-identical to GET /claims/:id.
  return reply.type('application/json; charset=utf-8').send(result.viewJson);
}
