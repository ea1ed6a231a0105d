import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify';
import type { Actor, Role } from '@claimtrail/domain';
import type { AuthenticatedToken, TokenAuthenticator, TokenFailure } from '@claimtrail/identity';
import { HttpProblem } from '../errors.ts';
import type { FailureLimiter } from './auth-limit.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated user; set by the auth hook on every non-public route. */
    actor: Actor | null;
    /**
     * Set (by a route-level onRequest hook) when the matched route needs no token here:
     * it is public, or it checks the token itself.
     */
    publicRoute: boolean;
  }
  interface FastifyInstance {
    /**
     * The token check with the per-client failure limit: the actor and the token's expiry,
     * or throws a 401 `unauthorized` (detail says why) / 429 `rate_limited` problem. For
     * routes that authenticate on their own (`config.authenticatesItself`).
     */
    authenticateRequest(request: FastifyRequest, token: string): Promise<AuthenticatedToken>;
    /** Every route and how it is authenticated, as decided when it was registered. */
    routeAccess: readonly RouteAccess[];
  }
  interface FastifyContextConfig {
    /** No token needed (health, docs, the board page and its assets). */
    public?: boolean;
    /**
     * The route checks the token itself, with `app.authenticateRequest` (the websocket
     * upgrade, which also takes `?token=`). The app-wide bearer check skips it.
     */
    authenticatesItself?: boolean;
  }
}

export interface RouteAccess {
  method: string;
  url: string;
  access: 'public' | 'self' | 'token';
}

const PUBLIC_PATHS = new Set(['/', '/healthz', '/readyz', '/openapi.json', '/docs']);

/**
 * Decided once per route (onRoute), from the route alone: never from what a request
 * carries (an `Upgrade` header, the method, the spelling of the path), so no request can
 * talk its way out of the token check.
 */
function accessOf(route: RouteOptions): RouteAccess['access'] {
  const config = route.config as { public?: boolean; authenticatesItself?: boolean } | undefined;
  if (config?.public === true || PUBLIC_PATHS.has(route.url) || route.url.startsWith('/docs/')) return 'public';
  if (config?.authenticatesItself === true) return 'self';
  return 'token';
}

function markPublic(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
  request.publicRoute = true;
  done();
}

function isPublic(request: FastifyRequest): boolean {
  // Fails closed: a route the onRoute hook did not see (registered before registerAuth)
  // is not marked, so it needs a token. No route matched: the 404 answers nothing.
  return request.publicRoute || request.is404;
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
  /** Failed token checks per client: shared by the instances on PostgreSQL, in memory on PGlite. */
  failures: FailureLimiter;
}

function rateLimited(seconds: number, limiter: FailureLimiter): HttpProblem {
  return new HttpProblem(
    'rate_limited',
    `too many failed authentications from this client (limit ${limiter.max}); retry in ${seconds} s`,
    {},
    { 'retry-after': String(seconds) },
  );
}

/**
 * Authentication runs before the body is parsed and before validation (a request
 * without a valid token is a 401 whatever else is wrong with it): every route that is
 * neither public nor self-authenticating has `request.actor` in its handler.
 *
 * Failed token checks count against the client (`request.ip`: the address that trusted
 * proxies name in X-Forwarded-For when TRUST_PROXY is set; without it, behind a proxy,
 * every client is the proxy and shares one count). Past the limit a failing token gets
 * 429 instead of 401.
 */
export function registerAuth(app: FastifyInstance, options: AuthOptions): void {
  const { authenticator, failures } = options;
  app.decorateRequest('actor', null);
  app.decorateRequest('publicRoute', false);
  const routes: RouteAccess[] = [];
  app.decorate('routeAccess', routes);
  // Routes that need no token here are marked by a route-level onRequest hook (global
  // hooks run first, so the mark is set before the auth preHandler): no per-request route
  // lookup (request.routeOptions builds an object per access) on the routes that need one.
  app.addHook('onRoute', (route) => {
    const access = accessOf(route);
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) routes.push({ method, url: route.url, access });
    if (access === 'token') return;
    const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [markPublic, ...own] as typeof route.onRequest;
  });

  async function authenticateRequest(request: FastifyRequest, token: string): Promise<AuthenticatedToken> {
    return authenticator.cachedToken(token) ?? checkUncached(request, token);
  }

  /**
   * The database check, for a token not in the cache. A client past its failure limit
   * still has its token checked (one indexed hash lookup), and a valid one is served:
   * tokens are 256 bits of randomness, so the limit cannot be what stops guessing; its job
   * is to slow guessers down and flag them. Refusing valid tokens would let one broken
   * script (or one attacker) lock out everyone behind the same NAT or proxy.
   */
  async function checkUncached(request: FastifyRequest, token: string): Promise<AuthenticatedToken> {
    const result = await authenticator.check(token);
    if (result.ok) return { actor: result.actor, expiresAt: result.expiresAt };
    const client = clientKey(request.ip);
    const verdict = await failures.fail(client);
    if (verdict.retryAfter > 0) throw rateLimited(verdict.retryAfter, failures);
    if (verdict.reachedLimit) {
      request.log.warn({ client, failures: failures.max }, 'too many failed token checks: further failures from this client get 429');
    }
    throw new HttpProblem('unauthorized', FAILURE_DETAIL[result.reason], {}, {
      'www-authenticate': `Bearer error="invalid_token", error_description="${FAILURE_DETAIL[result.reason]}"`,
    });
  }
  app.decorate('authenticateRequest', authenticateRequest);

  // preParsing: after every onRequest hook (the route-level public mark included) and
  // before the body is read or anything is validated, so a client without a valid token
  // learns nothing about a route's input rules and costs no body parsing: it gets 401.
  // Callback style with a synchronous path for a cached token (the common case): an async
  // hook would cost a promise and a microtask hop on every request.
  app.addHook('preParsing', (request, _reply, payload, done) => {
    if (isPublic(request)) return done(null, payload);
    const token = bearerToken(request.headers.authorization);
    if (token === null) {
      // The 401 waits for the body to arrive (problems.ts, whenBodyIn), never parses it.
      return done(new HttpProblem('unauthorized', 'send Authorization: Bearer <token>', {}, { 'www-authenticate': 'Bearer' }));
    }
    const cached = authenticator.cached(token);
    if (cached) {
      request.actor = cached;
      return done(null, payload);
    }
    checkUncached(request, token).then(
      (authenticated) => {
        request.actor = authenticated.actor;
        done(null, payload);
      },
      (error: Error) => done(error),
    );
  });
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
