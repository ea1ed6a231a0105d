import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ClaimParamsSchema, ProblemSchema, SIMILAR_DEFAULT_LIMIT, SimilarClaimsQuerySchema, SimilarClaimsSchema } from '@claimtrail/contract';
import { similarClaims } from '@claimtrail/claims';
import { HttpProblem } from '../errors.ts';
import { SECURED, claimIdParam } from '../http/conventions.ts';

/**
 * `GET /claims/:id/similar`: duplicate suggestions (docs/desk-operations.md). Any
 * authenticated role: whoever may read the claim may see its near duplicates (all of them
 * are claims the same caller can list).
 */
export const similarRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/claims/:id/similar',
    {
      schema: {
        tags: ['claims'],
        operationId: 'similarClaims',
        summary: 'Possible duplicates: open and published claims ranked by similarity of text, claimant and appearances',
        description:
          'Trigram similarity (pg_trgm) of transliteration-folded texts (Tyotkino, Tetkino, Tjotkino and Тёткино meet). Any authenticated role.',
        security: SECURED,
        params: ClaimParamsSchema,
        querystring: SimilarClaimsQuerySchema,
        response: { 200: SimilarClaimsSchema, 400: ProblemSchema, 401: ProblemSchema, 404: ProblemSchema },
      },
    },
    async (request) => {
      const id = claimIdParam(request.params.id);
      const items = await similarClaims(app.store.db, id, request.query.limit ?? SIMILAR_DEFAULT_LIMIT);
      if (items === null) throw new HttpProblem('not_found', `claim ${id} not found`);
      return { items };
    },
  );
};
