import { sql, type RawBuilder, type Transaction } from 'kysely';
import {
  claimStreamId,
  evolve,
  initialClaimState,
  toClaimView,
  toEnvelope,
  type ClaimState,
  type ClaimView,
  type DecideContext,
} from '@claimtrail/domain';
import { isAppendConflict, LruMap, type AppendResult, type EventStore, type NewEvent, type StreamHead } from '@claimtrail/event-store';
import { directoryUsers } from '@claimtrail/identity';
import { decideWrite } from './decide-write.ts';
import { CommandError } from './errors.ts';
import { isClaimId } from './ids.ts';
import { runFlight, runInSession, statementName, type WriteSession } from './merged.ts';
import { jsonColumnTexts, recordsetColumnsSql, scalarRecord, searchDocument, stateFromView, UPDATED_COLUMNS, upsertClaimsFrom } from './projection.ts';
import type { ExecuteInput, ExecuteResult } from './execute.ts';

/**
 * Group commit: many commands, one transaction.
 *
 * Under load most of a write's cost is per transaction and per statement, not per event:
 * the round trips, parse/bind, the commit and its WAL flush, the sequencer pass after it.
 * `writeBatch` carries every command waiting in the service's queue through the same
 * pipeline as a single write, with each step done once for all of them:
 *
 *   1. claim the idempotency keys (one INSERT … ON CONFLICT DO NOTHING; BEGIN rides along)
 *   2. lock every claim touched, in id order (one SELECT … FOR UPDATE; no deadlock between
 *      batches: all take their locks in the same order, keys before claims)
 *   3. decide each command on its claim's locked state (a batch holds at most one command
 *      per claim, merge targets included: see `batchFootprint`)
 *   4. append every stream's new events (one INSERT through `store.appendMany`)
 *   5. write the projection rows, the keys' stored answers, release the keys this batch
 *      claimed for refused or deferred commands (one statement; COMMIT rides along)
 *
 * A refusal is an outcome of its own command only (nothing of it is written). The
 * outcomes hold only once the transaction has committed; if it fails, nothing was
 * written for anyone and the caller decides per command (see ClaimService).
 */

/** A command ready for the batch: ids normalized, request hash computed. */
export interface BatchWrite {
  input: ExecuteInput;
  streamId: string;
  requestHash: string;
}

export type BatchOutcome = { ok: true; result: ExecuteResult } | { ok: false; error: CommandError };

