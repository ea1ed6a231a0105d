/**
 * Requests sent exactly as written (node:http, one connection each): `fetch` refuses or
 * rewrites `Connection`/`Upgrade`, and `inject` never goes through Node's HTTP parser,
 * where an `Upgrade` request takes another path (the server's 'upgrade' event).
 */
import { request as httpRequest } from 'node:http';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface RawRequest {
  method?: string;
  /** Sent as the request target, verbatim (no normalisation, no encoding). */
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

/** `base` is http://host:port. Resolves with the response, whatever its status. */
export function rawRequest(base: string, options: RawRequest): Promise<RawResponse> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: url.hostname,
      port: Number(url.port),
      method: options.method ?? 'GET',
      path: options.path,
      headers: options.headers ?? {},
      agent: false,
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' });
    });
    req.on('error', reject);
    if (options.body !== undefined) req.end(options.body);
    else req.end();
  });
}

/** The response, or the client's error as text (a malformed response is a finding too). */
export function rawAttempt(base: string, options: RawRequest): Promise<RawResponse | string> {
  return rawRequest(base, options).catch((error: unknown) => `client error: ${(error as Error).message}`);
}

/** Runs `tasks` with at most `width` in flight; results in order. */
export async function inParallel<T>(tasks: readonly (() => Promise<T>)[], width = 8): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]!();
    }
  }
  await Promise.all(Array.from({ length: Math.min(width, tasks.length) }, worker));
  return results;
}
