import { sql, type RawBuilder } from 'kysely';
import type { WriteSession } from '@claimtrail/event-store';
import type { BatchOutcome, BatchWrite } from './claim-slots.ts';
import { CommandError } from './errors.ts';
import type { ExecuteInput } from './execute.ts';
import { jsonRecords } from './json-records.ts';

/*
 * Idempotency keys (table idempotency_keys, one row per user and key): every statement of
 * the write pipeline that touches them. A key is claimed first in a write's transaction;
 * the transaction then stores the answer with it, or gives it back (a refused command's key
 * may be used again, as after a rollback).
 */

/** `actor \0 key`: a key is scoped per user. Null without a key. */
export function keyOf(input: ExecuteInput): string | null {
  return input.idempotencyKey === undefined ? null : `${input.actor.id}\u0000${input.idempotencyKey}`;
}

/** A write that carries a key, with its outcome index. */
export interface KeyedWrite {
  w: BatchWrite;
  index: number;
}

export interface KeyOwner {
  user_id: string;
  key: string;
}

export interface KeyAnswer extends KeyOwner {
  status_code: number;
  version: number;
  /** The answer's JSON text (the response sent). */
  responseJson: string;
}

const reuseRefusal = () => new CommandError('idempotency_key_reuse', 'this Idempotency-Key was already used for a different request');

/**
 * Claims the keys of `keyed` in one INSERT … ON CONFLICT DO NOTHING, in key order (batches
 * take keys in one order, then claims: no deadlock); on a pipelined session BEGIN rides
 * along. A concurrent holder of a key makes this wait for its commit. A key already present
 * answers its write here, in `outcomes`: with the stored response (replayed) when the
 * request is the same, else with a reuse refusal.
 *
 * Returns the keys this transaction inserted: the only ones it may store answers for or
 * give back (see `settleKeys`).
 */
export async function claimKeys(session: WriteSession, keyed: readonly KeyedWrite[], outcomes: (BatchOutcome | undefined)[]): Promise<Set<string>> {
  if (keyed.length === 0) return new Set();
  const sorted = [...keyed].sort((a, b) => (keyOf(a.w.input)! < keyOf(b.w.input)! ? -1 : 1));
  const claimed = await session.run(
    sql<KeyOwner>`
      insert into idempotency_keys (user_id, key, request_hash, claim_id, status_code, response)
      select t.user_id, t.key, t.request_hash, t.claim_id, 0, 'null'
        from unnest(${sorted.map(({ w }) => w.input.actor.id)}::text[], ${sorted.map(({ w }) => w.input.idempotencyKey!)}::text[],
                    ${sorted.map(({ w }) => w.requestHash)}::text[], ${sorted.map(({ w }) => w.input.claimId)}::uuid[])
             with ordinality as t(user_id, key, request_hash, claim_id, ord)
       order by t.ord
      on conflict (user_id, key) do nothing
      returning user_id, key`.compile(session.tx),
  );
  const won = new Set(claimed.map((row) => `${row.user_id}\u0000${row.key}`));
  const taken = keyed.filter(({ w }) => !won.has(keyOf(w.input)!));
  if (taken.length > 0) {
    const stored = await sql<KeyOwner & { request_hash: string; response: string }>`
      select user_id, key, request_hash, response from idempotency_keys
       where (user_id, key) in (select * from unnest(${taken.map(({ w }) => w.input.actor.id)}::text[], ${taken.map(({ w }) => w.input.idempotencyKey!)}::text[]))`.execute(
      session.tx,
    );
    const byKey = new Map(stored.rows.map((row) => [`${row.user_id}\u0000${row.key}`, row]));
    for (const { w, index } of taken) {
      const row = byKey.get(keyOf(w.input)!);
      outcomes[index] =
        !row || row.request_hash !== w.requestHash
          ? { ok: false, error: reuseRefusal() }
          : { ok: true, result: { view: JSON.parse(row.response), viewJson: row.response, events: [], replayed: true } };
    }
  }
  return won;
}

/**
 * What becomes of the keys this transaction claimed, by their commands' outcomes: an
 * accepted command's answer is stored; a refused command's key is given back (a refusal is
 * not stored: the key may be used again), and so is a deferred command's (claimed again when
 * it runs). A key someone else holds is theirs, whatever this request's outcome (a reuse
 * refusal must not erase the stored answer: the next request with the key would write again).
 */