interface ClaimSlot {
  streamId: string;
  state: ClaimState;
  head: StreamHead;
  /** The search document of the row as stored (null: no row), to see whether the search text changed. */
  storedDoc: SearchDocument | null;
  /** The command writing to this claim (its outcome index) and its new events. */
  index: number;
  events: NewEvent[];
  /** The view after the append and its JSON text (set once appended). */
  view?: ClaimView;
  viewJson?: string;
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

type SearchDocument = ReturnType<typeof searchDocument>;

/** A claim's state as committed at `version` (what its projection row holds). */
export interface CachedClaim {
  version: number;
  headHash: string | null;
  state: ClaimState;
  doc: SearchDocument;
}

/**
 * Committed claim states by claim id, least recently used out first. The batch sends the
 * versions it holds with its row-lock query, and the database sends a row's view only
 * when its version differs: a write to a claim the service wrote recently neither reads
 * nor parses the ~3 kB view. Filled only after a commit (see ClaimService), so an entry is
 * always a state the log really had at that version.
 */
export class ClaimStateCache extends LruMap<string, CachedClaim> {
  constructor(capacity = 5000) {
    super(capacity);
  }
}

/** How a batch was written: see writeInOneFlight. */
export type BatchPath = 'one_flight' | 'read_first';

export interface BatchResult {
  path: BatchPath;
  /** Per write; undefined when a claim it needs is locked by another transaction (run it alone). */
  outcomes: (BatchOutcome | undefined)[];
  /** The claims written, as committed once the transaction commits (for the cache). */
  written: [claimId: string, entry: CachedClaim][];
}

function keyOf(input: ExecuteInput): string | null {
  return input.idempotencyKey === undefined ? null : `${input.actor.id}\u0000${input.idempotencyKey}`;
}

export async function writeBatch(
  store: EventStore,
  tx: Transaction<any>,
  session: WriteSession,
  writes: readonly BatchWrite[],
  cache: ClaimStateCache,
  /** Called when only the COMMIT is left (the queue may start the next batch meanwhile). */
  committing: () => void = () => undefined,
): Promise<BatchResult> {
  const fast = await writeInOneFlight(store, tx, session, writes, cache);
  if (fast !== null) return fast;
  const outcomes: (BatchOutcome | undefined)[] = new Array(writes.length);

  // 1. Idempotency keys: a key already present answers with its stored response (or a
  // reuse refusal); a concurrent holder of the key makes this wait for its commit.
  const keyed = writes.map((w, index) => ({ w, index })).filter(({ w }) => w.input.idempotencyKey !== undefined);
  // The keys this transaction inserted: the only ones it may give back (see step 5).
  let won = new Set<string>();
  if (keyed.length > 0) {
    const sorted = [...keyed].sort((a, b) => (keyOf(a.w.input)! < keyOf(b.w.input)! ? -1 : 1));
    const claimed = await runInSession<{ user_id: string; key: string }>(
      tx,
      session,
      sql`
      insert into idempotency_keys (user_id, key, request_hash, claim_id, status_code, response)
      select t.user_id, t.key, t.request_hash, t.claim_id, 0, 'null'
        from unnest(${sorted.map(({ w }) => w.input.actor.id)}::text[], ${sorted.map(({ w }) => w.input.idempotencyKey!)}::text[],
                    ${sorted.map(({ w }) => w.requestHash)}::text[], ${sorted.map(({ w }) => w.input.claimId)}::uuid[])
             with ordinality as t(user_id, key, request_hash, claim_id, ord)
       order by t.ord
      on conflict (user_id, key) do nothing
      returning user_id, key`,
    );
    won = new Set(claimed.map((row) => `${row.user_id}\u0000${row.key}`));
    const taken = keyed.filter(({ w }) => !won.has(keyOf(w.input)!));
    if (taken.length > 0) {
      const stored = await sql<{ user_id: string; key: string; request_hash: string; response: string }>`
        select user_id, key, request_hash, response from idempotency_keys
         where (user_id, key) in (select * from unnest(${taken.map(({ w }) => w.input.actor.id)}::text[], ${taken.map(({ w }) => w.input.idempotencyKey!)}::text[]))`.execute(tx);
      const byKey = new Map(stored.rows.map((row) => [`${row.user_id}\u0000${row.key}`, row]));
      for (const { w, index } of taken) {
        const row = byKey.get(keyOf(w.input)!);
        outcomes[index] =
          !row || row.request_hash !== w.requestHash
            ? { ok: false, error: new CommandError('idempotency_key_reuse', 'this Idempotency-Key was already used for a different request') }
            : { ok: true, result: { view: JSON.parse(row.response) as ClaimView, viewJson: row.response, events: [], replayed: true } };
      }
    }
  }

  // 2. Lock the claims (and merge targets: their state decides the merge).
  const ids = new Set<string>();
  for (let i = 0; i < writes.length; i++) {
    if (outcomes[i]) continue;
    const { input } = writes[i]!;
    ids.add(input.claimId);
    if (input.command.type === 'merge' && isClaimId(input.command.into)) ids.add(input.command.into.toLowerCase());
  }
  const slots = new Map<string, ClaimSlot>();
  const busy = new Set<string>();
  if (ids.size > 0) {
    const sorted = [...ids].sort();
    // The cached entries as of now: the rows' versions are compared with these.
    const known = new Map(sorted.map((id) => [id, cache.get(id)]));
    const locked = await runInSession<LockedRow>(
      tx,
      session,
      // SKIP LOCKED: a row locked by someone else (another instance's write, an operator's
      // session) must not stall the whole batch; its commands go the single-command way,
      // which waits for that lock on a connection of its own. The second part names the
      // rows that exist but were skipped.
      sql`with locked as materialized (
            select id, version, head_hash,
                   case when version = (${sorted.map((id) => known.get(id)?.version ?? -1)}::int[])[array_position(${sorted}::uuid[], id)]
                        then null else view end as view
              from claims where id = any(${sorted}::uuid[]) order by id for update skip locked)
          select id, version, head_hash, view, false as busy from locked
          union all
          select id, null::int, null::text, null::json, true from claims
           where id = any(${sorted}::uuid[]) and id not in (select id from locked)`,
    );
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
      const slot: ClaimSlot = {
        streamId: claimStreamId(row.id),
        state,
        head: { version, hash: row.head_hash },
        storedDoc,
        index: -1,
        events: [],
      };
      if (version > 0 && !row.head_hash) headless.push(slot);
      slots.set(row.id, slot);
    }
    if (headless.length > 0) {
      // Rows written without their head hash: read the heads from the log.
      const heads = await sql<{ stream_id: string; version: number; hash: string }>`
        select distinct on (stream_id) stream_id, version, hash from events
         where stream_id = any(${headless.map((s) => s.streamId)}::text[]) order by stream_id, version desc`.execute(tx);
      const byStream = new Map(heads.rows.map((row) => [row.stream_id, row]));
      for (const slot of headless) {
        const head = byStream.get(slot.streamId);
        slot.head = head ? { version: Number(head.version), hash: head.hash } : { version: 0, hash: null };
      }
    }
  }

