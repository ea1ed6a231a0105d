import { createHash } from 'node:crypto';
import pg from 'pg';
import { createRequire } from 'node:module';
import { Transaction, type CompiledQuery, type Kysely, type RawBuilder } from 'kysely';

/**
 * PostgreSQL only: a write transaction whose BEGIN travels with its first statement and
 * whose COMMIT travels with its last, in the extended protocol before one Sync:
 *
 *   Parse(S)?  Parse/Bind/Execute("begin")  Bind(S, values)  Describe  Execute  Sync
 *   Parse(S)?  Bind(S, values)  Describe  Execute  Parse/Bind/Execute("commit")  Sync
 *
 * so a note is 3 round trips instead of 5. Statements are named (parsed and planned once
 * per connection) and keep their bound parameters. Messages before a Sync run in order;
 * after an error the server skips to the Sync, so a failed statement never reaches the
 * COMMIT (the caller then rolls back). The named Parse goes first, so pg's record of
 * parsed statements is only updated when that Parse succeeded.
 */

interface Connection {
  parse(config: { text: string; name?: string; types?: unknown[] }): void;
  bind(config?: Record<string, unknown>): void;
  describe(config: { type: 'P' | 'S'; name?: string }): void;
  execute(config?: { portal?: string; rows?: number }): void;
  sync(): void;
}

/** A statement sent after the query's own one, in the same round trip. */
export interface FlightStatement {
  sql: string;
  parameters: readonly unknown[];
  /** Prepared under this name, once per connection (its text must never change). */
  name: string;
}

/**
 * The extra statements parsed on each connection. A failed flight may or may not have
 * parsed its statements (the server skips to the Sync after an error): the connection then
 * moves to a new generation of names instead of guessing.
 */
const flightStatements = new WeakMap<Connection, { generation: number; parsed: Set<string> }>();

function flightState(connection: Connection) {
  let state = flightStatements.get(connection);
  if (!state) flightStatements.set(connection, (state = { generation: 0, parsed: new Set() }));
  return state;
}

// pg's own mapping of JavaScript values to wire parameters (arrays, dates, buffers, json),
// the one its queries use: an extra statement's values are bound exactly as a query's.
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils.js') as { prepareValue(value: unknown): unknown };

/** A pg query object with BEGIN before and/or COMMIT after its own statement. */
class TransactionQuery extends (pg.Query as unknown as new (config: pg.QueryConfig, values?: unknown[], callback?: (error: Error | undefined, result: unknown) => void) => object) {
  constructor(
    config: pg.QueryConfig,
    callback: (error: Error | undefined, result: unknown) => void,
    private readonly begin: boolean,
    private readonly commit: boolean,
    private readonly extras: readonly FlightStatement[] = [],
  ) {
    super(config, undefined, callback);
  }

  /** Set once the statements are on their way: a failure after this leaves their parse state unknown. */
  connection: Connection | undefined;

  prepare(connection: Connection): void {
    const base = (pg.Query.prototype as unknown as { prepare(connection: Connection): void }).prepare;
    if (!this.begin) return base.call(this, connection);
    // Injected right before the statement's Bind, i.e. after its Parse (when one is sent).
    const bind = connection.bind;
    connection.bind = function (this: Connection, config?: Record<string, unknown>) {
      connection.bind = bind;
      connection.parse({ text: 'begin' });
      bind.call(connection, {});
      connection.execute({});
      return bind.call(connection, config);
    };
    try {
      base.call(this, connection);
    } finally {
      connection.bind = bind;
    }
  }

  _getRows(connection: Connection, rows: number | undefined): void {
    if ((!this.commit && this.extras.length === 0) || rows) {
      (pg.Query.prototype as unknown as { _getRows(connection: Connection, rows: number | undefined): void })._getRows.call(this, connection, rows);
      return;
    }
    connection.execute({ portal: (this as unknown as { portal: string }).portal, rows });
    if (this.extras.length > 0) {
      this.connection = connection;
      const state = flightState(connection);
      for (const extra of this.extras) {
        const name = `${extra.name}_g${state.generation}`;
        if (!state.parsed.has(name)) {
          connection.parse({ text: extra.sql, name });
          state.parsed.add(name);
        }
        connection.bind({ statement: name, values: extra.parameters, valueMapper: prepareValue });
        connection.describe({ type: 'P', name: '' });
        connection.execute({});
      }
    }
    if (this.commit) {
      connection.parse({ text: 'commit' });
      connection.bind({});
      connection.execute({});
    }
    connection.sync();
  }
}

