/**
 * Credentials out of logged URLs. Tokens travel in URLs only for the websocket upgrade
 * (`/ws?token=`), but a client may put one anywhere: whatever the spelling, it must not
 * reach a log line or an error document.
 */
import { unescape as unescapeLenient } from 'node:querystring';

/**
 * A parameter key as a query parser may read it: `+` is a space, percent escapes are
 * decoded (leniently: a malformed escape stays as it is, the valid ones around it are
 * decoded), and again while that changes something, so no layer of encoding hides a key.
 */
function decodeParameterKey(raw: string): string {
  let key = raw;
  for (let round = 0; round < 4; round++) {
    const decoded = unescapeLenient(key.replace(/\+/g, ' '));
    if (decoded === key) break;
    key = decoded;
  }
  return key;
}

/** Credential parameters: token, access_token, id_token… in any case, once decoded. */
const SECRET_KEY = /token/i;
/** A key that is only a name (so it can be logged as sent, with its value redacted). */
const PLAIN_KEY = /^[A-Za-z_]{1,40}$/;

/**
 * A decoded parameter key as it may be shown (in a validation error): a key that names a
 * token but is not a plain name (`token=<secret>` sent as `token%3D<secret>`) is hidden.
 */
export function redactParameterKey(key: string): string {
  return SECRET_KEY.test(key) && !PLAIN_KEY.test(key) ? '[redacted]' : key;
}

/**
 * The URL as it may be logged: every parameter whose key names a token loses its value.
 * The URL is split into parameters at every separator a server or client may use (`?`,
 * `&`, `;`, `#`) and each key is decided on its decoded form, so `?%74oken=`, `;token=`
 * and `?TOKEN=` are all caught; a key that is not a plain name (`token%3D<secret>`, a key
 * with no `=`) is redacted whole.
 */
export function redactUrl(url: string): string {
  const parts = url.split(/([?&;#])/);
  for (let i = 2; i < parts.length; i += 2) {
    const part = parts[i]!;
    const equals = part.indexOf('=');
    const rawKey = equals === -1 ? part : part.slice(0, equals);
    const key = decodeParameterKey(rawKey);
    if (!SECRET_KEY.test(key)) continue;
    parts[i] = equals !== -1 && PLAIN_KEY.test(rawKey) ? `${rawKey}=[redacted]` : '[redacted]';
  }
  return parts.join('');
}
