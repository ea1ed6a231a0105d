/**
 * The websocket handshake's headers (RFC 6455 §4.2.1), checked before the request is handed
 * to the websocket library: the library answers its own refusals as text, and every error
 * of this API is a problem document with a code. The checks are the library's (ws
 * `handleUpgrade`), never looser, so a handshake that passes here is one it completes.
 */
import type { IncomingHttpHeaders } from 'node:http';

export interface HandshakeRefusal {
  /** `upgrade_required` for an upgrade to anything but websocket; `validation` for a malformed header. */
  code: 'upgrade_required' | 'validation';
  detail: string;
  /** The header at fault, lower case (absent for `upgrade_required`). */
  field?: string;
  headers: Record<string, string>;
}

/** 16 bytes, base64: 22 characters and the padding. */
const KEY = /^[+/0-9A-Za-z]{22}==$/;
const VERSION = /^(13|8)$/;
/** An RFC 9110 token (the subprotocol names of Sec-WebSocket-Protocol). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
export const SUPPORTED_VERSIONS = '13, 8';

/**
 * Response headers of a 426: what to upgrade to (RFC 9110 §15.5.22), named as a connection
 * option as Upgrade must be. The connection is closed: Node would otherwise take the
 * option as keep-alive and override a client's `Connection: close`.
 */
export const UPGRADE_REQUIRED_HEADERS: Readonly<Record<string, string>> = { upgrade: 'websocket', connection: 'Upgrade, close' };

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Why the handshake in `headers` cannot be completed, or null when it can. */
export function handshakeRefusal(headers: IncomingHttpHeaders): HandshakeRefusal | null {
  const upgrade = single(headers.upgrade);
  if (upgrade === undefined || upgrade.trim().toLowerCase() !== 'websocket') {
    return { code: 'upgrade_required', detail: 'GET /ws upgrades to websocket only (Upgrade: websocket)', headers: { ...UPGRADE_REQUIRED_HEADERS } };
  }
  const key = single(headers['sec-websocket-key']);
  if (key === undefined || !KEY.test(key)) {
    return {
      code: 'validation',
      field: 'sec-websocket-key',
      detail: 'sec-websocket-key must be 16 random bytes in base64 (24 characters ending in ==)',
      headers: {},
    };
  }
  const version = single(headers['sec-websocket-version']);
  if (version === undefined || !VERSION.test(version.trim())) {
    return {
      code: 'validation',
      field: 'sec-websocket-version',
      detail: `sec-websocket-version must be one of ${SUPPORTED_VERSIONS}`,
      headers: { 'sec-websocket-version': SUPPORTED_VERSIONS },
    };
  }
  const protocols = single(headers['sec-websocket-protocol']);
  if (protocols !== undefined) {
    const names = protocols.split(',').map((name) => name.trim());
    if (names.some((name) => !TOKEN.test(name)) || new Set(names).size !== names.length) {
      return {
        code: 'validation',
        field: 'sec-websocket-protocol',
        detail: 'sec-websocket-protocol must be a comma-separated list of distinct protocol names',
        headers: {},
      };
    }
  }
  return null;
}
