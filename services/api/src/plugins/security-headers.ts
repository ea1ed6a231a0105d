/**
 * Security headers (@fastify/helmet) for what a browser renders: the board page and its
 * assets, and the API docs. Helmet is registered inside those routes' own plugin scope,
 * never on the root: its hooks would otherwise run on every JSON request, which browsers
 * do not render and which are the hot path.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import helmet, { type FastifyHelmetOptions } from '@fastify/helmet';
import swaggerUi from '@fastify/swagger-ui';

type Directives = Record<string, string[]>;

const STRICT_DIRECTIVES: Directives = {
  'default-src': ["'self'"],
  // No inline script at all: no 'unsafe-inline', no nonces, no hashes.
  'script-src': ["'self'"],
  'script-src-attr': ["'none'"],
  'style-src': ["'self'"],
  'img-src': ["'self'"],
  'font-src': ["'self'"],
  // 'self' covers ws:// and wss:// to the page's own host and port (CSP Level 3): the live socket.
  'connect-src': ["'self'"],
  'object-src': ["'none'"],
  'base-uri': ["'none'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
};

function headers(directives: Directives): FastifyHelmetOptions {
  return {
    // No defaults: helmet's include upgrade-insecure-requests, which breaks a plain-HTTP
    // service reached by its LAN address (HOST=0.0.0.0).
    contentSecurityPolicy: { useDefaults: false, directives },
    xFrameOptions: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    // The service speaks plain HTTP; HSTS is for whatever terminates TLS in front of it.
    strictTransportSecurity: false,
  };
}

/** The board page, its assets and its config route. */
export const PAGE_HEADERS: FastifyHelmetOptions = headers(STRICT_DIRECTIVES);

/**
 * Swagger UI: its page loads three scripts from /docs/static and has no inline script, so
 * script-src stays 'self'; its CSS uses data: URLs for images and fonts. The one inline
 * style it renders is the stock logo's SVG `<style>` (in swagger-ui-standalone-preset.js),
 * allowed by its hash alone; the browser test fails on any other.
 */
const SWAGGER_LOGO_STYLE = '.logo_small_svg__cls-2{fill:#fff}.logo_small_svg__cls-3{fill:#85ea2d}';
export const DOCS_HEADERS: FastifyHelmetOptions = headers({
  ...STRICT_DIRECTIVES,
  'style-src': ["'self'", `'sha256-${createHash('sha256').update(SWAGGER_LOGO_STYLE).digest('base64')}'`],
  'img-src': ["'self'", 'data:'],
  'font-src': ["'self'", 'data:'],
});

/** `/docs` (Swagger UI) with its own headers, in a scope of its own. */
export async function docsPlugin(app: FastifyInstance): Promise<void> {
  await app.register(helmet, DOCS_HEADERS);
  // The CSP comes from helmet above; swagger-ui's own (staticCSP) stays off so there is one policy.
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: false });
}
