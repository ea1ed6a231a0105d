/**
 * The SSRF guard: a webhook target must resolve only to public unicast addresses unless
 * WEBHOOK_ALLOW_PRIVATE_TARGETS is on. Checked when a webhook is created (every address
 * the name resolves to) and again at every connection (`guardedLookup`: the address the
 * socket uses is the one checked, so a name that re-resolves to 127.0.0.1 later is refused).
 */
import { BlockList, isIP } from 'node:net';
import { lookup as dnsLookup } from 'node:dns';
import { promises as dns } from 'node:dns';
import type { LookupFunction } from 'node:net';

const blocked = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['::ffff:0:0', 96],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  blocked.addSubnet(network, prefix, 'ipv6');
}

/** Loopback, private, link-local, shared, documentation, multicast, reserved (v4, v6, v4-mapped). */
export function isNonPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  // IPv4-mapped IPv6 (::ffff:0:0/96, in any notation) is refused as a whole: it can name any v4 address.
  if (family === 6) return blocked.check(address, 'ipv6');
  return blocked.check(address, 'ipv4');
}

export class TargetRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TargetRefusedError';
  }
}

/** The host of a URL as the resolver takes it (IPv6 literals without brackets). */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}

/** Parses and checks a target URL; resolves its name. Throws TargetRefusedError with a reason. */
export async function checkTarget(text: string, allowPrivate: boolean): Promise<URL> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TargetRefusedError('url must be an absolute http(s) URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TargetRefusedError('url must use http or https');
  if (url.username || url.password) throw new TargetRefusedError('url must not carry credentials (use the signature to authenticate deliveries)');
  if (url.hash) throw new TargetRefusedError('url must not have a fragment');
  const host = hostOf(url);
  if (host === '') throw new TargetRefusedError('url has no host');
  if (allowPrivate) return url;
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await dns.lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);
    } catch {
      throw new TargetRefusedError(`url's host ${host.slice(0, 100)} does not resolve`);
    }
  }
  const refused = addresses.filter(isNonPublicAddress);
  if (addresses.length === 0 || refused.length > 0) {
    throw new TargetRefusedError(
      `url's host resolves to a loopback, private or otherwise non-public address (${refused.slice(0, 3).join(', ')}); set WEBHOOK_ALLOW_PRIVATE_TARGETS=1 to allow it`,
    );
  }
  return url;
}

/** A socket lookup that refuses non-public addresses (IP-literal hosts are checked by the sender). */
export function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const list = addresses as unknown as { address: string; family: number }[];
      const usable = allowPrivate ? list : list.filter((entry) => !isNonPublicAddress(entry.address));
      if (usable.length === 0 || usable.length !== list.length) {
        const refusal = Object.assign(new TargetRefusedError(`${hostname} resolves to a non-public address`), { code: 'ESSRF' });
        return callback(refusal, '', 0);
      }
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: typeof usable) => void)(null, usable);
      callback(null, usable[0]!.address, usable[0]!.family);
    });
  };
}
