/**
 * nginx in front of several service instances, as a real deployment runs them: its own
 * configuration file in a temporary folder (pid file, error log and temp paths there too,
 * nothing under /etc or /var), listening on a loopback port, in the foreground (`daemon
 * off`) as a child process. Used by test/multi-instance.test.ts and `npm run bench:scale`;
 * the configuration is the one docs/scaling.md shows.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBinary, startDaemon } from './daemon.ts';
import { freePort } from './service.ts';

/**
 * `round-robin`: every request to the next instance. `claim-hash`: requests whose path
 * names a claim (`/claims/<uuid>…`) go to the instance its id hashes to (consistent
 * hashing: an instance that fails moves only its own share), everything else is spread by
 * the request id; a write to a claim then usually finds that claim's state in the instance's
 * memory (see docs/scaling.md).
 */
export type Balance = 'round-robin' | 'claim-hash';

export interface NginxOptions {
  /** `host:port` of each instance. */
  upstreams: readonly string[];
  balance: Balance;
  port?: number;
}

export interface Nginx {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  readonly config: string;
  /** The error log so far (for assertion messages). */
  errorLog(): Promise<string>;
  stop(): Promise<void>;
}

/** The nginx binary: NGINX_BIN, else Debian's /usr/sbin/nginx, else `nginx` on PATH (null when none). */
export function nginxBinary(): string | null {
  return findBinary('NGINX_BIN', 'nginx');
}

/** The configuration: everything nginx writes goes under `dir`. */
export function nginxConfig(options: Required<NginxOptions> & { dir: string }): string {
  const { dir, port, upstreams, balance } = options;
  // A master started as root hands the workers to `nobody`, which may not write the temp
  // folder; as anyone else the directive would only be ignored with a warning.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `# claimtrail: ${upstreams.length} instances on one database behind nginx (${balance}).
${user}daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;

events {
  worker_connections 8192;
}

http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  # The service refuses bodies over BODY_LIMIT (1 MiB) itself, with a problem document.
  client_max_body_size 2m;

  # Websockets: pass the upgrade on; plain requests keep the upstream connection alive.
  map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      '';
  }
  # The claim a request is about, from its path; any other request is spread at random.
  map $uri $claim_route {
    "~^/claims/(?<claim_id>[0-9a-fA-F-]{36})(/|$)"  $claim_id;
    default                                         $request_id;
  }

  upstream claimtrail {
${balance === 'claim-hash' ? '    hash $claim_route consistent;\n' : ''}${upstreams.map((address) => `    server ${address} max_fails=1 fail_timeout=2s;`).join('\n')}
    keepalive 64;
  }

  server {
    listen 127.0.0.1:${port};

    location / {
      proxy_pass http://claimtrail;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      # Websockets and the NDJSON export are long-lived (the service sends heartbeats).
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
      # A request that could not be sent (instance down: connection refused) goes to the
      # next instance. One that was sent is not sent again unless its method is idempotent
      # (nginx's rule for POST): a write cut off by a dying instance answers 502, and the
      # client retries it with its Idempotency-Key.
      proxy_connect_timeout 2s;
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 3;
    }
  }
}
`;
}

export async function startNginx(options: NginxOptions): Promise<Nginx> {
  const binary = nginxBinary();
  if (binary === null) throw new Error('nginx is not installed (.ci/run installs Debian\'s nginx)');
  const dir = await mkdtemp(join(tmpdir(), 'claimtrail-nginx-'));
  const port = options.port ?? (await freePort());
  const config = nginxConfig({ ...options, port, dir });
  const file = join(dir, 'nginx.conf');
  await writeFile(file, config);
  const errorLog = () => readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
  // -e: the error log before the configuration is read (the default is under /var/log).
  const daemon = await startDaemon({ name: 'nginx', binary, args: ['-p', dir, '-c', file, '-e', join(dir, 'error.log')], port, log: errorLog });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dir,
    config,
    errorLog,
    async stop() {
      await daemon.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
