/**
 * Audit routes.
 *
 * `GET /audit/verify[?claimId=]` → `{ok, checked, firstBroken?, projections}`:
 *   - the hash chains (store.verify: every hash recomputed, prev-hash links, dense
 *     versions, and for the whole log dense positions, so a deleted event shows);
 *   - the projections agree with the events: for one claim its row is compared with the
 *     fold of its stream; for the whole log every projection is rebuilt into a scratch
 *     table and compared row by row, inside a transaction that is rolled back.
 *   `firstBroken` names streamId, claimId, version, eventId, position and reason
 *   (`hash_mismatch`, `prev_hash_mismatch`, `version_gap`, `position_gap`, or
 *   `projection_missing` / `projection_extra` / `projection_mismatch`).
 *   Policy: auditor, editor and admin may call it (auditors prove integrity, the desk
 *   checks its own work, admins operate); fact-checkers get 403. It reads only. A
 *   whole-log verify is expensive: one runs at a time per instance, others queue.
 *
 * `GET /events` with `Accept: application/x-ndjson` → every event after `?after=` (up to
 *   the head at the time of the request, or `?limit=`), one JSON object per line, the
 *   same objects as the JSON feed. Streamed from store.streamAll straight to the socket
 *   with backpressure, so exporting millions of events uses constant memory. Same
 *   policy as the JSON feed (any authenticated role). Chosen by a route constraint on
 *   the Accept header, so the JSON route stays untouched.
 *
 * Nobody changes the log through HTTP: these routes only read.
 */
import type { Writable } from 'node:stream';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { ProblemSchema } from '@claimtrail/contract';
import { canReadConcurrently, checkClaimProjection, claimIdOfStream, rebuildProjections, toEventRecord } from '@claimtrail/claims';
import { claimStreamId, type Role } from '@claimtrail/domain';
import type { EventStore, PositionedEvent, VerifyResult } from '@claimtrail/event-store';
import { HttpProblem } from '../errors.ts';
import { requireRole } from '../plugins/auth.ts';
import { SECURED, claimIdParam } from './common.ts';

export const AUDIT_ROLES: readonly Role[] = ['auditor', 'editor', 'admin'];
export const NDJSON_CONTENT_TYPE = 'application/x-ndjson';

export type BrokenReason =
  | 'hash_mismatch'
  | 'prev_hash_mismatch'
  | 'version_gap'
  | 'position_gap'
  | 'projection_missing'
  | 'projection_extra'
  | 'projection_mismatch';

export interface AuditBroken {
  streamId: string;
  claimId: string | null;
  version: number | null;
  eventId: string | null;
  position: number | null;
  reason: BrokenReason;
  /** For projection mismatches: the columns that differ. */
  columns?: string[];
}

export interface AuditReport {
  ok: boolean;
  /** Events whose hash chain was checked. */
  checked: number;
  firstBroken?: AuditBroken;
  /** The projection comparison (absent when the chain is already broken). */
  projections?: { checked: number; differences: number };
  scope: { claimId: string } | 'all';
  durationMs: number;
}

async function lastEventOf(store: EventStore, streamId: string): Promise<{ id: string; version: number; position: number | null } | null> {
  const head = await store.streamVersion(streamId);
  if (head === 0) return null;
  const [event] = await store.readStream(streamId, { fromVersion: head, toVersion: head });
  return event ? { id: event.id, version: event.version, position: event.position } : null;
}

function chainBroken(result: VerifyResult): AuditBroken | undefined {
  const b = result.firstBroken;
  if (!b) return undefined;
  return {
    streamId: b.streamId,
    claimId: claimIdOfStream(b.streamId),
    version: b.version,
    eventId: b.eventId,
    position: b.position,
    reason: b.reason,
  };
}

const PROJECTION_REASON = { missing: 'projection_missing', extra: 'projection_extra', different: 'projection_mismatch' } as const;

