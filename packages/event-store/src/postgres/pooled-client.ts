import pg from 'pg';

/**
 * The pg client of a pool whose URL leads to a connection pooler in transaction mode
 * (PgBouncer's `pool_mode = transaction`). The pooler lends this client a server connection
 * for one transaction at a time, so nothing may rely on a server connection outliving a
 * transaction, and the pooler refuses startup parameters it does not track
 * (`statement_timeout`):
 *
 * - Statement timeout: the first statement sent while no transaction is open (an autocommit
 *   statement, or the BEGIN of a transaction) is preceded, in the same round trip and before
 *   the same Sync, by `set_config('statement_timeout', …, true)`. The extended protocol runs
 *   every message up to a Sync in one transaction, so the setting holds for that statement,
 *   or for the whole transaction its BEGIN opens, and ends with it: nothing is left on the
 *   server connection for the next client. Statements inside a transaction (BEGIN seen) get
 *   nothing: the setting is already there, and a ROLLBACK of a failed transaction must not
 *   be preceded by a statement that would fail too.
 * - Named statements (`namedStatements: false`, the default for a transaction pooler):
 *   queries lose their name and run as the unnamed statement (still Parse/Bind/Execute with
 *   parameters), parsed each time, because a name parsed on one server connection does not
 *   exist on the next ("prepared statement … does not exist"), or does with other text
 *   ("… already exists"). Code that sends named Parse messages itself (flight.ts) asks
 *   `keepsNamedStatements(connection)`.
 * - A query sent in the simple protocol while no transaction is open (a text without
 *   parameters: BEGIN, `select 1`) goes out in the extended protocol instead, so the prefix
 *   shares its Sync: such a text must be one statement. Inside a transaction (COMMIT,
 *   ROLLBACK) it stays a simple query. Submittable queries that are not pg queries
 *   (pg-copy-streams' COPY) keep the simple protocol and run without the per-transaction
 *   timeout; only the rebuild sends COPY, on a direct connection.
 */

/** What a pool's clients do on a connection through a transaction pooler. */
export interface PoolerSettings {
  /** Milliseconds; applied to each transaction (0: none). */
  statementTimeoutMs: number;
  /** Keep named statements (a pooler that keeps prepared statements, PgBouncer ≥ 1.21 with max_prepared_statements > 0). */
  namedStatements: boolean;
}

/**
 * A statement that runs `set_config` and returns no row (the client's query then sees
 * nothing of it but a CommandComplete, which is dropped): `set_config` is volatile, so the
 * filter is evaluated, and it never returns null.
 */
export function timeoutStatement(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0) throw new TypeError(`statement timeout must be a non-negative integer (got ${ms})`);
  return `select 1 where set_config('statement_timeout', '${ms}', true) is null`;
}

/** pg connections whose clients strip statement names: flight.ts must not name its own Parse messages there. */
const unnamedConnections = new WeakSet<object>();

/** Whether named Parse messages may be sent on this pg connection (false behind a pooler that does not keep them). */
export function keepsNamedStatements(connection: object): boolean {
  return !unnamedConnections.has(connection);
}

interface ProtocolConnection {
  query(text: string): void;
  parse(config: { text: string; name?: string; types?: unknown[] }): void;
  bind(config?: Record<string, unknown>): void;
  describe(config: { type: 'P' | 'S'; name?: string }): void;
  execute(config?: { portal?: string; rows?: number }): void;
  sync(): void;
}

type ClientInternals = {
  _txStatus: string | null;
  _getActiveQuery(): unknown;
  _handleParseComplete(): void;
  _handleCommandComplete(message: unknown): void;
  _handleReadyForQuery(message: unknown): void;
};

type QueryArguments = [config: unknown, values?: unknown, callback?: unknown];

/** A pg Client class for a pool behind a transaction pooler. */
export function pooledClientClass(settings: PoolerSettings): typeof pg.Client {
  const prefix = timeoutStatement(settings.statementTimeoutMs);
  const BaseClient = pg.Client as unknown as new (config?: pg.ClientConfig) => pg.Client & ClientInternals;

  class PooledClient extends BaseClient {
    /** The prefix went out for the query in flight (until its ReadyForQuery). */
    #prefixSent = false;
    /** Answers to the prefix still to drop: its ParseComplete, its CommandComplete. */
    #dropParse = false;
    #dropCommand = false;

    constructor(config?: pg.ClientConfig) {
      super(config);
      const connection = (this as unknown as { connection: ProtocolConnection }).connection;
      if (!settings.namedStatements) unnamedConnections.add(connection);
      const simple = connection.query.bind(connection);
      const parse = connection.parse.bind(connection);
      const bind = connection.bind.bind(connection);
      const describe = connection.describe.bind(connection);
      const execute = connection.execute.bind(connection);
      const sync = connection.sync.bind(connection);
      const needsPrefix = () => !this.#prefixSent && this._txStatus === 'I';
      const sendPrefix = () => {
        this.#prefixSent = true;
        parse({ text: prefix });
        bind({});
        execute({});
        this.#dropParse = true;
        this.#dropCommand = true;
      };
      // The first Parse or Bind of a query sent while no transaction is open: the prefix goes first.
      connection.parse = (config) => {
        if (needsPrefix()) sendPrefix();
        parse(config);
      };
      connection.bind = (config) => {
        if (needsPrefix()) sendPrefix();
        bind(config);
      };
      connection.query = (text) => {
        if (!needsPrefix() || !(this._getActiveQuery() instanceof pg.Query)) return simple(text);
        sendPrefix();
        parse({ text });
        bind({});
        describe({ type: 'P', name: '' });
        execute({});
        sync();
      };
    }

    override query(...args: QueryArguments): never {
      const [config, values, callback] = args;
      const query = (super.query as (...a: QueryArguments) => never).bind(this);
      if (settings.namedStatements || config === null || typeof config !== 'object' || typeof (config as { submit?: unknown }).submit === 'function') {
        return query(config, values, callback);
      }
      const { name: _name, ...unnamed } = config as Record<string, unknown>;
      return query(unnamed, values, callback);
    }

    override _handleParseComplete(): void {
      if (this.#dropParse) {
        this.#dropParse = false;
        return;
      }
      super._handleParseComplete();
    }

    override _handleCommandComplete(message: unknown): void {
      if (this.#dropCommand) {
        this.#dropCommand = false;
        return;
      }
      super._handleCommandComplete(message);
    }

    override _handleReadyForQuery(message: unknown): void {
      // After an error the server skipped to the Sync: nothing of the prefix is still coming.
      this.#prefixSent = false;
      this.#dropParse = false;
      this.#dropCommand = false;
      super._handleReadyForQuery(message);
    }
  }
  return PooledClient as unknown as typeof pg.Client;
}
