/**
 * Live updates over websockets (`GET /ws`, PRODUCT.md "Websocket"): one store subscription
 * per process feeding an in-memory fan-out (hub.ts); per connection the transport
 * (connection.ts), the protocol (protocol.ts) and subscriptions (subscription.ts) that
 * catch up from the store (replay.ts) and switch to live without a gap.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Actor } from '@claimtrail/domain';
import type { EventStore } from '@claimtrail/event-store';
import { CLOSE_GOING_AWAY } from '@claimtrail/client';
import { boardJson } from '@claimtrail/claims';
import { boardReader } from '../http/board-reads.ts';
import { TOKEN_REVOKED_CHANNEL, hashToken, invalidTokenHashes, type AuthenticatedToken } from '@claimtrail/identity';
import { problemType, type ErrorCode } from '@claimtrail/contract';
import type { Duplex } from 'node:stream';
import type { Kysely } from 'kysely';
import type { WebSocket } from 'ws';
import type {} from '@fastify/websocket';
import { HttpProblem } from '../errors.ts';
import { clientErrorResponse } from '../plugins/client-errors.ts';
import { bearerToken } from '../plugins/auth.ts';
import { LiveHub } from './hub.ts';
import type { LiveReads } from './reads.ts';
import { UPGRADE_REQUIRED_HEADERS, handshakeRefusal } from './handshake.ts';
import { DEFAULT_LIVE_CONFIG, type LiveConfig } from './config.ts';
import { CLOSE_POLICY_VIOLATION, CorkedWrites, type LiveStats } from './connection.ts';
import { Session } from './protocol.ts';
import type { MeChannel } from './me.ts';

export { LiveHub } from './hub.ts';
export { DEFAULT_LIVE_CONFIG, type LiveConfig } from './config.ts';
export type { LiveStats } from './connection.ts';

export interface LivePluginOptions extends Partial<LiveConfig> {
  /**
   * The board snapshot as JSON text, including every event up to `atLeast`; defaults to the
   * query behind `GET /board` (default limit) where the hub's reads go, so the snapshot is
   * exactly what the HTTP route returns.
   */
  boardSnapshot?: (atLeast: number) => Promise<string>;
}

/** What the live plugin needs from the app (decorated by buildApp). */
interface LiveHost {
  store: EventStore;
  database?: {
    db: Kysely<any>;
    listen?(channel: string, handler: (payload: string | null) => void): Promise<() => Promise<void>>;
  };
  authenticateToken(token: string): Promise<Actor | null>;
  /** Where snapshots and replays read (the app's read replicas); absent: the store. */
  reads?: LiveReads;
  /** Throws a 401/429 problem; present when the API provides it. */
  authenticateRequest?(request: FastifyRequest, token: string): Promise<AuthenticatedToken>;
}

export interface LiveRuntime {
  hub: LiveHub;
  config: LiveConfig;
  stats: LiveStats & { events: number; messages: number; position: number; fanOutMs: number; fanOutMaxMs: number };
  sessions(): number;
}

declare module 'fastify' {
  interface FastifyInstance {
    live: LiveRuntime;
  }
}

/** GET /board's default `limit`. */
const BOARD_PER_STATE = 50;
type LiveRequest = FastifyRequest & { liveActor?: Actor; liveToken?: string; liveTokenExpiresAt?: Date | null };
const CLOSE_POLICY = CLOSE_POLICY_VIOLATION;

const READ_ROLES = new Set(['fact_checker', 'editor', 'auditor', 'admin']);

/** The websocket's token: the bearer header as every route reads it, else `?token=`. */
export function tokenFrom(request: FastifyRequest): string | null {
  const bearer = bearerToken(request.headers.authorization);
  if (bearer !== null) return bearer;
  const query = request.query as Record<string, unknown> | undefined;
  const token = query?.token;
  return typeof token === 'string' && token.length > 0 ? token : null;
}

function problem(reply: FastifyReply, status: number, code: ErrorCode, title: string, detail: string) {
  return reply.code(status).type('application/problem+json').send({ type: problemType(code), title, status, detail, code });
}

/**
 * The board snapshot as of `atLeast` (the hub's position when the subscription joined): the
 * body `GET /board` serves, once this instance's store follower has reached `atLeast` (a body
 * kept since before an event up to there would have been dropped when the follower read
 * it); read directly where the hub reads if the follower does not get there in time.
 */
