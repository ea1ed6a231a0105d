/**
 * The live board page: `GET /` and its bundled assets under `/assets/board/` (built into
 * dist/board by `npm run build`; see build.ts). Public routes: the page asks for a token.
 */
import type { FastifyInstance } from 'fastify';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const distDir = fileURLToPath(new URL('../../dist/board/', import.meta.url));

const ASSETS: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.js.map': 'application/json; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

export const BOARD_NOT_BUILT =
  'The board page is not built: run `npm run build` (or `npm run build -w @claimtrail/api`) to bundle it into services/api/dist/board/.';

export interface BoardPluginOptions {
  /** Token the page uses until the user pastes one (the embedded default's demo editor). */
  demoToken?: string;
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

  const publicRoute = { config: { public: true }, schema: { hide: true } as Record<string, unknown> };

  app.get('/', publicRoute, async (_request, reply) => {
    if (!built) return reply.code(503).type('text/plain; charset=utf-8').send(BOARD_NOT_BUILT);
    const demoToken = options.demoToken ?? (app as unknown as DemoHost).demoTokens?.editor;
    const pageConfig = demoToken ? { demoToken, demoRole: 'editor' } : {};
    // JSON in a script: escape `<` so no value can close the tag.
    const script = `<script>window.__CLAIMTRAIL__=${JSON.stringify(pageConfig).replace(/</g, '\\u003c')}</script>`;
    const html = read('index.html').toString('utf8').replaceAll('__VERSION__', version).replace('<!--CONFIG-->', script);
    return reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .send(html);
  });

  app.get<{ Params: { file: string } }>('/assets/board/:file', publicRoute, async (request, reply) => {
    const type = ASSETS[request.params.file];
    if (!type) return reply.code(404).type('text/plain').send('not found');
    if (!built) return reply.code(503).type('text/plain; charset=utf-8').send(BOARD_NOT_BUILT);
    return reply
      .type(type)
      .header('cache-control', 'public, max-age=300')
      .header('x-content-type-options', 'nosniff')
      .send(read(request.params.file));
  });
}

(boardPluginImpl as unknown as Record<symbol, string>)[Symbol.for('fastify.display-name')] = 'claimtrail-board';

export const boardPlugin = boardPluginImpl;
export default boardPlugin;
