import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ClaimParamsSchema, ProblemSchema, RoleSchema, STEP_ROUTES } from '@claimtrail/contract';
import { ClaimJsonBatcher } from '@claimtrail/claims';
import { CLAIM_STEPS, allowedSteps, policySubjectOfView, type ClaimView } from '@claimtrail/domain';
import { HttpProblem } from '../errors.ts';
import { actorOf } from '../plugins/auth.ts';
import { SECURED, claimIdParam, etag } from '../http/conventions.ts';

const AllowedStepsSchema = Type.Object(
  {
    claimId: Type.String(),
    version: Type.Integer({ minimum: 1, description: 'The claim version the answer was computed for (also the ETag of GET /claims/:id).' }),
    role: RoleSchema,
    allowedSteps: Type.Array(Type.Enum([...CLAIM_STEPS]), {
      description: 'The steps the caller may take on this claim now, from the policy table (role, state, content, four eyes).',
    }),
  },
  { additionalProperties: false },
);

/**
 * `GET /claims/:id/allowed-steps`: which steps the caller may take on the claim now.
 *
 * A route of its own rather than a field of `GET /claims/:id`: the claim view is one JSON
 * text shared by every caller (the view cache, its ETag, the live frames), and the answer
 * here differs per caller (role, and four eyes by user id). Computed per request from the
 * cached view by the domain's `allowedSteps`, the same checks `decide` makes; never cached
 * (`Cache-Control: private, no-store`). Its ETag is the claim version it was computed for.
 */
/** The steps a person takes over HTTP (`POST /claims/:id/<segment>`): not the deadline watcher's `escalate`. */
const PERSON_STEPS: ReadonlySet<string> = new Set(Object.values(STEP_ROUTES));

export const allowedStepsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const reader = new ClaimJsonBatcher(app.store.db);
  const views = app.claims.views;

  app.get(
    '/claims/:id/allowed-steps',
    {
      schema: {
        tags: ['claims'],
        operationId: 'getAllowedSteps',
        summary: 'The steps the caller may take on the claim now',
        description:
          'Per caller (role and, for four eyes, user id), from the same policy table the steps are decided by. A listed step can still be refused for what is sent with it (an empty reason, an assignee who cannot research, a stale If-Match). Any authenticated role; an auditor gets an empty list.',
        security: SECURED,
        params: ClaimParamsSchema,
        response: { 200: AllowedStepsSchema, 400: ProblemSchema, 401: ProblemSchema, 404: ProblemSchema },
      },
    },
    async (request, reply) => {
      const id = claimIdParam(request.params.id);
      let row = views.get(id);
      if (row === undefined) {
        const read = await reader.get(id);
        if (!read) throw new HttpProblem('not_found', `claim ${id} not found`);
        views.offer(id, read.version, read.json);
        row = read;
      }
      const view = JSON.parse(row.json) as ClaimView;
      const actor = actorOf(request);
      reply.header('etag', etag(row.version)).header('cache-control', 'private, no-store').header('vary', 'authorization');
      const steps = allowedSteps(policySubjectOfView(view), actor).filter((step) => PERSON_STEPS.has(step));
      return { claimId: id, version: row.version, role: actor.role, allowedSteps: steps };
    },
  );
};
