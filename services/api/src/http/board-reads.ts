/**
 * The board as `GET /board` and the websocket board snapshot serve it: one encoded body per
 * filter combination, from memory while this instance has heard of no change since it was
 * read (ReadBodies in the claims package says why that is never older than a read may
 * see). One per app, created on first use.
 */
import type { FastifyInstance } from 'fastify';
import { CLAIM_STATUSES, type ClaimStatus } from '@claimtrail/domain';
import {
  ReadBodies,
  readBody,
  DEFAULT_VIEW_MAX_AGE_MS,
  boardJson,
  boardLimit,
  decodeBoardCursor,
  type ReadBody,
  type BoardCursor,
  type BoardQuery,
} from '@claimtrail/claims';
import { HttpProblem } from '../errors.ts';

export interface BoardRequest {
  limit?: number;
  state?: readonly ClaimStatus[];
  cursor?: readonly string[];
}

export interface BoardReader {
  /** The body for a request's filters (400 `validation` for a cursor that is not one, or contradicts `state`). */
  body(request: BoardRequest, options?: { fresh?: boolean }): Promise<ReadBody>;
  /** The default board (every column, the default limit): the websocket snapshot. */
  defaultBody(): Promise<ReadBody>;
  readonly bodies: ReadBodies;
}

/** Per claim service (one per app; plugin scopes share it, unlike their FastifyInstance objects). */
const readers = new WeakMap<object, BoardReader>();

/** The filters in one canonical form (workflow order, decoded cursors), and its cache key. */
export function normalizeBoardRequest(request: BoardRequest): { query: BoardQuery & { limit: number }; key: string } {
  const limit = boardLimit(request.limit);
  const wanted = request.state === undefined ? undefined : new Set(request.state);
  const states = wanted === undefined ? undefined : CLAIM_STATUSES.filter((s) => wanted.has(s));
  const cursors: BoardCursor[] = [];
  for (const text of request.cursor ?? []) {
    const cursor = decodeBoardCursor(text);
    if (cursors.some((c) => c.state === cursor.state)) {
      throw new HttpProblem('validation', `two cursors for the column ${cursor.state}: pass at most one per state`, { field: 'cursor', in: 'querystring' });
    }
    if (states !== undefined && !states.includes(cursor.state)) {
      throw new HttpProblem('validation', `a cursor for the column ${cursor.state}, which state= leaves out`, { field: 'cursor', in: 'querystring' });
    }
    cursors.push(cursor);
  }
  cursors.sort((a, b) => CLAIM_STATUSES.indexOf(a.state) - CLAIM_STATUSES.indexOf(b.state));
  const key = `${limit}|${states?.join(',') ?? '*'}|${cursors.map((c) => `${c.state}:${c.updatedAt}:${c.id}`).join(',')}`;
  return { query: { limit, ...(states !== undefined ? { states } : {}), ...(cursors.length > 0 ? { cursors } : {}) }, key };
}

export function boardReader(app: FastifyInstance): BoardReader {
  let reader = readers.get(app.claims);
  if (reader !== undefined) return reader;
  const bodies = new ReadBodies(app.claims.views, { maxAgeMs: DEFAULT_VIEW_MAX_AGE_MS });
  const body = (request: BoardRequest, options: { fresh?: boolean } = {}): Promise<ReadBody> => {
    const { query, key } = normalizeBoardRequest(request);
    // Cards carry their deadline as of the desk's clock: a body is kept under the second of
    // that clock it was read in (as the lists are), so an `overdue` flag is never a second late.
    const deadlines = { thresholds: app.config.deskDeadlines, at: app.hasDecorator('desk') ? app.desk.now() : new Date() };
    // Read where this instance's follower position has been replayed (a replica, else the
    // primary), so the body is not older than the generation it is kept under.
    const read = () => app.reads.read(app.storeFollower.position, (source) => boardJson(source.db, query, deadlines));
    // `Cache-Control: no-cache` asks for the database itself (as GET /claims/:id does).
    return options.fresh === true ? read().then(readBody) : bodies.get(`${key}|${Math.floor(deadlines.at.getTime() / 1000)}`, read);
  };
  reader = { body, defaultBody: () => body({}), bodies };
  readers.set(app.claims, reader);
  return reader;
}
