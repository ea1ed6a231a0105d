/**
 * `npm run -s audit -- <command>`: the auditor's tools from the command line, against the
 * service's database (DATABASE_URL → PostgreSQL, else the embedded PGlite in DATA_DIR,
 * default `.data/pglite`; the embedded database allows one process, so stop the service
 * first: a running one makes this refuse). Results go to stdout or `--output FILE` (JSON,
 * or NDJSON for export), progress to stderr. `-s` keeps npm's own lines out of stdout.
 *
 *   verify [--claim <id>]           hash chains + positions + projections vs a rebuild
 *   rebuild [--compare]             rebuild projections and swap them in atomically (then the desk projections);
 *                                   --compare only reports the differences
 *   replay <claimId> [--json]       the claim's history, event by event, with the state after each
 *   export [--after P] [--limit N]  every event after position P as NDJSON
 *   verify-log --checkpoint F --key F (--export F | --url U --token T) [--previous F]
 *                                   the log against a signed checkpoint, no database (cli/verify-log.ts)
 *
 * Every command takes --output FILE (written whole or not at all) and --help.
 * Exit codes: 0 fine, 1 a broken log or differences found, 2 usage or configuration error,
 * 3 the embedded data folder is in use by another process.
 */
import { claimStreamId, evolve, initialClaimState, toClaimView, toEnvelope, type ClaimState } from '@claimtrail/domain';
import { createEventStore, migrateToLatest, openDatabase, type Database, type EventStore } from '@claimtrail/event-store';
import { migrations } from '@claimtrail/migrations';
import { DESK_PROJECTIONS, DeskFollower, canReadConcurrently, isClaimId, rebuildProjections, toEventRecord } from '@claimtrail/claims';
import { ConfigError, loadConfig } from '../config.ts';
import { writeNdjson } from '../audit/ndjson.ts';
import { verifyAll, verifyClaim } from '../audit/verify.ts';
import { runVerifyLog, VERIFY_LOG_USAGE } from './verify-log.ts';
import { UsageError, databaseOpenFailure, openOutput, parseCommand, stringOption, type CliOutput, type ParsedCommand } from './support.ts';

const USAGE = `usage: npm run -s audit -- <command> [options]
  verify [--claim <id>]            check hash chains, positions and projections
  rebuild [--compare]              rebuild projections (swap in), or only compare
  replay <claimId> [--json]        replay one claim's history
  export [--after P] [--limit N]   all events after position P as NDJSON
${VERIFY_LOG_USAGE}
options of every command:
  --output FILE, -o FILE           write the result to FILE instead of stdout
  --help, -h                       this text
exit codes: 0 fine, 1 a broken log or differences found, 2 usage or configuration error,
  3 the embedded data folder is in use (stop the service, or use PostgreSQL)
environment: DATABASE_URL (PostgreSQL; DIRECT_DATABASE_URL instead when set) or DATA_DIR (embedded, default .data/pglite)
(npm run -s keeps npm's own lines out of the output: npm run -s audit -- export > events.ndjson)`;

const COMMON = {
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
} as const;

const COMMAND_OPTIONS = {
  verify: { ...COMMON, claim: { type: 'string' } },
  rebuild: { ...COMMON, compare: { type: 'boolean' } },
  replay: { ...COMMON, json: { type: 'boolean' } },
  export: { ...COMMON, after: { type: 'string' }, limit: { type: 'string' } },
} as const;

type Command = keyof typeof COMMAND_OPTIONS;
type Flags = ParsedCommand['values'];

/** Progress on stderr: a rewritten line on a terminal, a line every few seconds otherwise. */
class Progress {
  private last = 0;
  private readonly started = Date.now();
  private readonly tty = Boolean(process.stderr.isTTY);
  private shown = false;

  constructor(private readonly label: string, private total: number | null = null) {}

  setTotal(total: number | null): void {
    this.total = total;
  }

