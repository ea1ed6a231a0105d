/**
 * A real HTTP receiver for webhook tests: listens on loopback, records every request (the
 * headers, the raw body, what it answered), and answers as `behave` decides — a status,
 * after an optional delay (a slow receiver), or a redirect.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  headers: IncomingHttpHeaders;
  body: string;
  /** What the receiver answered. */
  status: number;
  receivedAt: number;
}

export interface Answer {
  status: number;
  delayMs?: number;
  headers?: Record<string, string>;
}

export interface Receiver {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  /** Change how the next requests are answered. */
  behave(fn: (request: { headers: IncomingHttpHeaders; body: string }) => Answer): void;
  close(): Promise<void>;
}

export async function startReceiver(path = '/hook'): Promise<Receiver> {
  let behaviour: (request: { headers: IncomingHttpHeaders; body: string }) => Answer = () => ({ status: 200 });
  const requests: ReceivedRequest[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const answer = behaviour({ headers: request.headers, body });
      // Recorded on arrival: the order of `requests` is the order deliveries were sent in.
      requests.push({ headers: request.headers, body, status: answer.status, receivedAt: Date.now() });
      const reply = () => {
        response.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
        response.end(answer.status < 300 ? 'ok' : 'no');
      };
      if (answer.delayMs) setTimeout(reply, answer.delayMs);
      else reply();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    requests,
    behave(fn) {
      behaviour = fn;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
