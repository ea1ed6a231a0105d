import type { FastifyPluginAsync } from 'fastify';
import type { Static, TSchema } from 'typebox';
import { ClaimParamsSchema, ClaimViewSchema, ProblemSchema, STEP_ROUTE_SPECS, WriteHeadersSchema } from '@claimtrail/contract';
import type { ClaimCommand } from '@claimtrail/domain';
import { SECURED, claimIdParam } from '../http/conventions.ts';
import { runCommand, type WriteHeaders } from '../http/run-command.ts';

/** `POST /claims/:id/<step>` for every workflow step; the body schema comes from the contract. */
export const stepRoutes: FastifyPluginAsync = async (app) => {
  for (const spec of STEP_ROUTE_SPECS) {
    app.post<{ Params: Static<typeof ClaimParamsSchema>; Body: Static<TSchema>; Headers: WriteHeaders }>(
      `/claims/:id/${spec.segment}`,
      {
        schema: {
          tags: ['workflow'],
          operationId: spec.operationId,
          summary: spec.summary,
          description: `Sends the \`${spec.command}\` command. Answers 200 with the new claim view and \`ETag: "<version>"\`.`,
          security: SECURED,
          params: ClaimParamsSchema,
          body: spec.body,
          headers: WriteHeadersSchema,
          response: {
            200: ClaimViewSchema,
            400: ProblemSchema,
            401: ProblemSchema,
            403: ProblemSchema,
            404: ProblemSchema,
            409: ProblemSchema,
            412: ProblemSchema,
            422: ProblemSchema,
          },
        },
      },
      async (request, reply) => {
        const id = claimIdParam(request.params.id);
        const body = (request.body ?? {}) as Record<string, unknown>;
        // Claim ids reach the domain in one spelling only (the schema admits either case).
        if (typeof body.into === 'string') body.into = body.into.toLowerCase();
        const command = { ...body, type: spec.command } as unknown as ClaimCommand;
        return runCommand(request, reply, id, command, 200);
      },
    );
  }
};
