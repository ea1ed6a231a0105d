/**
 * `Consistency-Token` on reads: a read that carries one is answered only once this
 * instance's store follower has reached the token's position (see consistency.ts), waiting
 * at most CONSISTENCY_WAIT_MS; then 503 `not_caught_up` with `Retry-After: 1`. A token
 * that is not a decimal position is a 400 `validation`. A token far beyond the log's head
 * (made up, or from another database) waits the same bounded time: the instance cannot
 * tell it from one whose events are still on their way.
 *
 * Only reads that need a token wait (a public route or the websocket upgrade, which checks
 * its own token, never does: nobody unauthenticated can hold a request open). Writes
 * ignore the header: they read the claim under its row lock in the primary database,
 * which is always current.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { HttpProblem } from '../errors.ts';
import { CONSISTENCY_TOKEN_HEADER, parseConsistencyToken, type StoreFollower } from '../consistency.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** This instance's subscription to the event store (view cache, consistency tokens). */
    storeFollower: StoreFollower;
  }
}

export function registerConsistency(app: FastifyInstance, follower: StoreFollower, waitMs: number): void {
  app.decorate('storeFollower', follower);
  // Callback style, like the app's other per-request hooks: most reads carry no token and
  // pay one header lookup.
  app.addHook('preHandler', (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const header = request.headers[CONSISTENCY_TOKEN_HEADER];
    if (header === undefined || (request.method !== 'GET' && request.method !== 'HEAD')) return done();
    if (request.publicRoute || request.routeOptions.config?.authenticatesItself === true) return done();
    const position = typeof header === 'string' ? parseConsistencyToken(header) : null;
    if (position === null) {
      return done(
        new HttpProblem('validation', 'Consistency-Token must be the decimal position a write answered with, e.g. 1234', {
          field: 'Consistency-Token',
          in: 'headers',
        }),
      );
    }
    if (position <= follower.position) return done();
    follower.reached(position, waitMs).then(
      (reached) =>
        done(
          reached
            ? undefined
            : new HttpProblem(
                'not_caught_up',
                `this instance has reached position ${follower.position}, not ${position}, within ${waitMs} ms; retry (any instance)`,
                { position: follower.position },
                { 'retry-after': '1' },
              ),
        ),
      done,
    );
  });
}
