import { sql } from 'kysely';
import { claimStreamId, foldClaim, toEnvelope, type ClaimState, type ClaimView } from '@claimtrail/domain';
import type { EventStore, WriteSession } from '@claimtrail/event-store';
import { claimSlot, type ClaimSlot, type ClaimStateCache, type SearchDocument } from './claim-slots.ts';
import { searchDocument, stateFromView } from './projection.ts';

/*
 * Loading the claims a write transaction decides on: their projection rows, locked.
 */

/** A claim's state folded from its stream (the truth, when its projection row lags). */
export interface StreamClaim {
  state: ClaimState;
  version: number;
  /** Hash of the event at `version` (null when the stream is empty). */
  headHash: string | null;
}

export interface LockOptions {
  /**
   * Wait for rows another transaction holds (a batch of one), or skip them (SKIP LOCKED: a
   * row locked elsewhere — another instance's write, an operator's session — must not stall
   * a whole batch; its claim comes back `busy`).
   */
  waitForLocks: boolean;
  /**
   * States read from the streams of claims whose rows lagged their streams: used instead of
   * a row at another version (or no row), and written back with a new search vector.
   */
  fromStream?: ReadonlyMap<string, StreamClaim> | undefined;
}

interface LockedRow {
  id: string;
  /** Null when the cache holds this version's state (the row's view was not sent). */
  view: ClaimView | string | null;
  version: number;
  head_hash: string | null;
  /** The row exists but another transaction holds its lock (nothing else is set). */
  busy: boolean;
}

/**
 * Locks the rows of the claims `ids` in id order (every writer takes them in one order: no
 * deadlock) in one statement, and returns a slot for each claim that has a row, plus the
 * claims skipped as busy. The versions the cache holds go with the statement: a row at
 * that version sends no view (its state comes from the cache).
 */
export async function lockClaims(
  session: WriteSession,
  ids: ReadonlySet<string>,
  cache: ClaimStateCache,
  options: LockOptions,
): Promise<{ slots: Map<string, ClaimSlot>; busy: Set<string> }> {
  const slots = new Map<string, ClaimSlot>();
  const busy = new Set<string>();
  if (ids.size === 0) return { slots, busy };
  const sorted = [...ids].sort();
  // The cached entries as of now: the rows' versions are compared with these.
  const known = new Map(sorted.map((id) => [id, cache.get(id)]));
  const versions = sorted.map((id) => known.get(id)?.version ?? -1);
  const viewUnlessCached = sql`case when version = (${versions}::int[])[array_position(${sorted}::uuid[], id)] then null else view end`;
  const statement = options.waitForLocks
    ? sql<LockedRow>`select id, version, head_hash, ${viewUnlessCached} as view, false as busy
          from claims where id = any(${sorted}::uuid[]) order by id for update`
    : // The second part names the rows that exist but were skipped.
      sql<LockedRow>`with locked as materialized (
            select id, version, head_hash, ${viewUnlessCached} as view
              from claims where id = any(${sorted}::uuid[]) order by id for update skip locked)
          select id, version, head_hash, view, false as busy from locked
          union all
          select id, null::int, null::text, null::json, true from claims
           where id = any(${sorted}::uuid[]) and id not in (select id from locked)`;
  const locked = await session.run(statement.compile(session.tx));

  const headless: ClaimSlot[] = [];
  for (const row of locked) {
    if (row.busy) {
      busy.add(row.id);
      continue;
    }
    const version = Number(row.version);
    let state: ClaimState;
    let storedDoc: SearchDocument;
    if (row.view === null) {
      const entry = known.get(row.id)!;
      state = entry.state;
      storedDoc = entry.doc;
    } else {
      const view = typeof row.view === 'string' ? (JSON.parse(row.view) as ClaimView) : row.view;
      state = stateFromView(view);
      storedDoc = searchDocument(view);
    }
    slots.set(row.id, claimSlot(claimStreamId(row.id), state, { version, hash: row.head_hash }, storedDoc));
  }
  for (const [id, stream] of options.fromStream ?? []) {
    if (busy.has(id) || slots.get(id)?.head.version === stream.version) continue;
    slots.set(id, claimSlot(claimStreamId(id), stream.state, { version: stream.version, hash: stream.headHash }, null));
  }
  for (const slot of slots.values()) if (slot.head.version > 0 && !slot.head.hash) headless.push(slot);
  if (headless.length > 0) {
    // Rows written without their head hash: the hash of the event at their version. (Not
    // the stream's latest event: a row that lags its stream must lose the append's race, as
    // with a head hash, and be written from the stream — see StreamClaim.)
    const heads = await sql<{ stream_id: string; hash: string }>`
      select stream_id, hash from events
       where (stream_id, version) in (select * from unnest(${headless.map((s) => s.streamId)}::text[], ${headless.map((s) => s.head.version)}::int[]))`.execute(
      session.tx,
    );
    const byStream = new Map(heads.rows.map((row) => [row.stream_id, row.hash]));
    for (const slot of headless) slot.head = { version: slot.head.version, hash: byStream.get(slot.streamId) ?? null };
  }
  return { slots, busy };
}

/** The claim folded from its stream. */
export async function loadFromStream(store: EventStore, streamId: string): Promise<StreamClaim> {
  const events = await store.readStream(streamId);
  const state = foldClaim(events.map((e) => toEnvelope(e)));
  const head = events.find((e) => e.version === state.version);
  return { state, version: state.version, headHash: head?.hash ?? null };
}
