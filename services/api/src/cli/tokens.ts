/**
 * `npm run -s tokens -- <command>`: API tokens from the command line, against the service's
 * database (DATABASE_URL → PostgreSQL, else the embedded PGlite in DATA_DIR; the embedded
 * database allows one process, so stop the service first: a running one makes this refuse).
 *
 *   create <userId> [--role R] [--name N] [--label L] [--expires-in SECONDS]
 *       issues a token (printed once; only its hash is stored). With --role the user is
 *       created when missing.
 *   revoke <tokenId>      revokes it; running instances on PostgreSQL drop it from their
 *                         authentication cache at once (NOTIFY), others within AUTH_CACHE_TTL_MS
 *   list [<userId>]       token ids, labels, expiry and revocation (never the tokens)
 *
 * Every command takes --output FILE (written whole or not at all; 0600 for `create`, which
 * holds a secret) and --help. Results go to stdout as JSON lines, messages to stderr.
 * Exit codes: 0 fine, 1 not found or failed, 2 usage or configuration error,
 * 3 the embedded data folder is in use by another process.
 */
import { ROLES, type Role } from '@claimtrail/domain';
import { migrateToLatest, openDatabase } from '@claimtrail/event-store';
import { migrations } from '@claimtrail/migrations';
import { createToken, ensureUsers, listTokens, revokeTokenById, userExists } from '@claimtrail/identity';
import { ConfigError, loadConfig } from '../config.ts';
import { UsageError, databaseOpenFailure, openOutput, parseCommand, stringOption, type CliOutput } from './support.ts';

const USAGE = `usage: npm run -s tokens -- <command> [options]
  create <userId> [--role R] [--name N] [--label L] [--expires-in SECONDS]
  revoke <tokenId>
  list [<userId>]
options of every command:
  --output FILE, -o FILE   write the result to FILE instead of stdout (0600 for create)
  --help, -h               this text
exit codes: 0 fine, 1 not found or failed, 2 usage or configuration error,
  3 the embedded data folder is in use (stop the service, or use PostgreSQL)
environment: DATABASE_URL (PostgreSQL; DIRECT_DATABASE_URL instead when set) or DATA_DIR (embedded, default .data/pglite)`;

const COMMON = {
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
} as const;

const COMMAND_OPTIONS = {
  create: { ...COMMON, role: { type: 'string' }, name: { type: 'string' }, label: { type: 'string' }, 'expires-in': { type: 'string' } },
  revoke: COMMON,
  list: COMMON,
} as const;

type Command = keyof typeof COMMAND_OPTIONS;

function isCommand(value: string): value is Command {
  return Object.hasOwn(COMMAND_OPTIONS, value);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!command) throw new UsageError('');
  if (!isCommand(command)) throw new UsageError(`unknown command ${command}`);
  const { positional, values } = parseCommand(command, rest, COMMAND_OPTIONS[command]);
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const expiresIn = stringOption(values, 'expires-in');
  if (expiresIn !== undefined && !/^[1-9]\d{0,9}$/.test(expiresIn)) throw new UsageError('--expires-in must be a positive number of seconds');
  const role = stringOption(values, 'role');
  if (role !== undefined && !(ROLES as readonly string[]).includes(role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
  if (command === 'create' && !positional[0]) throw new UsageError('create needs a user id');
  if (command === 'revoke' && !positional[0]) throw new UsageError('revoke needs a token id (see `list`)');
  if (positional.length > 1) throw new UsageError(`unexpected argument ${positional[1]}`);

  const config = loadConfig();
  // DIRECT_DATABASE_URL when set: it migrates first, which is no work for a transaction pooler.
  const databaseUrl = config.directDatabaseUrl ?? config.databaseUrl;
  const database = await openDatabase(databaseUrl ? { databaseUrl, poolSize: 1 } : { dataDir: config.dataDir });
  let output: CliOutput | undefined;
  try {
    await migrateToLatest(database.db, migrations);
    // Opened before anything is written: a token whose secret cannot be saved is never created.
    output = await openOutput(stringOption(values, 'output'), { secret: command === 'create' });
    const code = await run(database.db, command, positional, values, output);
    // A failed command leaves no (empty) output file behind.
    if (code === 0) await output.commit();
    return code;
  } finally {
    output?.abort();
    await database.close();
  }
}

async function run(
  db: Parameters<typeof createToken>[0],
  command: Command,
  positional: string[],
  values: Record<string, string | boolean | undefined>,
  output: CliOutput,
): Promise<number> {
  switch (command) {
    case 'create': {
      const userId = positional[0]!;
      const role = stringOption(values, 'role');
      if (role !== undefined) await ensureUsers(db, [{ id: userId, role: role as Role, name: stringOption(values, 'name') ?? null }]);
      if (!(await userExists(db, userId))) {
        console.error(`no user ${userId} (pass --role to create it)`);
        return 1;
      }
      const expiresIn = stringOption(values, 'expires-in');
      const created = await createToken(db, {
        userId,
        label: stringOption(values, 'label') ?? 'cli',
        expiresAt: expiresIn === undefined ? null : new Date(Date.now() + Number(expiresIn) * 1000),
      });
      output.write(`${JSON.stringify({ ...created, expiresAt: created.expiresAt?.toISOString() ?? null })}\n`);
      return 0;
    }
    case 'revoke': {
      const id = positional[0]!;
      const revoked = await revokeTokenById(db, id);
      if (revoked.length === 0) {
        console.error(`no token ${id}`);
        return 1;
      }
      output.write(`${JSON.stringify({ revoked: id })}\n`);
      return 0;
    }
    case 'list': {
      for (const token of await listTokens(db, positional[0])) output.write(`${JSON.stringify(token)}\n`);
      return 0;
    }
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const openFailure = databaseOpenFailure(error);
    if (openFailure) {
      console.error(openFailure.message);
      process.exitCode = openFailure.exitCode;
    } else if (error instanceof UsageError || error instanceof ConfigError) {
      console.error(`${error.message ? `${error.message}\n` : ''}${USAGE}`);
      process.exitCode = 2;
    } else {
      console.error(error instanceof Error ? error.message : error);
      process.exitCode = 1;
    }
  },
);
