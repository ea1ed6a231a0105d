/**
 * Requests Node's HTTP parser refuses before Fastify sees them (a non-ASCII request line,
 * oversized headers, bad chunked encoding, an unsupported HTTP version, invalid header
 * characters, a request that took too long to arrive) answer with a problem document too.
 * There is no request object at this point: the response is written on the raw socket,
 * complete, and the connection is closed (the parser's state is unknown after an error).
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { ERROR_CATALOGUE, PROBLEM_CONTENT_TYPE, problemType, type ErrorCode } from '@claimtrail/contract';

export interface ClientErrorProblem {
  code: ErrorCode;
  detail: string;
  field?: string;
}

/** Request lines longer than this are a 414, other header overflows a 431. */
const REQUEST_LINE_LIMIT = 8 * 1024;

/** What a parser (or request-timeout) error means for the client, by Node's error code. */
export function clientErrorProblem(error: { code?: string; rawPacket?: unknown }): ClientErrorProblem {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { code: 'request_timeout', detail: 'the request did not arrive completely in time' };
    case 'HPE_HEADER_OVERFLOW':
      return requestLineTooLong(error.rawPacket)
        ? { code: 'uri_too_long', detail: 'the request line (method and URL) is too long', field: 'url' }
        : { code: 'headers_too_large', detail: 'the request headers are too large' };
    case 'HPE_INVALID_URL':
      return {
        code: 'validation',
        detail: 'the URL is malformed: send only ASCII, percent-encode everything else (e.g. encodeURIComponent)',
        field: 'url',
      };
    case 'HPE_INVALID_VERSION':
      // A 400, not a 505: no request of a client's making answers 5xx.
      return { code: 'bad_request', detail: 'only HTTP/1.0 and HTTP/1.1 are supported' };
    case 'HPE_INVALID_HEADER_TOKEN':
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_LF_EXPECTED':
    case 'HPE_CR_EXPECTED':
      return { code: 'bad_request', detail: 'a request header is malformed or holds characters HTTP does not allow' };
    case 'HPE_INVALID_CHUNK_SIZE':
    case 'HPE_INVALID_TRANSFER_ENCODING':
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { code: 'bad_request', detail: 'the chunked body is malformed' };
    case 'HPE_INVALID_CONTENT_LENGTH':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return { code: 'bad_request', detail: 'Content-Length is malformed or contradicts Transfer-Encoding' };
    case 'HPE_INVALID_METHOD':
      return { code: 'bad_request', detail: 'the request method is not a valid HTTP method' };
    default:
      return { code: 'bad_request', detail: 'the request is not valid HTTP/1.1' };
  }
}

function requestLineTooLong(rawPacket: unknown): boolean {
  if (!Buffer.isBuffer(rawPacket)) return false;
  const end = rawPacket.indexOf('\r\n');
  return end === -1 ? rawPacket.length >= REQUEST_LINE_LIMIT : end >= REQUEST_LINE_LIMIT;
}

/** The complete HTTP/1.1 response for `problem`. */
export function clientErrorResponse(problem: ClientErrorProblem): string {
  const status = ERROR_CATALOGUE[problem.code].status;
  const body = JSON.stringify({
    type: problemType(problem.code),
    title: ERROR_CATALOGUE[problem.code].title,
    status,
    detail: problem.detail,
    code: problem.code,
    ...(problem.field !== undefined ? { field: problem.field } : {}),
  });
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
    `Content-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Cache-Control: no-store\r\n' +
    'Connection: close\r\n\r\n' +
    body
  );
}

/** Fastify's `clientErrorHandler`: answer if nothing was sent yet on this request, then close. */
export function clientErrorHandler(error: Error & { code?: string; rawPacket?: unknown }, socket: Socket): void {
  // A reset connection has no one to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  // The parser reports again as the rest of a refused request arrives: answered once.
  if (answered.has(socket)) return;
  answered.add(socket);
  // A response already under way on this socket (e.g. a timeout mid-body) cannot be replaced.
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (!socket.writable || inFlight?.headersSent === true) {
    socket.destroy();
    return;
  }
  // Close gracefully: send the answer with FIN and keep reading (discarding) what the client
  // is still sending for a while. Destroying a socket with unread bytes makes the kernel
  // reset the connection, and a client still uploading a body then loses the answer it was
  // sent (EPIPE/ECONNRESET instead of the 400).
  socket.end(clientErrorResponse(clientErrorProblem(error)));
  let discarded = 0;
  const linger = setTimeout(() => socket.destroy(), LINGER_MS);
  linger.unref();
  socket.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > LINGER_MAX_BYTES) socket.destroy();
  });
  socket.once('close', () => clearTimeout(linger));
  socket.resume();
}

const answered = new WeakSet<Socket>();
/** How long, and how much, a refused client may go on sending before the socket is destroyed. */
const LINGER_MS = 5_000;
const LINGER_MAX_BYTES = 16 * 1024 * 1024;