  // The users the batch's assign commands name (one query, only when there are any).
  const assigning = writes.filter((w, i) => !outcomes[i] && w.input.command?.type === 'assign');
  const directory = assigning.length === 0 ? null : await directoryUsers(tx, assigning.map((w) => (w.input.command as { assignee?: unknown }).assignee));

  // 3. Decide, each command on its claim's locked state (a busy claim's: later, alone).
  for (let index = 0; index < writes.length; index++) {
    if (outcomes[index]) continue;
    const { input, streamId } = writes[index]!;
    const { claimId, command } = input;
    // A busy claim's command stays without an outcome: the caller runs it alone.
    if (busy.has(claimId) || (command.type === 'merge' && isClaimId(command.into) && busy.has(command.into.toLowerCase()))) continue;
    const slot = slots.get(claimId) ?? { streamId, state: initialClaimState, head: { version: 0, hash: null }, storedDoc: null, index: -1, events: [] };
    const context: DecideContext = { claimId };
    if (command.type === 'merge') {
      const target = isClaimId(command.into) ? slots.get(command.into.toLowerCase()) : undefined;
      context.mergeTarget = target ? { id: command.into.toLowerCase(), status: target.state.status! } : null;
    }
    if (command.type === 'assign') context.assignee = directory?.get(command.assignee) ?? null;
    const decided = decideWrite(input, slot.state, context);
    if (decided instanceof CommandError) {
      outcomes[index] = { ok: false, error: decided };
      continue;
    }
    slot.index = index;
    slot.events = decided;
    slots.set(claimId, slot);
  }

  // 4. Append every stream's events in one statement; fold the recorded events (the state
  // and view served and stored are exactly what a replay of the log computes).
  const appending = [...slots.values()].filter((slot) => slot.events.length > 0);
  if (appending.length > 0) {
    const results = await store.appendMany(
      appending.map((slot) => ({ streamId: slot.streamId, events: slot.events, head: slot.head })),
      { tx },
    );
    foldAppended(appending, results, outcomes);
  }

  // 5. Projections, stored answers, released keys; COMMIT rides along.
  const { docs, rows, rowsJson } = projectionRows(appending);
  const answers: Answer[] = [];
  const released: { user_id: string; key: string }[] = [];
  for (const { w, index } of keyed) {
    // A key someone else holds is theirs, whatever this request's outcome (a reuse refusal
    // must not erase the stored answer: the next request with the key would write again).
    if (!won.has(keyOf(w.input)!)) continue;
    const outcome = outcomes[index];
    if (outcome === undefined) {
      // Deferred: its key is released here and claimed again by the single-command path.
      released.push({ user_id: w.input.actor.id, key: w.input.idempotencyKey! });
      continue;
    }
    if (outcome.ok && outcome.result.replayed) continue;
    const owner = { user_id: w.input.actor.id, key: w.input.idempotencyKey! };
    if (outcome.ok) {
      const { view, viewJson } = outcome.result;
      answers.push({ ...owner, status_code: w.input.command.type === 'submit_claim' ? 201 : 200, version: view.version, responseJson: viewJson });
    } else {
      // A refusal is not stored: the same key may be used again (as after a rollback).
      released.push(owner);
    }
  }
  committing();
  if (rows.length > 0 || answers.length > 0 || released.length > 0) {
    await runInSession(tx, session, batchProjectionStatement(rows, rowsJson, answers, released), true);
  }
  return { path: 'read_first', outcomes, written: writtenClaims(appending, docs) };
}

