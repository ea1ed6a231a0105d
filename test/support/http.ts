/**
 * HTTP against the child: `call` (fetch, JSON in and out, never throws: a transport
 * failure is status 0) and `rawRequest` (bytes on a socket, for what fetch refuses to
 * send: invalid UTF-8 in the path, control characters in headers).
 */
import { connect } from 'node:net';

export interface CallResult {
  /** 0 = no HTTP answer (connection refused/reset, or the hang detector fired). */
  status: number;
  headers: Headers;
  text: string;
  json: any;
  error?: string;
}

export interface CallOptions {
  method?: string;
  token?: string | null;
  headers?: Record<string, string>;
  body?: unknown;
  /** Raw body (sent as is, Content-Type application/json unless given). */
  rawBody?: string | Uint8Array;
  /** Hang detector: abort after this long (default 90 s) and report status 0. */
  timeoutMs?: number;
}

export async function call(baseUrl: string, path: string, options: CallOptions = {}): Promise<CallResult> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | Buffer | undefined;
  if (options.rawBody !== undefined) body = typeof options.rawBody === 'string' ? options.rawBody : Buffer.from(options.rawBody);
  else if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
    headers['content-type'] = 'application/json';
  }
  try {
    const res = await fetch(baseUrl + path, {
      method: options.method ?? (body !== undefined ? 'POST' : 'GET'),
      headers,
      ...(body !== undefined ? { body: body as BodyInit } : {}),
      signal: AbortSignal.timeout(options.timeoutMs ?? 90_000),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    return { status: 0, headers: new Headers(), text: '', json: undefined, error: cause?.code ?? (error as Error).name ?? String(error) };
  }
}

export interface RawResult {
  status: number;
  head: string;
  body: string;
  error?: string;
}

/** Sends `request` (a complete HTTP/1.1 request as bytes) on a fresh connection and reads the answer until close. */
export function rawRequest(port: number, request: Buffer, timeoutMs = 90_000): Promise<RawResult> {
  return new Promise((resolveRaw) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (error?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const data = Buffer.concat(chunks).toString('latin1');
      const split = data.indexOf('\r\n\r\n');
      const head = split >= 0 ? data.slice(0, split) : data;
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      resolveRaw({
        status: match ? Number(match[1]) : 0,
        head,
        body: split >= 0 ? data.slice(split + 4) : '',
        ...(match ? {} : { error: error ?? 'no HTTP status line' }),
      });
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      // Keep-alive answers would hold the socket open: stop once a full Content-Length body is in.
      const data = Buffer.concat(chunks).toString('latin1');
      const split = data.indexOf('\r\n\r\n');
      if (split >= 0) {
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(data.slice(0, split));
        if (length && Buffer.byteLength(data.slice(split + 4), 'latin1') >= Number(length[1])) finish();
      }
    });
    socket.on('end', () => finish());
    socket.on('close', () => finish());
    socket.on('error', (e: NodeJS.ErrnoException) => {
      // A reset after the answer is in is fine (the server closed a bad request hard).
      finish(e.code ?? e.message);
    });
    socket.write(request);
  });
}

/** Runs `tasks` with at most `concurrency` at a time; results in input order. */
export async function pool<T, R>(items: readonly T[], concurrency: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    for (;;) {
      const index = next++;
      if (index >= items.length) return;
      results[index] = await task(items[index]!, index);
    }
  });
  await Promise.all(workers);
  return results;
}
