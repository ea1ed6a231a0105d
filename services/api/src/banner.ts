/**
 * The start banner: where the service really listens (never a loopback URL standing in for
 * a wildcard bind), how to reach it, and who the board page offers the demo token to.
 */
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { isLoopbackAddress } from './board/loopback.ts';

export interface BoundAddress {
  address: string;
  family: string;
  port: number;
}

export interface BannerInput {
  /** What the server is bound to (`app.addresses()`). */
  bound: readonly BoundAddress[];
  /** e.g. "embedded PGlite in .data/pglite" or "PostgreSQL". */
  database: string;
  demoTokens: Partial<Record<string, string>>;
  /** This machine's interfaces (default: os.networkInterfaces()); a parameter for tests. */
  interfaces?: NodeJS.Dict<NetworkInterfaceInfo[]>;
}

const WILDCARDS = new Set(['0.0.0.0', '::']);

function url(address: string, port: number): string {
  return address.includes(':') ? `http://[${address}]:${port}` : `http://${address}:${port}`;
}

export function startBanner(input: BannerInput): string {
  const interfaces = Object.values(input.interfaces ?? networkInterfaces()).flatMap((list) => list ?? []);
  const reachable: BoundAddress[] = [];
  for (const bound of input.bound) {
    if (!WILDCARDS.has(bound.address)) {
      reachable.push(bound);
      continue;
    }
    // A wildcard bind answers on every interface of its family (`::` takes IPv4 too on a dual-stack host).
    for (const nic of interfaces) {
      if (bound.address === '0.0.0.0' && nic.family !== 'IPv4') continue;
      if (nic.family === 'IPv6' && nic.address.toLowerCase().startsWith('fe80:')) continue; // link-local needs a zone
      reachable.push({ address: nic.address, family: nic.family, port: bound.port });
    }
  }
  const urls = (list: readonly BoundAddress[]) => [...new Set(list.map((b) => url(b.address, b.port)))];
  const local = urls(reachable.filter((b) => isLoopbackAddress(b.address)));
  const network = urls(reachable.filter((b) => !isLoopbackAddress(b.address)));
  const boundUrls = urls(input.bound);
  const home = local[0] ?? network[0] ?? boundUrls[0] ?? 'http://127.0.0.1';

  const lines = ['', `claimtrail listening on ${boundUrls.join(' ')}  (${input.database})`];
  if (input.bound.some((b) => WILDCARDS.has(b.address))) lines.push(`  reachable at ${[...local, ...network].join('  ')}`);
  if (network.length > 0) lines.push('  open to the network: other machines can reach it (with a token)');
  lines.push(`  live board  ${home}/`, `  API docs    ${home}/docs   (OpenAPI: ${home}/openapi.json)`);
  const tokens = Object.entries(input.demoTokens).filter((entry): entry is [string, string] => typeof entry[1] === 'string');
  if (tokens.length > 0) {
    lines.push('  demo tokens (Authorization: Bearer <token>):');
    for (const [role, token] of tokens) lines.push(`    ${role.padEnd(13)} ${token}`);
    lines.push(
      local[0]
        ? `  the board page offers the demo editor token only to a browser on this machine at ${local[0]}/ or http://localhost:${new URL(local[0]).port}/; anyone else is asked for a token`
        : '  the board page offers no demo token here: only a browser on this machine at a loopback address gets it, and the service does not listen on one',
    );
  }
  return lines.join('\n') + '\n';
}
