/**
 * Answers a kept body (ReadBodies: the board, lists and searches) with its strong ETag,
 * and 304 without the body when the request's If-None-Match names it.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ReadBody } from '@claimtrail/claims';
import { CONSISTENCY_TOKEN_HEADER } from '../consistency.ts';

/** Whether an If-None-Match header names `etag` (or is `*`); weak comparison, as RFC 9110 says for it. */
export function ifNoneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}

/**
 * Whether the body must be read now rather than kept: `Cache-Control: no-cache` (or
 * `max-age=0`) asks for the database itself; and with read replicas, so does a read that
 * names a position (`Consistency-Token`). A kept body read on a replica may predate this
 * instance's own latest commit: the generation moves at that commit, before it has a
 * position the replica could be checked against, so another request's read can still
 * land on a replica without it and be kept under the new generation.
 */
export function wantsFresh(request: FastifyRequest): boolean {
  const header = request.headers['cache-control'];
  if (header !== undefined && /no-cache|max-age=0/i.test(header)) return true;
  return request.server.reads.configured && request.headers[CONSISTENCY_TOKEN_HEADER] !== undefined;
}

/** Whether the client takes gzip (`Accept-Encoding: gzip`, not refused with q=0). */
export function acceptsGzip(request: FastifyRequest): boolean {
  const header = request.headers['accept-encoding'];
  if (typeof header !== 'string') return false;
  return header.split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== 'x-gzip') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/**
 * The body with its ETag (304 when If-None-Match names it), gzipped for a client that
 * takes it: compressed once per body, not per request (the ETag names the content, the
 * same in either coding).
 */
export function sendReadBody(request: FastifyRequest, reply: FastifyReply, body: ReadBody): FastifyReply {
  reply.header('etag', body.etag).header('cache-control', 'private, no-cache').header('vary', 'accept-encoding');
  if (ifNoneMatchHits(request.headers['if-none-match'], body.etag)) return reply.code(304).send();
  reply.type('application/json; charset=utf-8');
  const gzipped = acceptsGzip(request) ? body.gzipped() : null;
  if (gzipped !== null) return reply.header('content-encoding', 'gzip').send(gzipped);
  return reply.send(body.bytes);
}
