/**
 * One delivery attempt: POST the body with the signed headers, no redirects followed (a
 * 3xx is a failure), the SSRF guard on the address actually connected to, a timeout over
 * the whole exchange, and only the first bytes of the answer read.
 */
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { guardedLookup, isNonPublicAddress } from './ssrf.ts';

export interface AttemptResult {
  /** The HTTP status, null when no answer came. */
  status: number | null;
  latencyMs: number;
  ok: boolean;
  error: string | null;
}

const MAX_ANSWER_BYTES = 64 * 1024;
const agentOptions = { keepAlive: true, maxSockets: 64 };
const httpAgent = new http.Agent(agentOptions);
const httpsAgent = new https.Agent(agentOptions);

export function sendAttempt(
  target: URL,
  headers: Record<string, string>,
  body: string,
  options: { timeoutMs: number; allowPrivate: boolean },
): Promise<AttemptResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const host = target.hostname.replace(/^\[|\]$/g, '');
  if (!options.allowPrivate && isIP(host) && isNonPublicAddress(host)) {
    return Promise.resolve({ status: null, latencyMs: 0, ok: false, error: `refused: ${host} is not a public address` });
  }
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: AttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const client = target.protocol === 'https:' ? https : http;
    const request = client.request(
      target,
      {
        method: 'POST',
        agent: target.protocol === 'https:' ? httpsAgent : httpAgent,
        lookup: guardedLookup(options.allowPrivate),
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'user-agent': 'claimtrail-webhooks/1',
        },
      },
      (response) => {
        let read = 0;
        response.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_ANSWER_BYTES) response.destroy();
        });
        const done = () => {
          const status = response.statusCode ?? null;
          const ok = status !== null && status >= 200 && status < 300;
          finish({ status, latencyMs: elapsed(), ok, error: ok ? null : status !== null && status >= 300 && status < 400 ? `redirect (${status}) not followed` : `HTTP ${status}` });
        };
        response.on('end', done);
        response.on('close', done);
        response.on('error', done);
      },
    );
    const timer = setTimeout(() => {
      request.destroy(new Error(`no answer within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    request.on('error', (error: Error & { code?: string }) => {
      finish({ status: null, latencyMs: elapsed(), ok: false, error: (error.code ? `${error.code}: ` : '') + error.message.slice(0, 500) });
    });
    request.end(body);
  });
}