  update(done: number, phase?: string, force = false): void {
    const now = Date.now();
    if (!force && now - this.last < (this.tty ? 100 : 5000)) return;
    this.last = now;
    const seconds = (now - this.started) / 1000;
    const rate = seconds > 0 ? Math.round(done / seconds) : 0;
    const pct = this.total ? ` ${Math.min(100, (100 * done) / this.total).toFixed(1)}%` : '';
    const text = `${this.label}${phase ? ` [${phase}]` : ''}: ${done.toLocaleString('en')}${this.total ? `/${this.total.toLocaleString('en')}` : ''}${pct} · ${rate.toLocaleString('en')}/s · ${seconds.toFixed(1)} s`;
    if (this.tty) process.stderr.write(`\r\x1b[2K${text}`);
    else process.stderr.write(`${text}\n`);
    this.shown = true;
  }

  done(message: string): void {
    if (this.tty && this.shown) process.stderr.write('\r\x1b[2K');
    process.stderr.write(`${this.label}: ${message} (${((Date.now() - this.started) / 1000).toFixed(1)} s)\n`);
  }
}

function parse(argv: string[]): { command: Command | 'help'; positional: string[]; flags: Flags } {
  const [command, ...rest] = argv;
  if (command === '--help' || command === '-h' || command === 'help') return { command: 'help', positional: [], flags: {} };
  if (!command) throw new UsageError('');
  if (!Object.hasOwn(COMMAND_OPTIONS, command)) throw new UsageError(`unknown command "${command}"`);
  const { positional, values } = parseCommand(command, rest, COMMAND_OPTIONS[command as Command]);
  if (values.help) return { command: 'help', positional: [], flags: {} };
  const allowed = command === 'replay' ? 1 : 0;
  if (positional.length > allowed) throw new UsageError(`unexpected argument ${positional[allowed]} for ${command}`);
  return { command: command as Command, positional, flags: values };
}

function integerFlag(flags: Flags, name: string): number | undefined {
  const value = stringOption(flags, name);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} must be a non-negative integer`);
  return Number(value);
}

function print(output: CliOutput, value: unknown): void {
  output.write(`${JSON.stringify(value, null, 2)}\n`);
}

async function verify(store: EventStore, database: Database, flags: Flags, output: CliOutput): Promise<number> {
  const claim = stringOption(flags, 'claim');
  if (claim !== undefined) {
    if (!isClaimId(claim)) throw new UsageError('--claim needs a claim id (uuid)');
    const report = await verifyClaim(store, claim.toLowerCase());
    if (!report) {
      process.stderr.write(`claim ${claim} has no events\n`);
      return 1;
    }
    print(output, report);
    return report.ok ? 0 : 1;
  }
  const progress = new Progress('verify', await store.headPosition());
  const report = await verifyAll(store, {
    onProgress: (phase, done) => progress.update(done, phase),
    concurrentReads: canReadConcurrently(database),
  });
  progress.done(report.ok ? `ok, ${report.checked.toLocaleString('en')} events, ${report.projections?.checked ?? 0} claims` : 'BROKEN');
  print(output, report);
  return report.ok ? 0 : 1;
}

async function rebuild(store: EventStore, database: Database, flags: Flags, output: CliOutput): Promise<number> {
  const compare = flags.compare === true;
  const progress = new Progress(compare ? 'rebuild --compare' : 'rebuild', await store.headPosition());
  const result = await rebuildProjections(store, {
    mode: compare ? 'compare' : 'swap',
    concurrentReads: canReadConcurrently(database),
    onProgress: (p) => progress.update(p.events, p.phase, p.phase !== 'build'),
  });
  progress.done(
    compare
      ? `${result.differences} difference(s) over ${result.claims} claims`
      : `swapped in ${result.claims} claims (${result.differences} differed from the live rows)`,
  );
  print(output, result);
  // The desk projections (notifications, deadlines, analytics: docs/desk-operations.md) follow the whole log again.
  if (!compare) await new DeskFollower(store.db, DESK_PROJECTIONS).rebuild();
  return compare && result.differences > 0 ? 1 : 0;
}

async function replay(store: EventStore, positional: string[], flags: Flags, output: CliOutput): Promise<number> {
  const id = positional[0];
  if (!id || !isClaimId(id)) throw new UsageError('replay needs a claim id (uuid)');
  const events = await store.readStream(claimStreamId(id.toLowerCase()));
  if (events.length === 0) {
    process.stderr.write(`claim ${id} has no events\n`);
    return 1;
  }
  const json = flags.json === true;
  let state: ClaimState = initialClaimState;
  for (const event of events) {
    state = evolve(state, toEnvelope(event));
    const view = state.status === null ? null : toClaimView(state);
    if (json) {
      output.write(`${JSON.stringify({ event: toEventRecord(event), view })}\n`);
    } else {
      const record = toEventRecord(event);
      const role = record.actorRole ? ` (${record.actorRole})` : '';
      const rating = view?.publishedVerdict?.rating ?? view?.verdictDraft?.rating;
      output.write(
        `v${String(record.version).padStart(3)}  #${String(record.position ?? '-').padEnd(8)} ${record.recordedAt}  ` +
          `${record.type.padEnd(24)} by ${record.actor}${role}  → ${view?.state ?? '?'}${rating ? ` [${rating}]` : ''}` +
          `  ${record.hash.slice(0, 12)}\n`,
      );
    }
  }
  if (!json) print(output, toClaimView(state));
  return 0;
}

