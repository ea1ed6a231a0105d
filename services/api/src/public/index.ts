/**
 * Public fact-check pages, no token: `GET /fact-checks` (published and retracted
 * fact-checks, the most recently published first, paged by `?cursor=`) and `GET /fact-checks/:id` (one,
 * with its ClaimReview JSON-LD whose `url` is that page). Server-rendered HTML that needs
 * no JavaScript, under the same strict CSP as the desk; `ETag` (a hash of the page) and
 * `If-None-Match` → 304. A claim that is not public (never published, rejected, merged,
 * reopened for revision) answers exactly like an unknown id: the same 404 page.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import helmet from '@fastify/helmet';
import { getClaim, isClaimId, isCommandError, listFactChecks } from '@claimtrail/claims';
import { claimReviewFromView, withProvenance } from '@claimtrail/claimreview';
import { RATINGS, isRating, type ClaimView } from '@claimtrail/domain';
import { PAGE_HEADERS } from '../plugins/security-headers.ts';
import { verdictProvenance } from '../transparency/receipt.ts';
import { SITE_CSS, renderFactCheck, renderList, renderNotFound, type PageOptions } from './render.ts';

const PAGE_SIZE = 20;
const PUBLIC_STATES = ['published', 'retracted'] as const;

function isPublic(view: ClaimView): boolean {
  return (PUBLIC_STATES as readonly string[]).includes(view.state) && view.publishedVerdict !== null;
}

/** Sends HTML with a strong ETag of its bytes; a matching If-None-Match gets 304. */
function sendCached(request: FastifyRequest, reply: FastifyReply, status: number, body: string, type = 'text/html; charset=utf-8') {
  const tag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  reply.header('etag', tag).header('cache-control', 'public, max-age=60').header('vary', 'accept-encoding');
  const inm = request.headers['if-none-match'];
  if (status === 200 && inm !== undefined && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === tag || t.trim() === '*')) {
    return reply.code(304).send();
  }
  return reply.code(status).type(type).send(body);
}

async function publicPagesImpl(app: FastifyInstance): Promise<void> {
  await app.register(helmet, PAGE_HEADERS);
  const route = { config: { public: true }, schema: { hide: true } as Record<string, unknown> };
  const options: PageOptions = {
    orgName: app.config.orgName,
    ratingLabel: (rating) => (isRating(rating) ? RATINGS[rating].label : rating),
  };
  const base = (request: FastifyRequest) => (app.config.publicUrl ? app.config.publicUrl.replace(/\/+$/, '') : `${request.protocol}://${request.host}`);
  const notFound = (request: FastifyRequest, reply: FastifyReply) => sendCached(request, reply, 404, renderNotFound(options));

  app.get('/assets/fact-checks.css', route, async (request, reply) => sendCached(request, reply, 200, SITE_CSS, 'text/css; charset=utf-8'));

  app.get<{ Querystring: { cursor?: unknown } }>('/fact-checks', route, async (request, reply) => {
    const cursor = request.query.cursor;
    if (cursor !== undefined && (typeof cursor !== 'string' || cursor.length > 400)) return notFound(request, reply);
    let page;
    try {
      page = await listFactChecks(app.database.db, { limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) });
    } catch (error) {
      // A cursor this server did not issue names no page.
      if (isCommandError(error) && error.code === 'validation') return notFound(request, reply);
      throw error;
    }
    return sendCached(request, reply, 200, renderList(page.items.filter(isPublic), page.nextCursor, options));
  });

  app.get<{ Params: { id: string } }>('/fact-checks/:id', route, async (request, reply) => {
    const id = request.params.id;
    if (!isClaimId(id)) return notFound(request, reply);
    const view = await getClaim(app.database.db, id.toLowerCase());
    if (!view || !isPublic(view)) return notFound(request, reply);
    const review = claimReviewFromView(view, {
      reviewUrl: `${base(request)}/fact-checks/${view.id}`,
      organization: { name: app.config.orgName, url: app.config.orgUrl },
    });
    // The verdict receipt, as GET /claims/:id/claim-review carries it: anyone reading the page
    // can check that the verdict is in the log and that a second person approved it.
    const document = review.ok ? withProvenance(review.document, await verdictProvenance(app, view.id)) : null;
    return sendCached(request, reply, 200, renderFactCheck(view, document, options));
  });
}

(publicPagesImpl as unknown as Record<symbol, string>)[Symbol.for('fastify.display-name')] = 'claimtrail-public-pages';

export const publicPagesPlugin = publicPagesImpl;
