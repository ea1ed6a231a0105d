import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import pg from 'pg';
import { CompiledQuery, type Kysely } from 'kysely';
import { keepsNamedStatements } from './pooled-client.ts';

/**
 * PostgreSQL wire level: statements of one transaction sent in ONE round trip, in the
 * extended protocol before one Sync, with BEGIN before the first and COMMIT after the last
 * when asked:
 *
 *   Parse(S1)?  Parse/Bind/Execute("begin")  Bind(S1, values)  Describe  Execute
 *   Parse(S2)?  Bind(S2, values)  Describe  Execute  …  Parse/Bind/Execute("commit")  Sync
 *
 * Statements are named (parsed and planned once per connection) and keep their bound
 * parameters. Messages before a Sync run in order; after an error the server skips to the
 * Sync, so a failed statement never reaches the COMMIT (the caller then rolls back). The
 * first statement's named Parse goes first, so pg's record of parsed statements is only
 * updated when that Parse succeeded.
 *
 * Behind a pooler that does not keep prepared statements (pooled-client.ts) every
 * statement is parsed each time as the unnamed statement, BEGIN first (a later Parse
 * replaces the unnamed statement):
 *
 *   Parse/Bind/Execute("begin")  Parse(S1)  Bind(values)  Describe  Execute  Parse(S2) …  Sync
 */

interface Connection {
  parse(config: { text: string; name?: string; types?: unknown[] }): void;
  bind(config?: Record<string, unknown>): void;
  describe(config: { type: 'P' | 'S'; name?: string }): void;
  execute(config?: { portal?: string; rows?: number }): void;
  sync(): void;
}

/** A statement of a flight. */
export interface FlightStatement {
  sql: string;
  parameters: readonly unknown[];
  /**
   * Prepared under this name, once per connection (its text must never change): see
   * `statementName`. Not used behind a pooler that does not keep prepared statements.
   */
  name: string;
}

/**
 * The statements after the first parsed on each connection. A failed flight may or may not
 * have parsed its statements (the server skips to the Sync after an error): the connection
 * then moves to a new generation of names instead of guessing.
 */
const flightStatements = new WeakMap<Connection, { generation: number; parsed: Set<string> }>();

function flightState(connection: Connection) {
  let state = flightStatements.get(connection);
  if (!state) flightStatements.set(connection, (state = { generation: 0, parsed: new Set() }));
  return state;
}

// pg's own mapping of JavaScript values to wire parameters (arrays, dates, buffers, json),
// the one its queries use: a later statement's values are bound exactly as the first's.
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils.js') as { prepareValue(value: unknown): unknown };

/** A pg query object with BEGIN before and/or COMMIT after its own statement, and more statements after it. */
type FlightQueryConfig = pg.QueryConfig & { queryMode?: 'extended' };

class FlightQuery extends (pg.Query as unknown as new (config: FlightQueryConfig, values?: unknown[], callback?: (error: Error | undefined, result: unknown) => void) => object) {
  constructor(
    config: FlightQueryConfig,
    callback: (error: Error | undefined, result: unknown) => void,
    private readonly begin: boolean,
    private readonly commit: boolean,
    private readonly extras: readonly FlightStatement[],
  ) {
    super(config, undefined, callback);
  }

  /** Set once the later statements are on their way: a failure after this leaves their parse state unknown. */
  connection: Connection | undefined;

  prepare(connection: Connection): void {
    const base = (pg.Query.prototype as unknown as { prepare(connection: Connection): void }).prepare;
    if (!keepsNamedStatements(connection)) {
      (this as unknown as { name: string | undefined }).name = undefined;
      if (this.begin) {
        connection.parse({ text: 'begin' });
        connection.bind({});
        connection.execute({});
      }
      return base.call(this, connection);
    }
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
      const named = keepsNamedStatements(connection);
      const state = flightState(connection);
      for (const extra of this.extras) {
        if (!named) {
          connection.parse({ text: extra.sql });
          connection.bind({ values: extra.parameters, valueMapper: prepareValue });
        } else {
          const name = `${extra.name}_g${state.generation}`;
          if (!state.parsed.has(name)) {
            connection.parse({ text: extra.sql, name });
            state.parsed.add(name);
          }
          connection.bind({ statement: name, values: extra.parameters, valueMapper: prepareValue });
        }
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
    name = `flight_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    if (names.size < 1000) names.set(text, name);
  }
  return name;
}

/**
 * Sends `statements` on the connection behind `db` (a transaction or a single-connection
 * Kysely) in one round trip, BEGIN before and COMMIT after as asked; returns each
 * statement's result, in order. After an error the server runs nothing more up to the Sync
 * (no COMMIT): the caller rolls back.
 *
 * Goes through Kysely's executor (same connection, same error path): pg's `client.query`
 * takes a query object, which Kysely's driver hands over as the query text; the object is
 * made thenable so Kysely's `await` waits for the result.
 */
export async function runFlight(
  db: Kysely<any>,
  statements: readonly [FlightStatement, ...FlightStatement[]],
  options: { begin: boolean; commit: boolean },
): Promise<pg.QueryResult[]> {
  const [first, ...extras] = statements;
  let resolve!: (results: pg.QueryResult[]) => void;
  let reject!: (error: unknown) => void;
  const done = new Promise<pg.QueryResult[]>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const submittable: FlightQuery = new FlightQuery(
    // Extended protocol even without parameters: BEGIN and the statement share one Sync.
    { text: first.sql, values: [...first.parameters], name: first.name, queryMode: 'extended' },
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
  await db.executeQuery({ ...CompiledQuery.raw(first.sql), sql: submittable as unknown as string, parameters: [] });
  const results = await done;
  const from = options.begin ? 1 : 0;
  return results.slice(from, from + statements.length);
}
