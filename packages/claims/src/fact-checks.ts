/**
 * The public list of fact-checks: published and retracted claims, the most recently
 * published first (what a reader means by "newest"; `GET /claims` orders by creation).
 * Keyset-paged by (publishedAt, id); the cursor is opaque and checked strictly: one this
 * code did not make is refused, never passed to SQL as something else.
 */
import { sql, type Kysely } from 'kysely';
import type { ClaimView } from '@claimtrail/domain';
import { CommandError } from './errors.ts';

export interface FactCheckPage {
  items: ClaimView[];
  nextCursor: string | null;
}

const PUBLISHED_AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function encode(publishedAt: string, id: string): string {
  return Buffer.from(`${publishedAt}|${id}`, 'utf8').toString('base64url');
}

function decode(cursor: string): { publishedAt: string; id: string } {
  const text = /^[A-Za-z0-9_-]{1,200}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const [publishedAt = '', id = '', ...rest] = text.split('|');
  if (rest.length > 0 || !PUBLISHED_AT.test(publishedAt) || !UUID.test(id)) {
    throw new CommandError('validation', 'cursor is not a cursor this server issued', { field: 'cursor' });
  }
  return { publishedAt, id };
}

export async function listFactChecks(db: Kysely<any>, options: { limit: number; cursor?: string }): Promise<FactCheckPage> {
  const limit = Math.max(1, Math.min(100, Math.floor(options.limit)));
  const after = options.cursor ? decode(options.cursor) : null;
  // The ISO-8601 UTC text sorts as the instant does (byte order: COLLATE "C").
  const published = sql`(view->'publishedVerdict'->>'publishedAt') collate "C"`;
  const result = await sql<{ published_at: string; id: string; json: string }>`
    select view->'publishedVerdict'->>'publishedAt' as published_at, id::text as id, view::text as json
    from claims
    where state in ('published', 'retracted') and view->'publishedVerdict'->>'publishedAt' is not null
      ${after ? sql`and (${published}, id::text collate "C") < (${after.publishedAt} collate "C", ${after.id} collate "C")` : sql``}
    order by ${published} desc, id::text collate "C" desc
    limit ${limit + 1}`.execute(db);
  const rows = result.rows;
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    items: page.map((row) => JSON.parse(row.json) as ClaimView),
    nextCursor: rows.length > limit && last ? encode(last.published_at, last.id) : null,
  };
}
