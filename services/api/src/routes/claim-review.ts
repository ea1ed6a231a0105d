/**
 * ClaimReview (schema.org JSON-LD) for published verdicts.
 *
 * - `GET /claims/:id/claim-review` → `application/ld+json`, the ClaimReview of the claim's
 *   current published verdict (a correction updates it: new rating, `dateModified`).
 *   404 `not_found` for an unknown claim; 404 `not_published` while no verdict is public
 *   (before publication, rejected, merged, and while a published claim is reopened for
 *   revision); 410 `retracted` once the verdict was retracted (it existed and was
 *   withdrawn on purpose: crawlers should drop it).
 * - `GET /claim-reviews?limit=&cursor=` → `{items, nextCursor}`: every published one,
 *   newest claim first, paged like `GET /claims`.
 *
 * Any authenticated role may read them (auditors included). The review's `url` is
 * `PUBLIC_URL` + the path when PUBLIC_URL is set, else built from the request's host;
 * `author` is the organisation from ORG_NAME / ORG_URL.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { ProblemSchema } from '@claimtrail/contract';
import { getClaim, listClaims } from '@claimtrail/claims';
import { claimReviewFromView, withProvenance, type ClaimReviewOptions } from '@claimtrail/claimreview';
import { HttpProblem } from '../errors.ts';
import { verdictProvenance } from '../transparency/receipt.ts';
import { SECURED, claimIdParam, etag } from '../http/conventions.ts';

export const JSON_LD_CONTENT_TYPE = 'application/ld+json; charset=utf-8';

const jsonLd = {
  type: 'object',
  additionalProperties: true,
  description: 'schema.org ClaimReview (JSON-LD, @context https://schema.org)',
  properties: {
    '@context': { type: 'string' },
    '@type': { type: 'string', const: 'ClaimReview' },
    url: { type: 'string' },
    claimReviewed: { type: 'string' },
    datePublished: { type: 'string' },
    dateModified: { type: 'string' },
  },
} as const;

function baseUrl(app: FastifyInstance, request: FastifyRequest): string {
  const configured = app.config.publicUrl;
  if (configured) return configured.replace(/\/+$/, '');
  return `${request.protocol}://${request.host}`;
}

function reviewOptions(app: FastifyInstance, request: FastifyRequest, claimId: string): ClaimReviewOptions {
  return {
    reviewUrl: `${baseUrl(app, request)}/claims/${claimId}/claim-review`,
    organization: { name: app.config.orgName, url: app.config.orgUrl },
  };
}

export const claimReviewRoutes: FastifyPluginAsync = async (app) => {
  const errors = { 401: ProblemSchema, 403: ProblemSchema, 404: ProblemSchema, 410: ProblemSchema };

  app.get<{ Params: { id: string } }>(
    '/claims/:id/claim-review',
    {
      schema: {
        tags: ['claims'],
        operationId: 'getClaimReview',
        summary: 'schema.org ClaimReview (JSON-LD) of the published verdict',
        description:
          '404 `not_published` while no verdict is public (also while reopened), 410 `retracted` after a retraction. ' +
          'Content-Type application/ld+json.',
        security: SECURED,
        params: { type: 'object', properties: { id: { type: 'string', maxLength: 200 } }, required: ['id'] },
        response: { 200: { ...jsonLd }, ...errors },
      },
    },
    async (request, reply) => {
      const id = claimIdParam(request.params.id);
      const view = await getClaim(app.database.db, id);
      if (!view) throw new HttpProblem('not_found', `claim ${id} not found`);
      const result = claimReviewFromView(view, reviewOptions(app, request, id));
      if (!result.ok) throw new HttpProblem(result.code, result.detail, { state: view.state });
      reply.header('etag', etag(view.version));
      reply.header('last-modified', new Date(result.document.dateModified ?? result.document.datePublished).toUTCString());
      // The verdict receipt: its draft and approval in the log, proved against the latest checkpoint (docs/transparency.md).
      const document = withProvenance(result.document, await verdictProvenance(app, id));
      // A string is sent as is: the JSON-LD keeps every member (no response serializer).
      return reply.type(JSON_LD_CONTENT_TYPE).send(JSON.stringify(document));
    },
  );

  app.get<{ Querystring: { limit?: number; cursor?: string } }>(
    '/claim-reviews',
    {
      schema: {
        tags: ['claims'],
        operationId: 'listClaimReviews',
        summary: 'Every published ClaimReview, newest claim first',
        security: SECURED,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
            cursor: { type: 'string', maxLength: 400 },
          },
        },
        response: {
          200: {
            type: 'object',
            additionalProperties: true,
            properties: { items: { type: 'array', items: { ...jsonLd } }, nextCursor: { type: ['string', 'null'] } },
          },
          400: ProblemSchema,
          401: ProblemSchema,
        },
      },
    },
    async (request, reply) => {
      const page = await listClaims(app.database.db, {
        state: 'published',
        limit: request.query.limit ?? 20,
        ...(request.query.cursor ? { cursor: request.query.cursor } : {}),
      });
      const items = [];
      for (const view of page.items) {
        const result = claimReviewFromView(view, reviewOptions(app, request, view.id));
        if (result.ok) items.push(result.document);
      }
      // The list itself is plain JSON; each item is a complete JSON-LD document.
      return reply.type('application/json; charset=utf-8').send(JSON.stringify({ items, nextCursor: page.nextCursor }));
    },
  );
};
