import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ProblemSchema, UserListSchema } from '@claimtrail/contract';
import { listUsers } from '@claimtrail/identity';
import { SECURED } from '../http/conventions.ts';

/** `GET /users`: the user directory (who can be assigned a claim; who the events name). */
export const userRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/users',
    {
      schema: {
        tags: ['users'],
        operationId: 'listUsers',
        summary: 'The user directory: id, name, role and whether the user is active',
        description: 'Any authenticated role. Assign accepts only an active user whose role can research a claim (fact_checker, admin).',
        security: SECURED,
        response: { 200: UserListSchema, 401: ProblemSchema },
      },
    },
    async () => ({ items: await listUsers(app.store.db) }),
  );
};