/** Verifies one claim (its chain and its projection row). Null when the claim has no events. */
export async function verifyClaim(store: EventStore, claimId: string): Promise<AuditReport | null> {
  const started = Date.now();
  const streamId = claimStreamId(claimId);
  const chain = await store.verify({ streamId });
  if (chain.checked === 0 && chain.ok) return null;
  const scope = { claimId };
  if (!chain.ok) return { ok: false, checked: chain.checked, firstBroken: chainBroken(chain)!, scope, durationMs: Date.now() - started };
  const check = await checkClaimProjection(store, streamId);
  const report: AuditReport = {
    ok: check.ok,
    checked: chain.checked,
    projections: { checked: 1, differences: check.ok ? 0 : 1 },
    scope,
    durationMs: 0,
  };
  if (check.diff) {
    report.firstBroken = {
      streamId,
      claimId,
      version: check.lastEvent?.version ?? check.diff.rebuiltVersion,
      eventId: check.lastEvent?.id ?? null,
      position: check.lastEvent?.position ?? null,
      reason: PROJECTION_REASON[check.diff.reason],
      ...(check.diff.columns ? { columns: check.diff.columns } : {}),
    };
  }
  report.durationMs = Date.now() - started;
  return report;
}

/** Verifies the whole log: every chain, dense positions, then every projection against a rebuild. */
export async function verifyAll(
  store: EventStore,
  options: { onProgress?: (phase: string, done: number) => void; concurrentReads?: boolean } = {},
): Promise<AuditReport> {
  const started = Date.now();
  const chain = await store.verify({ onProgress: (n) => options.onProgress?.('chain', n) });
  if (!chain.ok) {
    return { ok: false, checked: chain.checked, firstBroken: chainBroken(chain)!, scope: 'all', durationMs: Date.now() - started };
  }
  const rebuilt = await rebuildProjections(store, {
    mode: 'compare',
    maxDiffs: 1,
    concurrentReads: options.concurrentReads ?? false,
    onProgress: (p) => options.onProgress?.(`projections:${p.phase}`, p.events),
  });
  const report: AuditReport = {
    ok: rebuilt.differences === 0,
    checked: chain.checked,
    projections: { checked: rebuilt.claims, differences: rebuilt.differences },
    scope: 'all',
    durationMs: 0,
  };
  const diff = rebuilt.diffs[0];
  if (diff) {
    const last = await lastEventOf(store, diff.streamId);
    report.firstBroken = {
      streamId: diff.streamId,
      claimId: diff.claimId,
      version: last?.version ?? diff.rebuiltVersion ?? diff.liveVersion,
      eventId: last?.id ?? null,
      position: last?.position ?? null,
      reason: PROJECTION_REASON[diff.reason],
      ...(diff.columns ? { columns: diff.columns } : {}),
    };
  }
  report.durationMs = Date.now() - started;
  return report;
}

/**
 * Writes every event after `after` (up to `until`, at most `limit`) as NDJSON to a raw
 * response (or any writable: the CLI's stdout), waiting for 'drain' whenever the socket's buffer is full. Returns the count.
 * Stops early (and releases the store's cursor) when the client goes away.
 */
export async function writeNdjson(
  raw: Writable,
  events: AsyncIterable<PositionedEvent>,
  options: { until?: number; limit?: number } = {},
): Promise<number> {
  let written = 0;
  let closed = raw.destroyed;
  const onClose = () => {
    closed = true;
  };
  raw.on('close', onClose);
  // Lines are grouped into ~64 KiB chunks: one write per line would cost a syscall each.
  let chunk = '';
  const flush = async () => {
    if (chunk === '' || closed) return;
    const ok = raw.write(chunk);
    chunk = '';
    if (!ok && !closed) {
      await new Promise<void>((resolve) => {
        const done = () => {
          raw.off('drain', done);
          raw.off('close', done);
          resolve();
        };
        raw.on('drain', done);
        raw.on('close', done);
      });
    }
  };
  try {
    for await (const event of events) {
      if (closed) break;
      if (options.until !== undefined && event.position > options.until) break;
      chunk += JSON.stringify(toEventRecord(event)) + '\n';
      written++;
      if (chunk.length >= 64 * 1024) await flush();
      if (options.limit !== undefined && written >= options.limit) break;
    }
    await flush();
  } finally {
    raw.off('close', onClose);
  }
  return written;
}

let verifyQueue: Promise<unknown> = Promise.resolve();

/** One whole-log verify at a time per instance: each holds a transaction for its duration. */
function serialised<T>(fn: () => Promise<T>): Promise<T> {
  const run = verifyQueue.then(fn, fn);
  verifyQueue = run.catch(() => undefined);
  return run;
}

function acceptsNdjson(request: { headers: Record<string, string | string[] | undefined> }): string | undefined {
  const accept = request.headers.accept;
  const value = Array.isArray(accept) ? accept.join(',') : accept ?? '';
  return /application\/x-ndjson/i.test(value) ? 'ndjson' : undefined;
}