export function settleKeys(
  keyed: readonly KeyedWrite[],
  won: ReadonlySet<string>,
  outcomes: readonly (BatchOutcome | undefined)[],
): { answers: KeyAnswer[]; released: KeyOwner[] } {
  const answers: KeyAnswer[] = [];
  const released: KeyOwner[] = [];
  for (const { w, index } of keyed) {
    if (!won.has(keyOf(w.input)!)) continue;
    const outcome = outcomes[index];
    const owner = { user_id: w.input.actor.id, key: w.input.idempotencyKey! };
    if (outcome === undefined || !outcome.ok) {
      released.push(owner);
      continue;
    }
    if (outcome.result.replayed) continue;
    const { view, viewJson } = outcome.result;
    answers.push({ ...owner, status_code: w.input.command.type === 'submit_claim' ? 201 : 200, version: view.version, responseJson: viewJson });
  }
  return { answers, released };
}

/**
 * The parts of a statement that stores `answers` with their keys: `input`, a CTE naming the
 * answers `answers` (one json parameter; `json` keeps each response's text as given), and
 * `write`, the UPDATE that reads it.
 */
export function storeAnswers(answers: readonly KeyAnswer[]): { input: RawBuilder<unknown>; write: RawBuilder<unknown> } {
  const json = jsonRecords(
    answers.map(({ responseJson: _, ...key }) => key),
    (_a, i) => ({ response: answers[i]!.responseJson }),
  );
  return {
    input: sql`answers as materialized (
      select * from json_to_recordset(${json}::json)
        as a(user_id text, key text, status_code integer, version integer, response json))`,
    write: sql`update idempotency_keys k
         set (status_code, version, response) =
             (select a.status_code, a.version, a.response::text from answers a where a.user_id = k.user_id and a.key = k.key)
       where k.user_id = any(${answers.map((a) => a.user_id)}::text[]) and k.key = any(${answers.map((a) => a.key)}::text[])
         and exists (select 1 from answers a where a.user_id = k.user_id and a.key = k.key)`,
  };
}

/**
 * The INSERT that claims keys and stores their answers at once: the one-round-trip write
 * (one-flight.ts), which has decided and folded its commands before sending anything. A
 * key that is already present (a retry, or a concurrent request with the same key, whose
 * commit this waits for) fails the INSERT on the primary key and so the whole flight,
 * before the events are appended; the batch is then written the read-first way, whose
 * `claimKeys` answers such keys with the stored response or a reuse refusal. Keys go in
 * key order, as `claimKeys` takes them (no deadlock between the two paths).
 */
export function insertAnswers(answers: readonly (KeyAnswer & { request_hash: string; claim_id: string })[]): RawBuilder<unknown> {
  const sorted = [...answers].sort((a, b) => (a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const json = jsonRecords(
    sorted.map(({ responseJson: _, ...key }) => key),
    (_a, i) => ({ response: sorted[i]!.responseJson }),
  );
  return sql`insert into idempotency_keys (user_id, key, request_hash, claim_id, status_code, version, response)
      select a.user_id, a.key, a.request_hash, a.claim_id, a.status_code, a.version, a.response::text
        from json_to_recordset(${json}::json)
          as a(user_id text, key text, request_hash text, claim_id uuid, status_code integer, version integer, response json)`;
}

/**
 * The DELETE, sent after the append in the same flight, that takes back the keys of
 * `insertAnswers` whose events are not in the log: the append inserts nothing (and the
 * flight still commits) when a head it was given is no event, and an answer must never be
 * stored for a write that did not happen.
 */
export function withdrawUnwritten(answers: readonly { user_id: string; key: string; streamId: string; version: number }[]): RawBuilder<unknown> {
  return sql`delete from idempotency_keys k
       using unnest(${answers.map((a) => a.user_id)}::text[], ${answers.map((a) => a.key)}::text[],
                    ${answers.map((a) => a.streamId)}::text[], ${answers.map((a) => a.version)}::int[]) as a(user_id, key, stream_id, version)
       where k.user_id = a.user_id and k.key = a.key
         and not exists (select 1 from events e where e.stream_id = a.stream_id and e.version = a.version)`;
}

/** Whether `error` is a key that was already present (see `insertAnswers`). */
export function isKeyConflict(error: unknown): boolean {
  const { code, constraint } = (error ?? {}) as { code?: unknown; constraint?: unknown };
  return code === '23505' && constraint === 'idempotency_keys_pkey';
}

/** The DELETE that gives `released` back. */
export function releaseKeys(released: readonly KeyOwner[]): RawBuilder<unknown> {
  return sql`delete from idempotency_keys k
       where k.user_id = any(${released.map((r) => r.user_id)}::text[]) and k.key = any(${released.map((r) => r.key)}::text[])
         and (k.user_id, k.key) in (select * from unnest(${released.map((r) => r.user_id)}::text[], ${released.map((r) => r.key)}::text[]))`;
}
