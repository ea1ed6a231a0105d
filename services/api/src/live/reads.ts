import type { EventStore } from '@claimtrail/event-store';
import type { Kysely } from 'kysely';

/**
 * Where snapshots and replays read: a read replica that has replayed `atLeast` (the app's
 * ReadReplicas, read-replicas.ts), else the primary. Never the fan-out itself: the hub's
 * subscription LISTENs on the primary (notifications are not replicated) and reads what a
 * wake-up announced there.
 */
export interface LiveReads {
  read<T>(atLeast: number, read: (source: { store: EventStore; db: Kysely<any> }) => Promise<T>): Promise<T>;
}

/** Every read on the store itself (no read replicas). */
export function storeReads(store: EventStore): LiveReads {
  return { read: (_atLeast, read) => read({ store, db: store.db }) };
}
