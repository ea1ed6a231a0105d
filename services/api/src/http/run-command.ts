import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ClaimCommand } from '@claimtrail/domain';
import { actorOf } from '../plugins/auth.ts';
import { etag, parseIfMatch } from './conventions.ts';
import { CONSISTENCY_TOKEN_HEADER, writeToken } from '../consistency.ts';

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
  // The position that covers this write: a read anywhere that presents it sees the write.
  try {
    const { store, config } = request.server;
    reply.header(CONSISTENCY_TOKEN_HEADER, String(await writeToken(store, result, config.consistencyWaitMs)));
  } catch (error) {
    // The write is committed: it is answered as such. Without a token (the database went
    // away just after the commit) a client reads as it would without one.
    request.log.warn({ err: error }, 'no consistency token for a committed write');
  }
  if (successStatus === 201) reply.header('location', `/claims/${result.view.id}`);
  if (result.replayed) reply.header('idempotent-replayed', 'true');
  // The view's JSON text as the service stored it: sent as is (a string with a JSON
  // content type skips the response serializer), byte-identical to GET /claims/:id.
  return reply.type('application/json; charset=utf-8').send(result.viewJson);
}
