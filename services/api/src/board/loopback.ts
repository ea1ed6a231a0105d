/**
 * When the board page may be handed the demo credentials: only to a browser on this
 * machine that asked for this machine by a loopback name.
 *
 * - The client is the socket's peer, never `request.ip` (a trusted proxy's header would
 *   make every visitor behind it look local).
 * - A request that carries proxy headers came through a proxy, whose visitors are not
 *   local even though the proxy's socket is.
 * - The Host must be a loopback name: DNS rebinding points a foreign name (evil.example)
 *   at 127.0.0.1, so the browser's request is local but the page's origin is the
 *   attacker's, who could then read whatever the page is given.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { isIPv4 } from 'node:net';

const PROXY_HEADERS = ['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip', 'via'] as const;

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
/** `localhost`, `127.x.y.z`, `[::1]`, each with an optional port; nothing else. */
const LOOPBACK_HOST = new RegExp(`^(?:localhost|127(?:\\.${OCTET}){3}|\\[::1\\])(?::\\d{1,5})?$`, 'i');

/** A socket peer address on the loopback interface (127.0.0.0/8, ::1, IPv4-mapped 127/8). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  if (address === '::1') return true;
  const v4 = address.toLowerCase().startsWith('::ffff:') ? address.slice(7) : address;
  return isIPv4(v4) && v4.startsWith('127.');
}

export function isLoopbackHost(host: string | undefined): boolean {
  return host !== undefined && LOOPBACK_HOST.test(host);
}

export function viaProxy(headers: IncomingHttpHeaders): boolean {
  return PROXY_HEADERS.some((name) => headers[name] !== undefined);
}

export function mayReceiveDemoCredentials(request: { headers: IncomingHttpHeaders; socket: { remoteAddress?: string | undefined } }): boolean {
  return isLoopbackAddress(request.socket.remoteAddress) && isLoopbackHost(request.headers.host) && !viaProxy(request.headers);
}
