import { sql, Transaction, type CompiledQuery, type Kysely } from 'kysely';
import { isAppendConflict } from '../append-many.ts';
import type { Database, EventStore, PreparedAppend } from '../types.ts';
import { runFlight, statementName, type FlightStatement } from './flight.ts';

/**
 * One write transaction as the statements of a command pipeline see it.
 *
 * Pipelined (PostgreSQL, `writeTransaction` with the database): nothing is sent before the
 * first statement, BEGIN travels with it and COMMIT with the statement run with
 * `commit: true` — a write of three statements is 3 round trips instead of 5 — or the whole
 * transaction goes out in one (`appendInOneFlight`). Otherwise the transaction is already
 * open (`store.transaction`) and statements simply run in it.
 */
export class WriteSession {
  #begun: boolean;
  #committed = false;

  private constructor(
    /** The transaction as Kysely sees it: what `store.append`/`appendMany({ tx })` and plain queries join. */
    readonly tx: Transaction<any>,
    /** BEGIN and COMMIT travel with statements (and nothing was sent yet when it was made). */
    readonly pipelined: boolean,
  ) {
    this.#begun = !pipelined;
  }

  /** Whether the transaction may be open on the server (a statement was sent). */
  get begun(): boolean {
    return this.#begun;
  }

  get committed(): boolean {
    return this.#committed;
  }

  /**
   * Runs one statement of the transaction and returns its rows. On a pipelined session the
   * first statement carries BEGIN, and one run with `commit` carries COMMIT.
   */
  async run<R>(query: CompiledQuery<R>, options: { commit?: boolean } = {}): Promise<R[]> {
    const commit = options.commit === true && this.pipelined;
    const begin = this.pipelined && !this.#begun;
    if (!begin && !commit) return (await this.tx.executeQuery(query)).rows;
    // From here on, whatever happens, the transaction may be open: end it on failure.
    this.#begun = true;
    const [result] = await runFlight(this.tx, [named(query)], { begin, commit });
    if (commit) this.#committed = true;
    return (result?.rows ?? []) as R[];
  }

  /**
   * The whole transaction in one round trip: BEGIN, `before`, the prepared append
   * (`store.prepareAppendMany`), `after`, COMMIT. Only on a pipelined session that has sent
   * nothing yet.
   *
   * True once it committed with every event of the append. False when a head the append
   * was given is not its stream's latest event, and nothing of the append was written:
   * either the stream has moved on (its next version is taken: the transaction aborted and
   * is rolled back here), or the head is no event at all (the append's guard inserted
   * nothing, and the COMMIT committed what the other statements wrote — so statements in
   * `after` must write nothing unless their events are in the log). The session is then
   * as new: its next statement begins another transaction. Any other failure is thrown
   * (the transaction rolled back).
   */
  async appendInOneFlight(
    append: PreparedAppend,
    statements: { before: readonly CompiledQuery[]; after: readonly CompiledQuery[]; abandonOn?: (error: unknown) => boolean },
  ): Promise<boolean> {
    if (!this.pipelined || this.#begun) throw new Error('appendInOneFlight: a pipelined session that has sent nothing yet is needed');
    const flight: [FlightStatement, ...FlightStatement[]] = [
      ...statements.before.map(named),
      { sql: append.query.sql, parameters: append.query.parameters, name: append.statementName },
      ...statements.after.map(named),
    ] as [FlightStatement, ...FlightStatement[]];
    this.#begun = true;
    let results;
    try {
      results = await runFlight(this.tx, flight, { begin: true, commit: true });
    } catch (error) {
      // The transaction is open and failed (or the connection is gone: then so is this rollback).
      await sql`rollback`.execute(this.tx);
      this.#begun = false;
      if (!isAppendConflict(error) && statements.abandonOn?.(error) !== true) throw error;
      return false;
    }
    if (Number(results[statements.before.length]?.rowCount ?? 0) !== append.rows) {
      this.#begun = false;
      return false;
    }
    this.#committed = true;
    return true;
  }

  /** @internal A session whose BEGIN and COMMIT travel with its statements (`writeTransaction`). */
  static pipelinedOn(connection: Kysely<any>): WriteSession {
    return new WriteSession(asTransaction(connection), true);
  }

  /** @internal A session in a transaction already open. */
  static within(tx: Transaction<any>): WriteSession {
    return new WriteSession(tx, false);
  }
}

function named(query: CompiledQuery): FlightStatement {
  return { sql: query.sql, parameters: query.parameters, name: statementName(query.sql) };
}

/**
 * A Kysely `Transaction` over a single-connection Kysely on which BEGIN is sent by the
 * session: what `store.append({ tx })` joins. It only executes queries (nested transactions
 * and connections are refused by Transaction itself).
 */
function asTransaction(connection: Kysely<any>): Transaction<any> {
  const inert = {} as never;
  return new Transaction({ config: { dialect: inert }, driver: inert, dialect: inert, executor: connection.getExecutor() } as never);
}

/**
 * Runs `fn` in one write transaction and commits it (unless the session already did). With
 * a PostgreSQL `database` the session is pipelined on one of its pooled connections;
 * without one (or on PGlite) it is `store.transaction`. On failure the transaction is
 * rolled back and the error thrown. After a commit for which `appended` holds, the store's
 * sequencer is woken to give the new events their positions.
 */
export async function writeTransaction<T>(
  store: EventStore,
  database: Database | undefined,
  fn: (session: WriteSession) => Promise<T>,
  appended: (value: T) => boolean,
): Promise<T> {
  if (database?.kind !== 'postgres') return store.transaction((tx) => fn(WriteSession.within(tx)));
  const result = await database.db.connection().execute(async (connection) => {
    const session = WriteSession.pipelinedOn(connection);
    try {
      const value = await fn(session);
      if (session.begun && !session.committed) await sql`commit`.execute(connection);
      return value;
    } catch (error) {
      // The original error is the answer; a failed rollback (connection gone) adds nothing,
      // and pg's pool drops a connection that errored.
      if (session.begun && !session.committed) await sql`rollback`.execute(connection).catch(() => undefined);
      throw error;
    }
  });
  // Positions are assigned after the commit: what store.transaction does for its own.
  if (appended(result)) store.wake();
  return result;
}
