import type { Kysely } from 'kysely';
import { deadlineFlags, type ClaimPage, type Thresholds } from '@claimtrail/claims';

/** A list page with each claim's deadline (docs/desk-operations.md): `dueAt` (null: none in its state), `overdue`, `escalated`. */
export async function withDeadlines(db: Kysely<any>, page: ClaimPage, deadlines: { thresholds: Thresholds; at: Date }): Promise<ClaimPage> {
  const flags = await deadlineFlags(db, page.items.map((c) => c.id), deadlines.thresholds, deadlines.at);
  return {
    ...page,
    items: page.items.map((c) => ({ ...c, deadline: flags.get(c.id) ?? { dueAt: null, overdue: false, escalated: false } })),
  };
}
