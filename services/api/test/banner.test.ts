/**
 * The start banner says where the service is really bound (a wildcard bind is not shown as
 * 127.0.0.1), lists where it can be reached, and who the board offers the demo token to.
 * The last test starts the real server (`npm start`'s entry point) with HOST=0.0.0.0.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { startBanner } from '../src/banner.ts';
import { startService, stopAllServices } from '../../../test/support/service.ts';

const pg = await requirePostgres();

const nic = (address: string, family: 'IPv4' | 'IPv6', internal: boolean): NetworkInterfaceInfo =>
  ({ address, family, internal, netmask: '', mac: '', cidr: null, ...(family === 'IPv6' ? { scopeid: 0 } : {}) }) as NetworkInterfaceInfo;
const interfaces = {
  lo: [nic('127.0.0.1', 'IPv4', true), nic('::1', 'IPv6', true)],
  eth0: [nic('192.0.2.2', 'IPv4', false), nic('fe80::1', 'IPv6', false), nic('2001:db8::2', 'IPv6', false)],
};
const demoTokens = { editor: 'ct_editor', admin: 'ct_admin' };

describe('start banner', () => {
  it('HOST=0.0.0.0: says so, lists every IPv4 address, and offers the demo token only on loopback', () => {
    const text = startBanner({ bound: [{ address: '0.0.0.0', family: 'IPv4', port: 3000 }], database: 'PostgreSQL', demoTokens, interfaces });
    expect(text).toMatch(/^claimtrail listening on http:\/\/0\.0\.0\.0:3000 {2}\(PostgreSQL\)$/m);
    expect(text).toContain('reachable at http://127.0.0.1:3000  http://192.0.2.2:3000\n');
    expect(text).toContain('open to the network');
    expect(text).toMatch(/^ {4}editor {8}ct_editor$/m);
    expect(text).toContain('demo editor token only to a browser on this machine at http://127.0.0.1:3000/ or http://localhost:3000/');
  });

  it('HOST=:: lists IPv6 addresses in brackets, skipping link-local ones', () => {
    const text = startBanner({ bound: [{ address: '::', family: 'IPv6', port: 8080 }], database: 'x', demoTokens: {}, interfaces });
    expect(text).toMatch(/^claimtrail listening on http:\/\/\[::\]:8080 /m);
    expect(text).toContain('reachable at http://127.0.0.1:8080  http://[::1]:8080  http://192.0.2.2:8080  http://[2001:db8::2]:8080\n');
    expect(text).not.toContain('fe80');
    expect(text).not.toContain('demo');
  });

  it('a loopback bind is local only; a LAN-only bind offers no demo token at all', () => {
    const local = startBanner({ bound: [{ address: '127.0.0.1', family: 'IPv4', port: 3000 }], database: 'x', demoTokens, interfaces });
    expect(local).toMatch(/^claimtrail listening on http:\/\/127\.0\.0\.1:3000 /m);
    expect(local).not.toContain('reachable at');
    expect(local).not.toContain('open to the network');
    expect(local).toContain('  live board  http://127.0.0.1:3000/\n');
    const lan = startBanner({ bound: [{ address: '192.0.2.2', family: 'IPv4', port: 3000 }], database: 'x', demoTokens, interfaces });
    expect(lan).toMatch(/^claimtrail listening on http:\/\/192\.0\.2\.2:3000 /m);
    expect(lan).toContain('open to the network');
    expect(lan).toContain('the board page offers no demo token here');
  });
});

describe.skipIf(!pg)('npm start with HOST=0.0.0.0', () => {
  let db: TestDatabase | undefined;
  afterAll(async () => {
    await stopAllServices();
    await db?.drop();
  });

  it('prints the wildcard bind, and the board config gives the demo token over loopback only', async () => {
    db = await createTestDatabase('banner');
    const service = await startService({ databaseUrl: db.url, env: { HOST: '0.0.0.0', DEMO_TOKENS: '1' } });
    const output = service.output();
    expect(output).toMatch(new RegExp(`^claimtrail listening on http://0\\.0\\.0\\.0:${service.port} `, 'm'));
    expect(output).not.toMatch(/listening on http:\/\/127\./);
    expect(output).toContain(`http://127.0.0.1:${service.port}`);
    const editor = service.demoTokens().editor!;
    expect(editor).toMatch(/^ct_/);

    const config = (url: string) => fetch(`${url}/assets/board/config.json`).then((r) => r.json() as Promise<Record<string, string>>);
    expect(await config(`http://127.0.0.1:${service.port}`)).toEqual({ demoToken: editor, demoRole: 'editor' });
    const lan = Object.values(networkInterfaces())
      .flatMap((list) => list ?? [])
      .filter((a) => a.family === 'IPv4' && !a.internal);
    for (const address of lan) {
      expect(output).toContain(`http://${address.address}:${service.port}`);
      expect(await config(`http://${address.address}:${service.port}`)).toEqual({});
    }
    await service.kill();
  });
});
