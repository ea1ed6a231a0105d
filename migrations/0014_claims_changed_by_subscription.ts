import type { Kysely, Migration } from 'kysely';
import { migration0009 } from './0009_claims_changed_notify.ts';

/**
 * No NOTIFY inside write transactions: drops migration 0009's statement triggers on
 * `claims` and their function. A transaction that NOTIFYs takes a server-wide lock at its
 * commit and holds it through the commit's WAL flush, so with those triggers every write
 * transaction of every instance (and the sequencer's passes) committed one after another.
 *
 * Instances now learn of each other's writes from the event store's subscription: the
 * sequencer's one notification per pass (sent by its own transaction) wakes it, and it reads
 * the new events' stream ids and versions. Writes that bypass the event store (a rebuild's
 * swap, an operator's SQL) are covered by the rebuild's `*` on the same channel and by the
 * view cache's maximum age (see packages/claims/src/view-cache.ts).
 *
 * Both directions are 0009's own statements, which never change: up is what 0009's down
 * does, down re-creates exactly what 0009's up created.
 */
export const migration0014: Migration = {
  async up(db: Kysely<any>) {
    await migration0009.down!(db);
  },
  async down(db: Kysely<any>) {
    await migration0009.up(db);
  },
};
