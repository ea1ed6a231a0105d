/**
 * The one way a route reads from a read replica: on a replica that has replayed the
 * request's `Consistency-Token` (any replica in rotation when there is none), else on the
 * primary; a read a replica fails is answered by the primary (read-replicas.ts). The token
 * was validated by plugins/consistency.ts before the handler runs.
 */
import type { FastifyRequest } from 'fastify';
import { CONSISTENCY_TOKEN_HEADER, parseConsistencyToken } from '../consistency.ts';
import type { ReadSource } from '../read-replicas.ts';

/** The position the request's answer must reflect: its Consistency-Token, else null. */
export function requiredPosition(request: FastifyRequest): number | null {
  const header = request.headers[CONSISTENCY_TOKEN_HEADER];
  return typeof header === 'string' ? parseConsistencyToken(header) : null;
}

export function replicaRead<T>(request: FastifyRequest, read: (source: ReadSource) => Promise<T>): Promise<T> {
  return request.server.reads.read(requiredPosition(request), read);
}
