/**
 * Every error the app answers is a problem document (errors.ts maps it): errors thrown by
 * routes and hooks, unknown routes, and errors Fastify raises before routing. Requests that
 * Node's HTTP parser refuses before Fastify sees them are answered in client-errors.ts.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isCommandError } from '@claimtrail/claims';
import { HttpProblem, sendProblem } from '../errors.ts';
import { redactUrl } from '../redact.ts';

export function registerProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    if (isCommandError(error)) app.metrics.commands.inc({ command: commandOf(request.url), outcome: error.code });
    return sendProblem(error, request, reply);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(new HttpProblem('not_found', `no route ${request.method} ${redactUrl(request.url).split('?')[0]!.slice(0, 200)}`), request, reply),
  );
}

/** Errors raised before routing (bad URL encoding, too-long params): Fastify's `frameworkErrors` option. */
export function frameworkErrors(error: Error, request: FastifyRequest, reply: FastifyReply): void {
  // An upgrade request's socket left Node's HTTP server; the websocket plugin closes it
  // after routed requests only. Unclosed, each such request would hold a socket open.
  if ((request.raw as { upgrade?: boolean }).upgrade === true) reply.raw.once('finish', () => request.raw.socket.destroy());
  sendProblem(error, request, reply);
}

function commandOf(url: string): string {
  const path = url.split('?')[0]!;
  const match = /^\/claims\/[^/]+\/([a-z-]+)$/.exec(path);
  return match ? match[1]! : path === '/claims' ? 'submit_claim' : 'other';
}
