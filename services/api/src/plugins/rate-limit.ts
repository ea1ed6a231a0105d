/**
 * The general rate limit (RATE_LIMIT_MAX requests per minute; 0 turns it off). Health and
 * readiness probes are never limited.
 */
import type { FastifyInstance } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { hashToken } from '@claimtrail/identity';
import type { Config } from '../config.ts';
import { HttpProblem } from '../errors.ts';
import { bearerToken } from './auth.ts';

const UNLIMITED_URLS = new Set(['/healthz', '/readyz']);

export async function registerRateLimit(app: FastifyInstance, config: Config): Promise<void> {
  if (config.rateLimitMax <= 0) return;
  await app.register(rateLimit, {
    global: true,
    max: config.rateLimitMax,
    timeWindow: 60_000,
    allowList: (request) => UNLIMITED_URLS.has(request.url),
    // Counted after authentication (which runs in preParsing): an authenticated request
    // spends its token's budget, a public one its address's. A request whose token fails
    // never gets here; guessing is bounded per address by the failed-auth limiter, so a
    // guesser cannot open a fresh bucket per guess.
    hook: 'preHandler',
    keyGenerator(request) {
      const token = request.actor === null ? null : bearerToken(request.headers.authorization);
      return token !== null ? `t:${hashToken(token)}` : `ip:${request.ip}`;
    },
    errorResponseBuilder(_request, context) {
      return new HttpProblem(
        'rate_limited',
        `rate limit of ${context.max} requests per minute exceeded; retry in ${Math.ceil(context.ttl / 1000)} s`,
        {},
        { 'retry-after': String(Math.max(1, Math.ceil(context.ttl / 1000))) },
      );
    },
  });
}
