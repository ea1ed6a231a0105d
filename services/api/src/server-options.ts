/**
 * The Fastify server's options: logging (redacted, one line per request), request ids,
 * limits and timeouts, and the problem answers for errors raised before routing.
 */
import { randomUUID } from 'node:crypto';
import { LogController, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { fastifyTrustProxy, type Config } from './config.ts';
import { clientErrorHandler } from './plugins/client-errors.ts';
import { frameworkErrors } from './plugins/problems.ts';
import { redactUrl } from './redact.ts';

function loggerOptions(config: Config): FastifyServerOptions['logger'] {
  return {
    level: config.logLevel,
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'token'],
      censor: '[redacted]',
    },
    serializers: {
      req(request: { method: string; url: string; ip?: string; id?: string }) {
        return { method: request.method, url: redactUrl(request.url), remoteAddress: request.ip };
      },
      // @fastify/websocket logs a refused upgrade's raw URL as `path`.
      path(path: unknown) {
        return typeof path === 'string' ? redactUrl(path) : path;
      },
    },
  };
}

/**
 * One line per request at info: Fastify's "incoming request" line is dropped and its
 * "request completed" line carries the request (method, redacted URL, address) instead.
 */
class CompletedOnlyLogController extends LogController {
  override incomingRequest(): void {}
  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) reply.log.error({ req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
// Request ids: a random prefix per process and a counter (unique across instances and
// restarts for all practical purposes; cheaper than a UUID per request).
const REQUEST_ID_PREFIX = randomUUID().slice(0, 13).replace('-', '');
let requestCounter = 0;

/** `logger`: the caller's options (level, stream) over ours, so redaction always applies; `false` silences. */
export function serverOptions(config: Config, logger: FastifyServerOptions['logger'] | undefined): FastifyServerOptions {
  return {
    logger: logger === false ? false : { ...(loggerOptions(config) as object), ...(typeof logger === 'object' ? logger : {}) },
    bodyLimit: config.bodyLimit,
    // request.ip (failed-authentication limit, rate limit, logs) is the client behind these proxies.
    trustProxy: fastifyTrustProxy(config.trustProxy),
    // Time to receive a whole request (slow-loris bound). Not a socket idle timeout
    // (connectionTimeout): websockets and NDJSON feeds are long-lived on purpose.
    requestTimeout: config.requestTimeoutMs,
    // The timeouts go to Node's server constructor too: set only afterwards (as Fastify
    // does with requestTimeout), a body that stops arriving after complete headers was
    // never cut off. Node checks for timed-out requests every 30 s by default, so a 30 s
    // timeout fired after 30 to 60 s; checking at a quarter of the timeout keeps it within 25 %.
    ...(config.requestTimeoutMs > 0
      ? {
          http: {
            requestTimeout: config.requestTimeoutMs,
            headersTimeout: Math.min(60_000, config.requestTimeoutMs),
            connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(config.requestTimeoutMs / 4))),
          },
        }
      : {}),
    // One log line per request ("request completed", with status and time) instead of two.
    logController: new CompletedOnlyLogController(),
    requestIdHeader: false,
    genReqId(request) {
      const incoming = request.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : `${REQUEST_ID_PREFIX}-${(++requestCounter).toString(36)}`;
    },
    return503OnClosing: true,
    // Path segments may carry anything a client sends; length caps keep them cheap.
    routerOptions: { maxParamLength: 500, ignoreTrailingSlash: true },
    // Errors raised before routing (bad URL encoding, too-long params) are problems too…
    frameworkErrors,
    // …and so are requests Node's HTTP parser refuses before Fastify sees them.
    clientErrorHandler,
  };
}
