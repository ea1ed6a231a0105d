import { evolve, toClaimView, toEnvelope, type ClaimState, type ClaimView } from '@claimtrail/domain';
import { LruMap, type AppendResult, type NewEvent, type StreamHead } from '@claimtrail/event-store';
import type { CommandError } from './errors.ts';
import type { ExecuteInput, ExecuteResult } from './execute.ts';
import { searchDocument } from './projection.ts';

/*
 * What the stages of the write pipeline hand each other: the commands of a batch, the
 * claims they write, and the outcomes (see batch.ts for the stages).
 */

/** A command ready for the pipeline: ids normalized, request hash computed. */
export interface BatchWrite {
  input: ExecuteInput;
  streamId: string;
  requestHash: string;
}

export type BatchOutcome = { ok: true; result: ExecuteResult } | { ok: false; error: CommandError };

/** How a batch was written: in one round trip (see one-flight.ts), or reading the claims first. */
export type BatchPath = 'one_flight' | 'read_first';

export interface BatchResult {
  path: BatchPath;
  /** Per write; undefined when a claim it needs is locked by another transaction (deferred). */
  outcomes: (BatchOutcome | undefined)[];
  /** The claims written, as committed once the transaction commits (for the cache). */
  written: [claimId: string, entry: CachedClaim][];
}

export type SearchDocument = ReturnType<typeof searchDocument>;

/** One claim of a batch: its state before, and what the batch writes to it. */
export interface ClaimSlot {
  streamId: string;
  state: ClaimState;
  head: StreamHead;
  /** The search document of the row as stored (null: no row, or not to be trusted), to see whether the search text changed. */
  storedDoc: SearchDocument | null;
  /** The command writing to this claim (its outcome index) and its new events. */
  index: number;
  events: NewEvent[];
  /** The view after the append and its JSON text (set once appended). */
  view?: ClaimView;
  viewJson?: string;
}

/** A slot before its command is decided. */
export function claimSlot(streamId: string, state: ClaimState, head: StreamHead, storedDoc: SearchDocument | null): ClaimSlot {
  return { streamId, state, head, storedDoc, index: -1, events: [] };
}

/** A claim's state as committed at `version` (what its projection row holds). */
export interface CachedClaim {
  version: number;
  headHash: string | null;
  state: ClaimState;
  doc: SearchDocument;
}

/**
 * Committed claim states by claim id, least recently used out first. The pipeline sends
 * the versions it holds with its row-lock query, and the database sends a row's view only
 * when its version differs: a write to a claim the service wrote recently neither reads
 * nor parses the ~3 kB view; with every claim of a batch held, the batch goes out in one
 * round trip (one-flight.ts). Filled only after a commit (see pipeline.ts), so an entry is
 * always a state the log really had at that version.
 */
export class ClaimStateCache extends LruMap<string, CachedClaim> {
  constructor(capacity = 5000) {
    super(capacity);
  }
}

/** The recorded events folded into their slots: state, head, view and its JSON, the command's outcome. */
export function foldAppended(appending: ClaimSlot[], results: AppendResult[], outcomes: (BatchOutcome | undefined)[]): void {
  for (let i = 0; i < appending.length; i++) {
    const slot = appending[i]!;
    const recorded = results[i]!.events;
    for (const event of recorded) slot.state = evolve(slot.state, toEnvelope(event));
    const last = recorded[recorded.length - 1]!;
    slot.head = { version: last.version, hash: last.hash };
    slot.view = toClaimView(slot.state);
    // Serialized once: the projection row, the stored answer and the response carry this text.
    slot.viewJson = JSON.stringify(slot.view);
    outcomes[slot.index] = { ok: true, result: { view: slot.view, viewJson: slot.viewJson, events: recorded, replayed: false } };
  }
}

/** The cache entries of the appended claims, with their new search documents. */
export function writtenClaims(appending: ClaimSlot[], docs: SearchDocument[]): [string, CachedClaim][] {
  return appending.map((slot, i): [string, CachedClaim] => [
    slot.view!.id,
    { version: slot.head.version, headHash: slot.head.hash, state: slot.state, doc: docs[i]! },
  ]);
}
