import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify';
import type { Actor, Role } from '@claimtrail/domain';
import type { TokenAuthenticator, TokenFailure } from '@claimtrail/claims';
import { HttpProblem } from '../errors.ts';
import type { AuthFailureLimiter } from './auth-limit.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated user; set by the auth hook on every non-public route. */
    actor: Actor | null;
    /** Set once this request's failed token check was counted against its client. */
    authFailureCounted: boolean;
    /** Set (by a route-level onRequest hook) when the matched route needs no token. */
    publicRoute: boolean;
  }
  interface FastifyInstance {
    /**
     * The token check with the per-client failure limit: the actor, or throws a 401
     * `unauthorized` (detail says why) / 429 `rate_limited` problem. For paths that
     * authenticate on their own (the websocket upgrade).
     */
    authenticateRequest(request: FastifyRequest, token: string): Promise<Actor>;
  }
  interface FastifyContextConfig {
    /** No token needed (health, docs, the board page and its assets). */
    public?: boolean;
  }
}

const PUBLIC_PATHS = new Set(['/', '/healthz', '/readyz', '/openapi.json', '/docs']);

/** Decided once per route (onRoute), not per request. */
function isPublicRoute(route: RouteOptions): boolean {
  if ((route.config as { public?: boolean } | undefined)?.public === true) return true;
  return PUBLIC_PATHS.has(route.url) || route.url.startsWith('/docs/');
}

function markPublic(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
  request.publicRoute = true;
  done();
}

function isPublic(request: FastifyRequest): boolean {
  // Fails closed: a route the onRoute hook did not see (registered before registerAuth)
  // is not marked, so it needs a token.
  if (request.publicRoute || request.is404) return true;
  // Websocket upgrades authenticate in the live plugin (token as ?token= or bearer header),
  // where a refusal can be a websocket close code rather than an HTTP status.
  return isUpgrade(request);
}

export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(header);
  return match ? match[1]! : null;
}

const FAILURE_DETAIL: Record<TokenFailure, string> = {
  invalid_token: 'the token is not valid',
  token_revoked: 'the token was revoked',
  token_expired: 'the token has expired',
  user_disabled: "the token's user is disabled",
};

/**
 * The failure limiter's key: the client IP, with IPv6 clients grouped by /64 (one host
 * usually holds a whole /64, so per-address buckets would be free to multiply).
 */
export function clientKey(ip: string): string {
  const address = ip.split('%')[0]!;
  if (!address.includes(':')) return address;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1]!;
  const [head = '', tail] = address.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

export interface AuthOptions {
  authenticator: TokenAuthenticator;
  failures: AuthFailureLimiter;
}

function rateLimited(seconds: number, limiter: AuthFailureLimiter): HttpProblem {
  return new HttpProblem(
    'rate_limited',
    `too many failed authentications from this client (limit ${limiter.max}); retry in ${seconds} s`,
    {},
    { 'retry-after': String(seconds) },
  );
}

/**
 * Authentication runs after validation (a malformed request is a 400 whoever sends it)
 * and before the handler: every non-public route has `request.actor`.
 *
 * Failed token checks count against the client IP; past the limit, tokens that are not
 * already in the cache get 429 without a database lookup (guessing stops, the database is
 * spared). A valid token that was seen recently still works from that IP, so one guesser
 * behind a shared NAT does not lock its neighbours out of what they were doing.
 */
export function registerAuth(app: FastifyInstance, options: AuthOptions): void {
  const { authenticator, failures } = options;
  app.decorateRequest('actor', null);
  app.decorateRequest('authFailureCounted', false);
  app.decorateRequest('publicRoute', false);
  // Public routes are marked by a route-level onRequest hook (global hooks run first, so
  // the mark is set before the auth preHandler): no per-request route lookup
  // (request.routeOptions builds an object per access) on the routes that need a token.
  app.addHook('onRoute', (route) => {
    if (!isPublicRoute(route)) return;
    const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [markPublic, ...own] as typeof route.onRequest;
  });

  async function authenticateRequest(request: FastifyRequest, token: string): Promise<Actor> {
    return authenticator.cached(token) ?? checkUncached(request, token);
  }

  /** The limited database check, for a token already known not to be in the cache. */
  async function checkUncached(request: FastifyRequest, token: string): Promise<Actor> {
    const client = clientKey(request.ip);
    const wait = failures.blockedFor(client);
    if (wait > 0) throw rateLimited(wait, failures);
    const result = await authenticator.check(token);
    if (result.ok) return result.actor;
    failures.recordFailure(client);
    request.authFailureCounted = true;
    throw new HttpProblem('unauthorized', FAILURE_DETAIL[result.reason], {}, {
      'www-authenticate': `Bearer error="invalid_token", error_description="${FAILURE_DETAIL[result.reason]}"`,
    });
  }
  app.decorate('authenticateRequest', authenticateRequest);

  // Callback style with a synchronous path for a cached token (the common case): an async
  // hook would cost a promise and a microtask hop on every request.
  app.addHook('preHandler', (request, _reply, done) => {
    if (isPublic(request)) return done();
    const token = bearerToken(request.headers.authorization);
    if (token === null) {
      return done(new HttpProblem('unauthorized', 'send Authorization: Bearer <token>', {}, { 'www-authenticate': 'Bearer' }));
    }
    const cached = authenticator.cached(token);
    if (cached) {
      request.actor = cached;
      return done();
    }
    checkUncached(request, token).then((actor) => {
      request.actor = actor;
      done();
    }, done);
  });

  // The websocket upgrade authenticates in the live plugin (app.authenticateToken). Its
  // refusals count here too: a limited client is refused before the plugin's token
  // lookup (global hooks run before route hooks), and each 401 it answers to a request
  // that carried a token is counted, unless authenticateRequest already did.
  if (failures.enabled) {
    app.addHook('preValidation', (request, _reply, done) => {
      if (!isUpgrade(request)) return done();
      const token = upgradeToken(request);
      if (token === null || authenticator.cached(token)) return done();
      const wait = failures.blockedFor(clientKey(request.ip));
      done(wait > 0 ? rateLimited(wait, failures) : undefined);
    });
    app.addHook('onResponse', (request, reply, done) => {
      if (reply.statusCode === 401 && !request.authFailureCounted && isUpgrade(request) && upgradeToken(request) !== null) {
        failures.recordFailure(clientKey(request.ip));
      }
      done();
    });
  }
}

function isUpgrade(request: FastifyRequest): boolean {
  return request.headers.upgrade?.toLowerCase() === 'websocket';
}

/** The token of a websocket upgrade: bearer header or `?token=` (as the live plugin reads it). */
function upgradeToken(request: FastifyRequest): string | null {
  const header = bearerToken(request.headers.authorization);
  if (header !== null) return header;
  const token = (request.query as Record<string, unknown> | undefined)?.token;
  return typeof token === 'string' && token.length > 0 ? token : null;
}

/** For routes narrower than "any authenticated user". */
export function requireRole(request: FastifyRequest, roles: readonly Role[]): Actor {
  const actor = actorOf(request);
  if (!roles.includes(actor.role)) {
    throw new HttpProblem('forbidden_role', `role ${actor.role} may not do this; allowed: ${roles.join(', ')}`);
  }
  return actor;
}

export function actorOf(request: FastifyRequest): Actor {
  if (!request.actor) throw new HttpProblem('unauthorized', 'send Authorization: Bearer <token>');
  return request.actor;
}
