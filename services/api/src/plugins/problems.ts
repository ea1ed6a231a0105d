/**
 * Every error the app answers is a problem document (errors.ts maps it): errors thrown by
 * routes and hooks, unknown routes, and errors Fastify raises before routing. Requests that
 * Node's HTTP parser refuses before Fastify sees them are answered in client-errors.ts.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isCommandError } from '@claimtrail/claims';
import { HttpProblem, sendProblem } from '../errors.ts';
import { redactUrl } from '../redact.ts';

export function registerProblemHandlers(app: FastifyInstance): void {
  const bodyLimit = app.initialConfig.bodyLimit ?? 1024 * 1024;
  // A refusal is sent only once the request's body has arrived (see whenBodyIn): done here,
  // where every refusal passes, rather than in an onSend hook every success would run.
  app.setErrorHandler((error, request, reply) => {
    if (isCommandError(error)) app.metrics.commands.inc({ command: commandOf(request.url), outcome: error.code });
    if (request.raw.complete) return sendProblem(error, request, reply);
    whenBodyIn(request.raw, bodyLimit, () => sendProblem(error, request, reply));
    return reply;
  });
  app.setNotFoundHandler((request, reply) => {
    const problem = new HttpProblem('not_found', `no route ${request.method} ${redactUrl(request.url).split('?')[0]!.slice(0, 200)}`);
    if (request.raw.complete) return sendProblem(problem, request, reply);
    whenBodyIn(request.raw, bodyLimit, () => sendProblem(problem, request, reply));
    return reply;
  });
}

/** Errors raised before routing (bad URL encoding, too-long params): Fastify's `frameworkErrors` option. */
export function frameworkErrors(error: Error, request: FastifyRequest, reply: FastifyReply): void {
  // An upgrade request's socket left Node's HTTP server; the websocket plugin closes it
  // after routed requests only. Unclosed, each such request would hold a socket open.
  if ((request.raw as { upgrade?: boolean }).upgrade === true) reply.raw.once('finish', () => request.raw.socket.destroy());
  // Answered before routing, outside the error handler: wait for the body here too.
  whenBodyIn(request.raw, request.server.initialConfig.bodyLimit ?? 1024 * 1024, () => sendProblem(error, request, reply));
}

/**
 * Calls `then` once the request's body (up to `limit`) has arrived and been discarded.
 * A refusal sent while the client is still uploading (a 401 before the body is read, a 415
 * Fastify answers with Connection: close) closes the connection with unread bytes, the
 * kernel then resets it, and the client loses the answer (EPIPE/ECONNRESET instead of the
 * problem). A body over the limit is not waited for (the connection closes, as for a 413),
 * nor an upgrade request's (Node hands its body to no one, so it never ends); a client that
 * stops sending is cut off by the request timeout, which closes the socket.
 */
export function whenBodyIn(raw: IncomingMessage, limit: number, then: () => void): void {
  const length = Number(raw.headers['content-length'] ?? 0);
  const hasBody = length > 0 || raw.headers['transfer-encoding'] !== undefined;
  if (!hasBody || (raw as { upgrade?: boolean }).upgrade === true || length > limit || raw.complete || raw.destroyed || raw.readableEnded) {
    return then();
  }
  let received = 0;
  let settled = false;
  const settle = (): void => {
    if (settled) return;
    settled = true;
    raw.removeListener('data', onData);
    then();
  };
  const onData = (chunk: Buffer | string): void => {
    received += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    if (received > limit) settle();
  };
  raw.on('data', onData);
  raw.once('end', settle);
  raw.once('error', settle);
  raw.once('close', settle);
  raw.resume();
}

function commandOf(url: string): string {
  const path = url.split('?')[0]!;
  const match = /^\/claims\/[^/]+\/([a-z-]+)$/.exec(path);
  return match ? match[1]! : path === '/claims' ? 'submit_claim' : 'other';
}