function defaultBoardSnapshot(app: FastifyInstance, hub: LiveHub): (atLeast: number) => Promise<string> {
  const follower = (app as Partial<Pick<FastifyInstance, 'storeFollower'>>).storeFollower;
  return async (atLeast) => {
    if (follower !== undefined && (app as Partial<Pick<FastifyInstance, 'claims'>>).claims !== undefined && (await follower.reached(atLeast, 1000))) {
      return (await boardReader(app).defaultBody()).bytes.toString('utf8');
    }
    return hub.reads.read(atLeast, (source) => boardJson(source.db, BOARD_PER_STATE));
  };
}

async function livePluginImpl(app: FastifyInstance, options: LivePluginOptions): Promise<void> {
  const host = app as unknown as LiveHost;
  if (!host.store || typeof host.authenticateToken !== 'function') {
    throw new Error('livePlugin needs app.store and app.authenticateToken (register it after them)');
  }
  if (!app.hasDecorator('websocketServer')) {
    throw new Error('livePlugin needs @fastify/websocket to be registered first');
  }
  const { boardSnapshot: boardOption, ...rest } = options;
  const config: LiveConfig = { ...DEFAULT_LIVE_CONFIG };
  for (const [key, value] of Object.entries(rest)) {
    if (key in DEFAULT_LIVE_CONFIG && typeof value === 'number' && value > 0) config[key as keyof LiveConfig] = value;
  }

  const hub = new LiveHub(host.store, app.log, {
    recentEvents: config.replayBufferEvents,
    replayBatchSize: config.replayBatchSize,
    ...(host.reads ? { reads: host.reads } : {}),
  });
  const sessions = new Set<Session>();
  const stats: LiveStats = { connections: 0, overflowCloses: 0, heartbeatTerminations: 0 };
  const writes = new CorkedWrites();
  const boardSnapshot = boardOption ?? defaultBoardSnapshot(app, hub);

  app.decorate('live', {
    hub,
    config,
    get stats() {
      const { events, messages, fanOutMs, fanOutMaxMs } = hub.stats;
      // Socket writes happen when the tick's corked frames are flushed: count them in.
      return {
        ...stats,
        events,
        messages,
        fanOutMs: fanOutMs + writes.ms,
        fanOutMaxMs: fanOutMaxMs + writes.maxMs,
        position: hub.position,
      };
    },
    sessions: () => sessions.size,
  } satisfies LiveRuntime);

  // A revoked token loses its open streams too, on every instance (the revocation is a
  // NOTIFY with the token's hash); the client's reconnect then gets a 401.
  let unlistenRevocations: (() => Promise<void>) | undefined;
  app.addHook('onReady', async () => {
    await hub.start();
    if (host.database?.listen) {
      unlistenRevocations = await host.database
        .listen(TOKEN_REVOKED_CHANNEL, (hash) => {
          if (!hash) return;
          for (const session of sessions) if (session.tokenHash === hash) session.closeWith(CLOSE_POLICY, 'token revoked');
        })
        .catch((err: unknown) => {
          app.log.warn({ err }, 'live: cannot listen for token revocations');
          return undefined;
        });
    }
  });

  // A handshake the route accepted but the websocket library still refuses (its checks are
  // mirrored in handshake.ts, so only if they drift apart) is answered as a problem too.
  app.websocketServer.on('wsClientError', (error: Error, socket: Duplex) => {
    app.log.warn({ err: error }, 'live: the websocket library refused a handshake the route accepted');
    socket.end(clientErrorResponse({ code: 'bad_request', detail: `websocket handshake refused: ${error.message}` }), () => socket.destroy());
  });

  const heartbeat = setInterval(() => {
    for (const session of sessions) session.heartbeat();
  }, config.heartbeatIntervalMs);
  heartbeat.unref();

  // Tokens of open sockets are checked again periodically (a socket outlives any cache
  // entry): a disabled user, or a revocation whose notice did not reach this instance.
  let rechecking = false;
  const recheck = setInterval(() => {
    const db = host.database?.db;
    if (rechecking || sessions.size === 0 || !db) return;
    rechecking = true;
    // One entry per token, not per socket: a desk's watchers often share a few tokens.
    invalidTokenHashes(db, [...new Set([...sessions].map((session) => session.tokenHash))])
      .then((invalid) => {
        if (invalid.length === 0) return;
        const gone = new Set(invalid);
        for (const session of sessions) if (gone.has(session.tokenHash)) session.closeWith(CLOSE_POLICY, 'token no longer valid');
      })
      .catch((err: unknown) => app.log.warn({ err }, 'live: re-checking open sockets\' tokens failed'))
      .finally(() => {
        rechecking = false;
      });
  }, config.tokenRecheckIntervalMs);
  recheck.unref();

  app.addHook('onClose', async () => {
    clearInterval(heartbeat);
    clearInterval(recheck);
    await unlistenRevocations?.().catch(() => undefined);
    for (const session of sessions) session.closeWith(CLOSE_GOING_AWAY, 'server shutting down');
    sessions.clear();
    await hub.stop();
  });

  app.route({
    method: 'GET',
    url: '/ws',
    schema: { hide: true } as Record<string, unknown>,
    // The app-wide bearer check skips this route (decided per route, never per request):
    // it takes `?token=` as well, and checks it here.
    config: { authenticatesItself: true },
    // Refuse before the upgrade: a client without a valid token gets a plain 401.
    preValidation: async (request, reply) => {
      const token = tokenFrom(request);
      if (!token) {
        reply.header('www-authenticate', 'Bearer');
        return problem(reply, 401, 'unauthorized', 'Authentication required', 'a token is required (?token= or Authorization: Bearer)');
      }
      // Prefer the app's request-aware check (failure limiting, precise 401 details); its
      // errors reach the app's error handler like any route's.
      const authenticated: AuthenticatedToken | null = host.authenticateRequest
        ? await host.authenticateRequest(request, token)
        : await host.authenticateToken(token).then((actor) => (actor ? { actor, expiresAt: null } : null));
      if (!authenticated) return problem(reply, 401, 'unauthorized', 'Authentication required', 'invalid token');
      const { actor, expiresAt } = authenticated;
      if (!READ_ROLES.has(actor.role)) return problem(reply, 403, 'forbidden_role', 'Your role may not do this', 'this role may not read');
      // The handshake is checked here, after the token, because the websocket library
      // answers a handshake it cannot complete with text rather than a problem document.
      if (request.ws) {
        const refusal = handshakeRefusal(request.headers);
        if (refusal) {
          const extra = refusal.field === undefined ? {} : { field: refusal.field, in: 'headers', errors: [{ field: refusal.field, message: refusal.detail }] };
          throw new HttpProblem(refusal.code, refusal.detail, extra, refusal.headers);
        }
      }
      (request as LiveRequest).liveActor = actor;
      (request as LiveRequest).liveToken = token;
      (request as LiveRequest).liveTokenExpiresAt = expiresAt;
    },
    handler: () => {
      throw new HttpProblem('upgrade_required', 'GET /ws is a websocket endpoint: send a websocket handshake (Upgrade: websocket)', {}, { ...UPGRADE_REQUIRED_HEADERS });
    },
    wsHandler: (socket: WebSocket, request: FastifyRequest) => {
      const { liveActor } = request as LiveRequest;
      if (!liveActor) {
        socket.close(1008, 'unauthorized');
        return;
      }
      // @fastify/websocket's own shutdown closes sockets without a code; the protocol says
      // 1001 ("going away") so clients know to reconnect elsewhere.
      const close = socket.close.bind(socket);
      socket.close = ((code?: number, reason?: string | Buffer) =>
        code === undefined ? close(CLOSE_GOING_AWAY, 'server shutting down') : close(code, reason)) as WebSocket['close'];
      const session = new Session(socket, liveActor, hashToken((request as LiveRequest).liveToken!), {
        hub,
        store: host.store,
        config,
        log: app.log,
        boardSnapshot,
        stats,
        writes,
        me: () => (app as unknown as { deskMe?: MeChannel }).deskMe,
      });
      sessions.add(session);
      socket.on('close', () => sessions.delete(session));
      const { liveTokenExpiresAt } = request as LiveRequest;
      if (liveTokenExpiresAt) session.expireAt(liveTokenExpiresAt);
      socket.on('error', (err) => request.log.debug({ err }, 'live: socket error'));
    },
  });
}

// Not encapsulated: `app.live` is visible to the app (metrics, benchmarks, tests).
(livePluginImpl as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
(livePluginImpl as unknown as Record<symbol, string>)[Symbol.for('fastify.display-name')] = 'claimtrail-live';

export const livePlugin = livePluginImpl;
export default livePlugin;