async function streamExport(app: FastifyInstance, request: FastifyRequest<{ Querystring: { after?: number; limit?: number } }>, reply: FastifyReply) {
  const after = request.query.after ?? 0;
  const limit = request.query.limit;
  // The export ends at the head as of the request: a consistent end, and it terminates
  // even while writers keep appending.
  const head = await app.store.headPosition();
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    'content-type': `${NDJSON_CONTENT_TYPE}; charset=utf-8`,
    'cache-control': 'no-store',
    'x-request-id': request.id,
    'x-head-position': String(head),
  });
  try {
    const count = await writeNdjson(raw, app.store.streamAll({ after, batchSize: 2000 }), {
      until: head,
      ...(limit !== undefined ? { limit } : {}),
    });
    request.log.info({ after, head, count }, 'ndjson export');
    raw.end();
  } catch (error) {
    // Headers are gone: cut the connection so the client sees a truncated export, not a complete one.
    request.log.error({ err: error }, 'ndjson export failed');
    raw.destroy(error instanceof Error ? error : new Error(String(error)));
  }
}

export const auditRoutes: FastifyPluginAsync = async (app) => {
  if (!app.hasConstraintStrategy('ndjson')) {
    app.addConstraintStrategy({
      name: 'ndjson',
      storage() {
        const handlers = new Map<string, unknown>();
        return {
          get: (value: string) => (handlers.get(value) ?? null) as never,
          set: (value: string, handler: unknown) => {
            handlers.set(value, handler);
          },
        };
      },
      deriveConstraint: acceptsNdjson,
      mustMatchWhenDerived: false,
    });
  }

  app.get<{ Querystring: { claimId?: string } }>(
    '/audit/verify',
    {
      schema: {
        tags: ['audit'],
        operationId: 'verifyAudit',
        summary: 'Proof that the log is intact: hash chains, positions, and projections equal to a rebuild',
        description: 'Roles auditor, editor, admin. With ?claimId= only that claim (chain + projection row).',
        security: SECURED,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { claimId: { type: 'string', maxLength: 100 } },
        },
        response: {
          200: {
            type: 'object',
            additionalProperties: true,
            required: ['ok', 'checked'],
            properties: {
              ok: { type: 'boolean' },
              checked: { type: 'integer' },
              firstBroken: {
                type: 'object',
                additionalProperties: true,
                properties: {
                  streamId: { type: 'string' },
                  claimId: { type: ['string', 'null'] },
                  version: { type: ['integer', 'null'] },
                  eventId: { type: ['string', 'null'] },
                  position: { type: ['integer', 'null'] },
                  reason: { type: 'string' },
                  columns: { type: 'array', items: { type: 'string' } },
                },
              },
              projections: {
                type: 'object',
                properties: { checked: { type: 'integer' }, differences: { type: 'integer' } },
              },
              scope: {},
              durationMs: { type: 'integer' },
            },
          },
          400: ProblemSchema,
          401: ProblemSchema,
          403: ProblemSchema,
          404: ProblemSchema,
        },
      },
    },
    async (request) => {
      requireRole(request, AUDIT_ROLES);
      const { claimId } = request.query;
      if (claimId !== undefined) {
        const report = await verifyClaim(app.store, claimIdParam(claimId));
        if (!report) throw new HttpProblem('not_found', `claim ${claimId} not found`);
        return report;
      }
      return serialised(() => verifyAll(app.store, { concurrentReads: canReadConcurrently(app.database) }));
    },
  );

  app.get<{ Querystring: { after?: number; limit?: number } }>(
    '/events',
    {
      constraints: { ndjson: 'ndjson' },
      schema: {
        // Same method and path as the JSON feed: OpenAPI keeps one entry per path, the feed's.
        hide: true,
        tags: ['feed'],
        summary: 'NDJSON export: every event after ?after=, one per line (Accept: application/x-ndjson)',
        description:
          'Same route as the JSON feed, chosen by `Accept: application/x-ndjson`. Streams up to the head position at the ' +
          'time of the request (header X-Head-Position) or ?limit= events; constant memory, suitable for millions of events.',
        security: SECURED,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            after: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 },
            limit: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
          },
        },
        response: { 400: ProblemSchema, 401: ProblemSchema },
      },
    },
    async (request, reply) => {
      await streamExport(app, request, reply);
    },
  );
};
