/**
 * The live board page: `GET /` and its bundled assets under `/assets/board/` (built into
 * dist/board by `npm run build`; see build.ts). Public routes: the page asks for a token,
 * unless it may be given the demo one (see loopback.ts).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import helmet from '@fastify/helmet';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PAGE_HEADERS } from '../plugins/security-headers.ts';
import { mayReceiveDemoCredentials } from './loopback.ts';

const distDir = fileURLToPath(new URL('../../dist/board/', import.meta.url));

const ASSETS: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.js.map': 'application/json; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

export const BOARD_NOT_BUILT =
  'The board page is not built: run `npm run build` (or `npm run build -w @claimtrail/api`) to bundle it into services/api/dist/board/.';

export interface BoardPluginOptions {
  /** Token offered to loopback visitors until they paste one (default: the demo editor's). */
  demoToken?: string;
}

/** What `/assets/board/config.json` answers; empty for anyone who may not have the demo token. */
export interface BoardPageConfig {
  demoToken?: string;
  demoRole?: string;
}

interface DemoHost {
  demoTokens?: Partial<Record<string, string>>;
}

async function boardPluginImpl(app: FastifyInstance, options: BoardPluginOptions): Promise<void> {
  const built = existsSync(`${distDir}index.html`) && existsSync(`${distDir}app.js`);
  if (!built) app.log.error(BOARD_NOT_BUILT);
  const version = built ? String(Math.floor(statSync(`${distDir}app.js`).mtimeMs)) : '0';
  const cache = new Map<string, Buffer>();
  const read = (file: string): Buffer => {
    let content = cache.get(file);
    if (!content) {
      content = readFileSync(`${distDir}${file}`);
      cache.set(file, content);
    }
    return content;
  };

  // This plugin's own scope: the headers apply to the page and its assets only.
  await app.register(helmet, PAGE_HEADERS);
  const publicRoute = { config: { public: true }, schema: { hide: true } as Record<string, unknown> };

  // The page is the same for everyone: the credentials are not in it. The desk's own
  // paths (a claim, the audit view, …) answer with the same page; its script routes.
  const page = async (_request: unknown, reply: FastifyReply) => {
    if (!built) return reply.code(503).type('text/plain; charset=utf-8').send(BOARD_NOT_BUILT);
    const html = read('index.html').toString('utf8').replaceAll('__VERSION__', version);
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(html);
  };
  app.get('/', publicRoute, page);
  app.get('/desk', publicRoute, page);
  app.get('/desk/*', publicRoute, page);

  // The page's configuration is fetched by its script rather than written into the page:
  // the CSP allows no inline script, and a credential in markup ends up wherever the page
  // is saved or cached, while this answer goes only to a same-origin fetch (a cross-origin
  // page cannot read it, and nosniff keeps it from being loaded as a script).
  app.get('/assets/board/config.json', publicRoute, async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const config: BoardPageConfig = {};
    const demoToken = options.demoToken ?? (app as unknown as DemoHost).demoTokens?.editor;
    // A token another instance's start has rotated out is not worth offering.
    if (demoToken && mayReceiveDemoCredentials(request.raw) && (await app.authenticateToken(demoToken))) {
      config.demoToken = demoToken;
      config.demoRole = 'editor';
    }
    return config;
  });

  app.get<{ Params: { file: string } }>('/assets/board/:file', publicRoute, async (request, reply) => {
    const type = ASSETS[request.params.file];
    if (!type) return reply.code(404).type('text/plain').send('not found');
    if (!built) return reply.code(503).type('text/plain; charset=utf-8').send(BOARD_NOT_BUILT);
    return reply.type(type).header('cache-control', 'public, max-age=300').send(read(request.params.file));
  });
}

(boardPluginImpl as unknown as Record<symbol, string>)[Symbol.for('fastify.display-name')] = 'claimtrail-board';

export const boardPlugin = boardPluginImpl;
export default boardPlugin;