async function exportAll(store: EventStore, flags: Flags, output: CliOutput): Promise<number> {
  const after = integerFlag(flags, 'after') ?? 0;
  const limit = integerFlag(flags, 'limit');
  const head = await store.headPosition();
  const progress = new Progress('export', Math.max(0, head - after));
  let count = 0;
  const counted = (async function* () {
    for await (const event of store.streamAll({ after, batchSize: 2000 })) {
      count++;
      if (count % 1000 === 0) progress.update(count);
      yield event;
    }
  })();
  const written = await writeNdjson(output.stream, counted, { until: head, ...(limit !== undefined ? { limit } : {}) });
  progress.done(`${written.toLocaleString('en')} events after position ${after} (head ${head})`);
  return 0;
}

async function main(): Promise<number> {
  // `npm run audit -- export | head`: a closed pipe ends the export quietly.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
  // verify-log needs no database: it runs before any is opened.
  if (process.argv[2] === 'verify-log') {
    if (process.argv.slice(3).some((arg) => arg === '--help' || arg === '-h')) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    try {
      return await runVerifyLog(process.argv.slice(3), (text) => process.stdout.write(text));
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      process.stderr.write(`${error.message}\n${USAGE}\n`);
      return 2;
    }
  }
  let args;
  try {
    args = parse(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message ? `${error.message}\n` : ''}${USAGE}\n`);
      return 2;
    }
    throw error;
  }
  if (args.command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  // Option values are checked before the database is opened: a typo costs nothing.
  integerFlag(args.flags, 'after');
  integerFlag(args.flags, 'limit');
  const config = loadConfig();
  // DIRECT_DATABASE_URL when set: the rebuild holds a session advisory lock, which a transaction pooler cannot keep.
  const databaseUrl = config.directDatabaseUrl ?? config.databaseUrl;
  const database: Database = await openDatabase(databaseUrl ? { databaseUrl, poolSize: 4 } : { dataDir: config.dataDir });
  let store: EventStore | undefined;
  let output: CliOutput | undefined;
  try {
    await migrateToLatest(database.db, migrations);
    store = createEventStore(database);
    output = await openOutput(stringOption(args.flags, 'output'));
    const code = await run(store, database, args.command, args.positional, args.flags, output);
    await output.commit();
    return code;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n${USAGE}\n`);
      return 2;
    }
    throw error;
  } finally {
    output?.abort();
    await store?.close().catch(() => undefined);
    await database.close().catch(() => undefined);
  }
}

function run(store: EventStore, database: Database, command: Command, positional: string[], flags: Flags, output: CliOutput): Promise<number> {
  switch (command) {
    case 'verify':
      return verify(store, database, flags, output);
    case 'rebuild':
      return rebuild(store, database, flags, output);
    case 'replay':
      return replay(store, positional, flags, output);
    case 'export':
      return exportAll(store, flags, output);
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const openFailure = databaseOpenFailure(error);
    if (openFailure) {
      process.stderr.write(`${openFailure.message}\n`);
      process.exitCode = openFailure.exitCode;
      return;
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`audit failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
