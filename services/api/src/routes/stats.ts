import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { DeskStatsSchema, ProblemSchema, StatsQuerySchema } from '@claimtrail/contract';
import { deskStats } from '@claimtrail/claims';
import { HttpProblem } from '../errors.ts';
import { requireRole } from '../plugins/auth.ts';
import { SECURED } from '../http/conventions.ts';

const DAY = 86_400_000;
/** Longest period one request may ask for. */
const MAX_PERIOD_MS = 3660 * DAY;

/**
 * `GET /stats?from=&to=`: desk analytics (docs/desk-operations.md). Editors, admins and
 * auditors (reporting to funders and the IFCN); not fact-checkers: the figures include
 * each researcher's load.
 */
export const statsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/stats',
    {
      schema: {
        tags: ['desk'],
        operationId: 'getDeskStats',
        summary: 'Desk analytics: time in each state, cycle time (p50/p90), weekly throughput, reopen/correction/retraction rates, load per researcher',
        description: 'Roles: editor, admin, auditor. The period is [from, to): default the 90 days before now.',
        security: SECURED,
        querystring: StatsQuerySchema,
        response: { 200: DeskStatsSchema, 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema },
      },
    },
    async (request) => {
      requireRole(request, ['editor', 'admin', 'auditor']);
      const to = request.query.to === undefined ? app.desk.now() : instant(request.query.to, 'to');
      const from = request.query.from === undefined ? new Date(to.getTime() - 90 * DAY) : instant(request.query.from, 'from');
      if (from.getTime() >= to.getTime()) throw new HttpProblem('validation', 'from must be before to', { field: 'from' });
      if (to.getTime() - from.getTime() > MAX_PERIOD_MS) throw new HttpProblem('validation', 'the period may span at most ten years', { field: 'from' });
      return deskStats(app.store.db, from, to);
    },
  );
};

function instant(text: string, field: string): Date {
  const ms = Date.parse(text);
  // Within what PostgreSQL's timestamptz and JavaScript's Date both hold.
  if (!Number.isFinite(ms) || ms < Date.UTC(1970, 0, 1) || ms > Date.UTC(9999, 0, 1)) {
    throw new HttpProblem('validation', `${field} must be an instant such as 2024-03-12T00:00:00Z`, { field });
  }
  return new Date(ms);
}