/** The recorded events folded into their slots: state, head, view and its JSON, the command's outcome. */
function foldAppended(appending: ClaimSlot[], results: AppendResult[], outcomes: (BatchOutcome | undefined)[]): void {
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

function projectionRows(appending: ClaimSlot[]) {
  const docs = appending.map((slot) => searchDocument(slot.view!));
  const rows = appending.map((slot, i) => projectionRecord(slot, docs[i]!));
  const rowsJson = jsonRecords(rows, (_row, i) => {
    const slot = appending[i]!;
    return jsonColumnTexts({ streamId: slot.streamId, view: slot.view!, headHash: slot.head.hash, viewJson: slot.viewJson! });
  });
  return { docs, rows, rowsJson };
}

function writtenClaims(appending: ClaimSlot[], docs: SearchDocument[]): [string, CachedClaim][] {
  return appending.map((slot, i): [string, CachedClaim] => [
    slot.view!.id,
    { version: slot.head.version, headHash: slot.head.hash, state: slot.state, doc: docs[i]! },
  ]);
}

/**
 * The common case in one round trip. When every command of the batch writes a claim whose
 * committed state this service holds (or creates one), carries no Idempotency-Key and is
 * neither a merge nor an assign, nothing needs to be read first: the commands are decided on the cached
 * states, the events numbered and chained, the views folded, and BEGIN, the row locks (in
 * id order, as the other path takes them), the append, the projection rows and COMMIT go
 * out together.
 *
 * A cached state that is no longer the claim's latest cannot write anything: the stream
 * has moved on, so its next version is taken and the append fails on the unique (stream,
 * version) index, aborting the transaction; or the head it chains to is not an event (the
 * append's guard inserts nothing, and the projection rows only go in next to their own
 * events, so the COMMIT commits nothing). Either way those claims leave the cache and the
 * batch runs the other way, reading what is committed. Returns null then, and when the
 * batch does not qualify.
 */
async function writeInOneFlight(
  store: EventStore,
  tx: Transaction<any>,
  session: WriteSession,
  writes: readonly BatchWrite[],
  cache: ClaimStateCache,
): Promise<BatchResult | null> {
  if (!session.merged || session.begun) return null;
  const slots: ClaimSlot[] = [];
  for (const { input, streamId } of writes) {
    // A merge reads its target and an assign its assignee: neither is in the cache.
    if (input.idempotencyKey !== undefined || input.command.type === 'merge' || input.command.type === 'assign') return null;
    const cached = cache.get(input.claimId);
    if (cached) {
      if (cached.version > 0 && !cached.headHash) return null;
      slots.push({ streamId, state: cached.state, head: { version: cached.version, hash: cached.headHash }, storedDoc: cached.doc, index: -1, events: [] });
    } else if (input.command.type === 'submit_claim') {
      slots.push({ streamId, state: initialClaimState, head: { version: 0, hash: null }, storedDoc: null, index: -1, events: [] });
    } else return null;
  }

  const outcomes: (BatchOutcome | undefined)[] = new Array(writes.length);
  for (let index = 0; index < writes.length; index++) {
    const slot = slots[index]!;
    const decided = decideWrite(writes[index]!.input, slot.state, { claimId: writes[index]!.input.claimId });
    // A refusal decided on a cached state is only as right as the cache: the append would
    // prove an acceptance, nothing proves a refusal. Such a batch reads the rows first.
    if (decided instanceof CommandError) return null;
    slot.index = index;
    slot.events = decided;
  }
  const appending = slots.filter((slot) => slot.events.length > 0);
  if (appending.length === 0) return null;

  const append = store.prepareAppendMany(appending.map((slot) => ({ streamId: slot.streamId, events: slot.events, head: slot.head })));
  foldAppended(appending, append.results, outcomes);
  const { docs, rows, rowsJson } = projectionRows(appending);
  const projection = batchProjectionStatement(rows, rowsJson, [], [], true).compile(tx);
  const ids = appending.map((slot) => slot.view!.id).sort();
  const locks = sql`select id from claims where id = any(${ids}::uuid[]) order by id for update`.compile(tx);

  // Not `committing()` first: the next batch waits for this flight and leaves bigger (with
  // one round trip there is no separate COMMIT wait to overlap; measured: smaller batches
  // cost more CPU per command than the overlap saves).
  session.begun = true;
  let results;
  try {
    results = await runFlight(
      tx,
      locks,
      [
        { sql: append.query.sql, parameters: append.query.parameters, name: append.statementName },
        { sql: projection.sql, parameters: projection.parameters, name: statementName(projection.sql) },
      ],
      { begin: true, commit: true },
    );
  } catch (error) {
    // The transaction is open and failed (or the connection is gone: then so is this rollback).
    await sql`rollback`.execute(tx);
    session.begun = false;
    if (!isAppendConflict(error)) throw error;
    return missed(session, cache, ids);
  }
  if (Number(results[1]?.rowCount ?? 0) !== append.rows) return missed(session, cache, ids);
  session.committed = true;
  return { path: 'one_flight', outcomes, written: writtenClaims(appending, docs) };
}

/** The cached states were stale: forget them and start the transaction again. */
function missed(session: WriteSession, cache: ClaimStateCache, ids: readonly string[]): null {
  for (const id of ids) cache.delete(id);
  session.begun = false;
  session.committed = false;
  return null;
}

/**
 * What a write touches that another write in the same batch must not: its claim, a merge's
 * target, its idempotency key. The queue puts at most one write per footprint entry in a
 * batch (the others wait for the next one), so each command decides on its claim's locked,
 * committed state, and a merge sees its target as no other command of the batch leaves it.
 */
export function batchFootprint(input: ExecuteInput): string[] {
  const footprint = [input.claimId];
  if (input.command?.type === 'merge' && isClaimId(input.command.into)) footprint.push(input.command.into.toLowerCase());
  const key = keyOf(input);
  if (key !== null) footprint.push(`key\u0000${key}`);
  return footprint;
}

/** One claim's row of the batch statement's json parameter. */
function projectionRecord(slot: ClaimSlot, doc: SearchDocument): Record<string, unknown> & { reindex: boolean } {
  const view = slot.view!;
  const before = slot.storedDoc;
  const reindex = !before || before.primary !== doc.primary || before.secondary !== doc.secondary;
  return {
    ...scalarRecord({ streamId: slot.streamId, view, headHash: slot.head.hash }),
    reindex,
    primary_text: reindex ? doc.primary : null,
    secondary_text: reindex ? doc.secondary : null,
  };
}

/** `records` as a JSON array, each object extended with nested JSON texts given as strings (inserted verbatim). */
function jsonRecords<T extends object>(records: readonly T[], nested: (record: T, index: number) => Record<string, string>): string {
  const parts = records.map((record, index) => {
    const own = JSON.stringify(record);
    const extra = Object.entries(nested(record, index))
      .map(([key, json]) => `,${JSON.stringify(key)}:${json}`)
      .join('');
    return own === '{}' ? `{${extra.slice(1)}}` : `${own.slice(0, -1)}${extra}}`;
  });
  return `[${parts.join(',')}]`;
}

type ProjectionRecord = ReturnType<typeof projectionRecord>;
/** The rows' columns (the projection row's, search as its texts, plus whether to recompute the vector). */
const ROWS_COLUMNS = sql.raw(recordsetColumnsSql(['reindex boolean']));
/** What a row keeping its search vector updates: `state, …, head_hash`, and from the rows `r.state, …`. */
const UPDATED_LIST = sql.raw(UPDATED_COLUMNS.map((c) => c.name).join(', '));
const UPDATED_FROM_ROWS = sql.raw(UPDATED_COLUMNS.map((c) => `r.${c.name}`).join(', '));
interface Answer {
  user_id: string;
  key: string;
  status_code: number;
  version: number;
  /** The answer's JSON text (the response sent). */
  responseJson: string;
}
type KeyOwner = Pick<Answer, 'user_id' | 'key'>;

/**
 * The batch's last statement: its data-modifying parts as CTEs, only those with rows.
 *
 * Rows travel as one json parameter (json, not jsonb: each nested view keeps the exact text
 * `JSON.stringify` gave it — the text the response sends and the single-row writer and the
 * rebuild write, so a rebuild compares equal). Rows whose searchable text did not change keep their search
 * vector (an UPDATE); the others are upserted with a new one. Every part finds its rows
 * through a primary key with `= any(array)`, never a join the planner could turn into a
 * scan of the whole table.
 */
function batchProjectionStatement(
  rows: ProjectionRecord[],
  rowsJson: string,
  answers: Answer[],
  released: KeyOwner[],
  /** Only rows whose claim's new head event is in the log (written by this transaction): see writeInOneFlight. */
  besideTheirEvents = false,
): RawBuilder<unknown> {
  const ctes: RawBuilder<unknown>[] = [];
  const writes: RawBuilder<unknown>[] = [];
  const kept = rows.filter((row) => !row.reindex).map((row) => row.id);
  const reindexed = rows.some((row) => row.reindex);
  if (rows.length > 0) {
    // The check is a lateral lookup with LIMIT rather than EXISTS: a semi-join is planned for
    // json_to_recordset's guess of 100 rows, and (prepared, planned while `events` was small)
    // came out as a hash join over a sequential scan of the whole log on every batch.
    ctes.push(sql`rows as materialized (
      select r.* from json_to_recordset(${rowsJson}::json) as r(${ROWS_COLUMNS})${
        besideTheirEvents
          ? sql` cross join lateral (select 1 from events e
                  where e.stream_id = r.stream_id and e.version = r.version and e.hash = r.head_hash limit 1) as beside`
          : sql``
      })`);
  }
  if (answers.length > 0) {
    ctes.push(sql`answers as materialized (
      select * from json_to_recordset(${jsonRecords(answers.map(({ responseJson: _, ...key }) => key), (_a, i) => ({ response: answers[i]!.responseJson }))}::json)
        as a(user_id text, key text, status_code integer, version integer, response json))`);
    writes.push(sql`update idempotency_keys k
         set (status_code, version, response) =
             (select a.status_code, a.version, a.response::text from answers a where a.user_id = k.user_id and a.key = k.key)
       where k.user_id = any(${answers.map((a) => a.user_id)}::text[]) and k.key = any(${answers.map((a) => a.key)}::text[])
         and exists (select 1 from answers a where a.user_id = k.user_id and a.key = k.key)`);
  }
  if (released.length > 0) {
    writes.push(sql`delete from idempotency_keys k
       where k.user_id = any(${released.map((r) => r.user_id)}::text[]) and k.key = any(${released.map((r) => r.key)}::text[])
         and (k.user_id, k.key) in (select * from unnest(${released.map((r) => r.user_id)}::text[], ${released.map((r) => r.key)}::text[]))`);
  }
  if (kept.length > 0) {
    writes.push(sql`update claims c
         set (${UPDATED_LIST}) =
             (select ${UPDATED_FROM_ROWS}
                from rows r where r.id = c.id)
       where c.id = any(${kept}::uuid[]) and exists (select 1 from rows r where r.id = c.id)`);
  }
  if (reindexed) {
    writes.push(upsertClaimsFrom(sql`rows r where r.reindex`));
  }
  // The last write is the statement; the ones before it and the inputs are its CTEs.
  const main = writes.pop()!;
  writes.forEach((write, i) => ctes.push(sql`${sql.raw(`w${i}`)} as (${write})`));
  return ctes.length === 0 ? main : sql`with ${sql.join(ctes)} ${main}`;
}
