import { sql, type Kysely, type Transaction } from 'kysely';
import { evolve, initialClaimState, toEnvelope, type ClaimEventEnvelope, type ClaimState } from '@claimtrail/domain';

/**
 * The desk projections (notifications, analytics: docs/desk-operations.md) follow the event
 * log in position order, after the write: one transaction per batch takes the follower's
 * advisory lock, reads its checkpoint, hands the events (each with its claim's state
 * before and after it) to every projection and moves the checkpoint. Several instances
 * may run it at once: the lock lets one through at a time and the checkpoint tells the
 * next one where the first stopped, so each event is applied exactly once. A rebuild
 * empties the projections, resets the checkpoint and follows the whole log again.
 */

export interface FollowedEvent {
  position: number;
  eventId: string;
  streamId: string;
  claimId: string;
  envelope: ClaimEventEnvelope;
  before: ClaimState;
  after: ClaimState;
}

export interface DeskProjection {
  readonly name: string;
  /** Applies a batch of events, in position order, inside the follower's transaction. */
  apply(tx: Transaction<any>, events: readonly FollowedEvent[]): Promise<void>;
  /** Empties the projection (a rebuild), inside the rebuild's transaction. */
  reset(tx: Transaction<any>): Promise<void>;
}

const FOLLOWER = 'desk';
/** Key of the follower's transaction-scoped advisory lock (any bigint no other lock of the service uses). */
const LOCK_KEY = sql`hashtextextended('claimtrail.desk-follower', 0)`;
const BATCH = 500;
const CACHED_STATES = 10_000;

interface EventRow {
  position: string;
  id: string;
  stream_id: string;
  version: number;
  type: string;
  data: unknown;
  actor: string;
  recorded_at: Date | string;
}

function envelopeOf(row: EventRow): ClaimEventEnvelope {
  return toEnvelope({
    type: row.type,
    data: typeof row.data === 'string' ? JSON.parse(row.data) : row.data,
    version: Number(row.version),
    recordedAt: row.recorded_at,
    streamId: row.stream_id,
    metadata: { actor: row.actor },
  });
}

export class DeskFollower {
  /** Each claim stream's state at its last followed version (a bounded cache; misses fold the stream). */
  private readonly states = new Map<string, ClaimState>();
  private running: Promise<number> | null = null;
  private again = false;

  constructor(
    private readonly db: Kysely<any>,
    readonly projections: readonly DeskProjection[],
  ) {}

  /**
   * Follows the log to its head; concurrent calls share the run in progress (and one more
   * run after it, for events that arrived meanwhile). Resolves with the checkpoint reached.
   */
  catchUp(): Promise<number> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const run = (async () => {
      try {
        let position: number;
        do {
          this.again = false;
          position = await this.runToHead();
        } while (this.again);
        return position;
      } finally {
        this.running = null;
      }
    })();
    this.running = run;
    return run;
  }

  /** Resolves when no run is in progress (never rejects). */
  async idle(): Promise<void> {
    await this.running?.catch(() => undefined);
  }

  /** Empties every projection and follows the whole log again (one transaction: readers see the old or the new). */
  async rebuild(): Promise<number> {
    await this.running?.catch(() => undefined);
    this.states.clear();
    return this.db.transaction().execute(async (tx) => {
      await sql`select pg_advisory_xact_lock(${LOCK_KEY})`.execute(tx);
      for (const p of this.projections) await p.reset(tx);
      await sql`update desk_followers set position = 0 where name = ${FOLLOWER}`.execute(tx);
      let position = 0;
      for (;;) {
        const next = await this.batch(tx, position);
        if (next === position) return position;
        position = next;
      }
    });
  }

  private async runToHead(): Promise<number> {
    for (;;) {
      const [before, after] = await this.db.transaction().execute(async (tx) => {
        await sql`select pg_advisory_xact_lock(${LOCK_KEY})`.execute(tx);
        const { rows } = await sql<{ position: string }>`select position::text as position from desk_followers where name = ${FOLLOWER}`.execute(tx);
        const from = Number(rows[0]?.position ?? 0);
        return [from, await this.batch(tx, from)] as const;
      });
      if (after === before) return after;
    }
  }

  /** One batch after `from` applied and checkpointed; the new checkpoint (== from when there was nothing). */
  private async batch(tx: Transaction<any>, from: number): Promise<number> {
    const { rows } = await sql<EventRow>`
      select position::text as position, id, stream_id, version, type, data, metadata->>'actor' as actor, recorded_at
        from events where position > ${from} and stream_id like 'claim-%'
       order by events.position limit ${BATCH}`.execute(tx);
    if (rows.length === 0) {
      // Positions of other streams (none today) still move the checkpoint past them.
      return from;
    }
    const followed: FollowedEvent[] = [];
    for (const row of rows) {
      const envelope = envelopeOf(row);
      const before = await this.stateBefore(tx, row.stream_id, envelope.version);
      const after = evolve(before, envelope);
      this.remember(row.stream_id, after);
      followed.push({
        position: Number(row.position),
        eventId: row.id,
        streamId: row.stream_id,
        claimId: row.stream_id.slice('claim-'.length),
        envelope,
        before,
        after,
      });
    }
    for (const p of this.projections) await p.apply(tx, followed);
    const to = followed[followed.length - 1]!.position;
    await sql`insert into desk_followers (name, position) values (${FOLLOWER}, ${to})
              on conflict (name) do update set position = excluded.position`.execute(tx);
    return to;
  }

  private async stateBefore(tx: Transaction<any>, streamId: string, version: number): Promise<ClaimState> {
    const cached = this.states.get(streamId);
    if (cached && cached.version === version - 1) return cached;
    if (version === 1) return initialClaimState;
    const { rows } = await sql<EventRow>`
      select 0 as position, id, stream_id, version, type, data, metadata->>'actor' as actor, recorded_at
        from events where stream_id = ${streamId} and version < ${version} order by version`.execute(tx);
    let state = initialClaimState;
    for (const row of rows) state = evolve(state, envelopeOf(row));
    return state;
  }

  private remember(streamId: string, state: ClaimState): void {
    this.states.delete(streamId);
    this.states.set(streamId, state);
    if (this.states.size > CACHED_STATES) this.states.delete(this.states.keys().next().value!);
  }
}
