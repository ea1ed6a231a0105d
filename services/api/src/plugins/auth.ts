import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Actor, Role } from '@claimtrail/domain';
import { HttpProblem } from '../errors.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated user; set by the auth hook on every non-public route. */
    actor: Actor | null;
  }
  interface FastifyContextConfig {
    /** No token needed (health, docs, the board page and its assets). */
    public?: boolean;
  }
}

const PUBLIC_PATHS = new Set(['/', '/healthz', '/readyz', '/openapi.json', '/docs']);

function isPublic(request: FastifyRequest): boolean {
  if (request.is404) return true;
  if (request.routeOptions.config?.public === true) return true;
  const url = request.routeOptions.url ?? '';
  if (PUBLIC_PATHS.has(url) || url.startsWith('/docs/')) return true;
  // Websocket upgrades authenticate in the live plugin (token as ?token= or bearer header),
  // where a refusal can be a websocket close code rather than an HTTP status.
  if (request.headers.upgrade?.toLowerCase() === 'websocket') return true;
  return false;
}

export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(header);
  return match ? match[1]! : null;
}

/**
 * Authentication runs after validation (a malformed request is a 400 whoever sends it)
 * and before the handler: every non-public route has `request.actor`.
 */
export function registerAuth(app: FastifyInstance): void {
  app.decorateRequest('actor', null);
  app.addHook('preHandler', async (request) => {
    if (isPublic(request)) return;
    const token = bearerToken(request.headers.authorization);
    if (token === null) {
      throw new HttpProblem('unauthorized', 'send Authorization: Bearer <token>', {}, { 'www-authenticate': 'Bearer' });
    }
    const actor = await app.authenticateToken(token);
    if (actor === null) {
      throw new HttpProblem('unauthorized', 'the token is not valid', {}, {
        'www-authenticate': 'Bearer error="invalid_token"',
      });
    }
    request.actor = actor;
  });
}

/** For routes narrower than "any authenticated user". */
export function requireRole(request: FastifyRequest, roles: readonly Role[]): Actor {
  const actor = request.actor;
  if (!actor) throw new HttpProblem('unauthorized', 'send Authorization: Bearer <token>');
  if (!roles.includes(actor.role)) {
    throw new HttpProblem('forbidden_role', `role ${actor.role} may not do this; allowed: ${roles.join(', ')}`);
  }
  return actor;
}

export function actorOf(request: FastifyRequest): Actor {
  if (!request.actor) throw new HttpProblem('unauthorized', 'send Authorization: Bearer <token>');
  return request.actor;
}
