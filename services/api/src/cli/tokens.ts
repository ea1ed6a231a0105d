/**
 * `npm run tokens -- <command>`: API tokens from the command line, against the service's
 * database (DATABASE_URL → PostgreSQL, else the embedded PGlite in DATA_DIR; stop the
 * service first when it is embedded: PGlite allows one process).
 *
 *   create <userId> [--role R] [--name N] [--label L] [--expires-in SECONDS]
 *       issues a token (printed once; only its hash is stored). With --role the user is
 *       created when missing.
 *   revoke <tokenId>      revokes it; running instances on PostgreSQL drop it from their
 *                         authentication cache at once (NOTIFY), others within AUTH_CACHE_TTL_MS
 *   list [<userId>]       token ids, labels, expiry and revocation (never the tokens)
 *
 * Exit codes: 0 fine, 1 not found, 2 usage or configuration error.
 */
import { ROLES, type Role } from '@claimtrail/domain';
import { migrateToLatest, openDatabase } from '@claimtrail/event-store';
import { migrations } from '@claimtrail/migrations';
import { createToken, ensureUsers, listTokens, revokeTokenById } from '@claimtrail/claims';
import { sql } from 'kysely';
import { ConfigError, loadConfig } from '../config.ts';

const USAGE = `usage: npm run tokens -- <command>
  create <userId> [--role R] [--name N] [--label L] [--expires-in SECONDS]
  revoke <tokenId>
  list [<userId>]
environment: DATABASE_URL (PostgreSQL) or DATA_DIR (embedded, default .data/pglite)`;

class UsageError extends Error {}

function parse(args: string[]): { positional: string[]; flags: Map<string, string> } {
  const positional: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg.startsWith('--')) {
      const value = args[i + 1];
      if (value === undefined) throw new UsageError(`${arg} needs a value`);
      flags.set(arg.slice(2), value);
      i++;
    } else positional.push(arg);
  }
  return { positional, flags };
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === 'help') {
    console.error(USAGE);
    return command ? 0 : 2;
  }
  const { positional, flags } = parse(rest);
  const config = loadConfig();
  const database = await openDatabase(
    config.databaseUrl ? { databaseUrl: config.databaseUrl, poolSize: 1 } : { dataDir: config.dataDir },
  );
  try {
    await migrateToLatest(database.db, migrations);
    const db = database.db;
    switch (command) {
      case 'create': {
        const userId = positional[0];
        if (!userId) throw new UsageError('create needs a user id');
        const role = flags.get('role');
        if (role !== undefined) {
          if (!(ROLES as readonly string[]).includes(role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
          await ensureUsers(db, [{ id: userId, role: role as Role, name: flags.get('name') ?? null }]);
        }
        const exists = await sql<{ n: number }>`select count(*)::int as n from users where id = ${userId}`.execute(db);
        if ((exists.rows[0]?.n ?? 0) === 0) {
          console.error(`no user ${userId} (pass --role to create it)`);
          return 1;
        }
        const expiresIn = flags.get('expires-in');
        if (expiresIn !== undefined && !/^[1-9]\d{0,9}$/.test(expiresIn)) throw new UsageError('--expires-in must be a positive number of seconds');
        const created = await createToken(db, {
          userId,
          label: flags.get('label') ?? 'cli',
          expiresAt: expiresIn === undefined ? null : new Date(Date.now() + Number(expiresIn) * 1000),
        });
        console.log(JSON.stringify({ ...created, expiresAt: created.expiresAt?.toISOString() ?? null }));
        return 0;
      }
      case 'revoke': {
        const id = positional[0];
        if (!id) throw new UsageError('revoke needs a token id (see `list`)');
        const revoked = await revokeTokenById(db, id);
        if (revoked.length === 0) {
          console.error(`no token ${id}`);
          return 1;
        }
        console.log(JSON.stringify({ revoked: id }));
        return 0;
      }
      case 'list': {
        for (const token of await listTokens(db, positional[0])) console.log(JSON.stringify(token));
        return 0;
      }
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } finally {
    await database.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError || error instanceof ConfigError) {
      console.error(`${error.message}\n${USAGE}`);
      process.exitCode = 2;
    } else {
      console.error(error instanceof Error ? error.message : error);
      process.exitCode = 1;
    }
  },
);