const names = new Map<string, string>();

/** One statement name per text (pg requires a name to keep its text on a connection). */
export function statementName(text: string): string {
  let name = names.get(text);
  if (name === undefined) {
    name = `claims_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    if (names.size < 1000) names.set(text, name);
  }
  return name;
}

/**
 * Runs `query` on the connection behind `db` (a transaction or a single-connection Kysely),
 * preceded by BEGIN and/or followed by COMMIT in the same round trip; returns its rows.
 * Goes through Kysely's executor (same connection, same error path): pg's `client.query`
 * takes a query object, which Kysely's driver hands over as the query text; the object is
 * made thenable so Kysely's `await` waits for the result.
 */
export async function runInTransactionFlight<R>(
  db: Kysely<any>,
  query: CompiledQuery,
  options: { begin: boolean; commit: boolean },
): Promise<R[]> {
  const results = await sendFlight(db, query, [], options);
  return (results[options.begin ? 1 : 0]?.rows ?? []) as R[];
}

/**
 * Sends `query`, then `extras`, each with its own result, in one round trip (BEGIN before
 * and COMMIT after as asked); returns the results of `query` and of each extra, in order.
 * After an error the server runs nothing more up to the Sync (no COMMIT): the caller rolls
 * back.
 */
export async function runFlight(
  db: Kysely<any>,
  query: CompiledQuery,
  extras: readonly FlightStatement[],
  options: { begin: boolean; commit: boolean },
): Promise<pg.QueryResult[]> {
  const results = await sendFlight(db, query, extras, options);
  return results.slice(options.begin ? 1 : 0, (options.begin ? 1 : 0) + 1 + extras.length);
}

async function sendFlight(
  db: Kysely<any>,
  query: CompiledQuery,
  extras: readonly FlightStatement[],
  options: { begin: boolean; commit: boolean },
): Promise<pg.QueryResult[]> {
  let resolve!: (results: pg.QueryResult[]) => void;
  let reject!: (error: unknown) => void;
  const done = new Promise<pg.QueryResult[]>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const submittable: TransactionQuery = new TransactionQuery(
    { text: query.sql, values: [...query.parameters], name: statementName(query.sql) },
    // pg calls back with an array of results when there were several commands.
    (error, result) => {
      if (error) {
        if (submittable.connection) flightState(submittable.connection).generation++;
        reject(error);
      } else resolve(Array.isArray(result) ? (result as pg.QueryResult[]) : [result as pg.QueryResult]);
    },
    options.begin,
    options.commit,
    extras,
  );
  // What Kysely's driver reads from the awaited value: nothing to count, no rows.
  (submittable as unknown as { then: PromiseLike<unknown>['then'] }).then = (onFulfilled, onRejected) =>
    done.then(() => ({ rows: [], command: 'SELECT', rowCount: 0 })).then(onFulfilled, onRejected);
  await db.executeQuery({ ...query, sql: submittable as unknown as string, parameters: [] });
  return done;
}

/**
 * A Kysely `Transaction` over a single-connection Kysely on which the caller issued BEGIN
 * itself: what `EventStore.append({tx})` joins. It only executes queries (nested
 * transactions and connections are refused by Transaction itself).
 */
export function asTransaction(connection: Kysely<any>): Transaction<any> {
  const inert = {} as never;
  return new Transaction({ config: { dialect: inert }, driver: inert, dialect: inert, executor: connection.getExecutor() } as never);
}

/** One write transaction: whether BEGIN/COMMIT ride with statements, and how far it got. */
export interface WriteSession {
  merged: boolean;
  begun: boolean;
  committed: boolean;
}

/**
 * Runs one statement of a write transaction. On the merged path the first one carries
 * BEGIN and the one marked `commit` carries COMMIT, in the same round trip.
 */
export async function runInSession<R>(tx: Transaction<any>, session: WriteSession, query: RawBuilder<R>, commit = false): Promise<R[]> {
  const begin = session.merged && !session.begun;
  if (!begin && !(session.merged && commit)) return (await query.execute(tx)).rows;
  // From here on, whatever happens, the transaction may be open: end it on failure.
  session.begun = true;
  const rows = await runInTransactionFlight<R>(tx, query.compile(tx), { begin, commit });
  if (commit) session.committed = true;
  return rows;
}
