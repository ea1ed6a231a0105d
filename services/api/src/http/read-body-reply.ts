/**
 * Answers a kept body (ReadBodies: the board, lists and searches) with its strong ETag,
 * and 304 without the body when the request's If-None-Match names it.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ReadBody } from '@claimtrail/claims';

/** Whether an If-None-Match header names `etag` (or is `*`); weak comparison, as RFC 9110 says for it. */
export function ifNoneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}

/** `Cache-Control: no-cache` (or `max-age=0`) on the request asks for the database itself. */
export function wantsFresh(request: FastifyRequest): boolean {
  const header = request.headers['cache-control'];
  return header !== undefined && /no-cache|max-age=0/i.test(header);
}

export function sendReadBody(request: FastifyRequest, reply: FastifyReply, body: ReadBody): FastifyReply {
  reply.header('etag', body.etag).header('cache-control', 'private, no-cache');
  if (ifNoneMatchHits(request.headers['if-none-match'], body.etag)) return reply.code(304).send();
  return reply.type('application/json; charset=utf-8').send(body.bytes);
}
