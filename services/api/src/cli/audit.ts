/**
 * `npm run audit -- <command>`: the auditor's tools from the command line, against the
 * service's database (DATABASE_URL → PostgreSQL, else the embedded PGlite in DATA_DIR,
 * default `.data/pglite`; stop the service first when it is embedded: PGlite allows one
 * process). Results go to stdout (JSON, or NDJSON for export), progress to stderr.
 *
 *   verify [--claim <id>]           hash chains + positions + projections vs a rebuild
 *   rebuild [--compare]             rebuild projections and swap them in atomically;
 *                                   --compare only reports the differences
 *   replay <claimId> [--json]       the claim's history, event by event, with the state after each
 *   export [--after P] [--limit N]  every event after position P as NDJSON
 *
 * Exit codes: 0 fine, 1 a broken log or differences found, 2 usage or configuration error.
 */
import { claimStreamId, evolve, initialClaimState, toClaimView, toEnvelope, type ClaimState } from '@claimtrail/domain';
import { createEventStore, migrateToLatest, openDatabase, type Database, type EventStore } from '@claimtrail/event-store';
import { migrations } from '@claimtrail/migrations';
import { canReadConcurrently, isClaimId, rebuildProjections, toEventRecord } from '@claimtrail/claims';
import { ConfigError, loadConfig } from '../config.ts';
import { verifyAll, verifyClaim, writeNdjson } from '../routes/audit.ts';

const USAGE = `usage: npm run audit -- <command>
  verify [--claim <id>]            check hash chains, positions and projections
  rebuild [--compare]              rebuild projections (swap in), or only compare
  replay <claimId> [--json]        replay one claim's history
  export [--after P] [--limit N]   all events after position P as NDJSON on stdout
environment: DATABASE_URL (PostgreSQL) or DATA_DIR (embedded, default .data/pglite)`;

class UsageError extends Error {}

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

function parse(argv: string[]): { command: string; positional: string[]; flags: Map<string, string | true> } {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') throw new UsageError('');
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (arg.startsWith('--')) {
      const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
      if (inline !== undefined) flags.set(name, inline);
      else if (['after', 'limit', 'claim'].includes(name)) {
        const value = rest[++i];
        if (value === undefined) throw new UsageError(`--${name} needs a value`);
        flags.set(name, value);
      } else flags.set(name, true);
    } else positional.push(arg);
  }
  return { command, positional, flags };
}

function integerFlag(flags: Map<string, string | true>, name: string): number | undefined {
  const value = flags.get(name);
  if (value === undefined) return undefined;
  if (value === true || !/^\d+$/.test(value)) throw new UsageError(`--${name} must be a non-negative integer`);
  return Number(value);
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

async function verify(store: EventStore, database: Database, flags: Map<string, string | true>): Promise<number> {
  const claim = flags.get('claim');
  if (claim !== undefined) {
    if (claim === true || !isClaimId(claim)) throw new UsageError('--claim needs a claim id (uuid)');
    const report = await verifyClaim(store, claim.toLowerCase());
    if (!report) {
      process.stderr.write(`claim ${claim} has no events\n`);
      return 1;
    }
    print(report);
    return report.ok ? 0 : 1;
  }
  const progress = new Progress('verify', await store.headPosition());
  const report = await verifyAll(store, {
    onProgress: (phase, done) => progress.update(done, phase),
    concurrentReads: canReadConcurrently(database),
  });
  progress.done(report.ok ? `ok, ${report.checked.toLocaleString('en')} events, ${report.projections?.checked ?? 0} claims` : 'BROKEN');
  print(report);
  return report.ok ? 0 : 1;
}

async function rebuild(store: EventStore, database: Database, flags: Map<string, string | true>): Promise<number> {
  const compare = flags.has('compare');
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
  print(result);
  return compare && result.differences > 0 ? 1 : 0;
}

async function replay(store: EventStore, positional: string[], flags: Map<string, string | true>): Promise<number> {
  const id = positional[0];
  if (!id || !isClaimId(id)) throw new UsageError('replay needs a claim id (uuid)');
  const events = await store.readStream(claimStreamId(id.toLowerCase()));
  if (events.length === 0) {
    process.stderr.write(`claim ${id} has no events\n`);
    return 1;
  }
  const json = flags.has('json');
  let state: ClaimState = initialClaimState;
  for (const event of events) {
    state = evolve(state, toEnvelope(event));
    const view = state.status === null ? null : toClaimView(state);
    if (json) {
      process.stdout.write(`${JSON.stringify({ event: toEventRecord(event), view })}\n`);
    } else {
      const record = toEventRecord(event);
      const role = record.actorRole ? ` (${record.actorRole})` : '';
      const rating = view?.publishedVerdict?.rating ?? view?.verdictDraft?.rating;
      process.stdout.write(
        `v${String(record.version).padStart(3)}  #${String(record.position ?? '-').padEnd(8)} ${record.recordedAt}  ` +
          `${record.type.padEnd(24)} by ${record.actor}${role}  → ${view?.state ?? '?'}${rating ? ` [${rating}]` : ''}` +
          `  ${record.hash.slice(0, 12)}\n`,
      );
    }
  }
  if (!json) print(toClaimView(state));
  return 0;
}

async function exportAll(store: EventStore, flags: Map<string, string | true>): Promise<number> {
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
  const written = await writeNdjson(process.stdout, counted, { until: head, ...(limit !== undefined ? { limit } : {}) });
  progress.done(`${written.toLocaleString('en')} events after position ${after} (head ${head})`);
  return 0;
}

async function main(): Promise<number> {
  // `npm run audit -- export | head`: a closed pipe ends the export quietly.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
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
  if (!['verify', 'rebuild', 'replay', 'export'].includes(args.command)) {
    process.stderr.write(`unknown command "${args.command}"\n${USAGE}\n`);
    return 2;
  }
  const config = loadConfig();
  const database: Database = await openDatabase(
    config.databaseUrl ? { databaseUrl: config.databaseUrl, poolSize: 4 } : { dataDir: config.dataDir },
  );
  let store: EventStore | undefined;
  try {
    await migrateToLatest(database.db, migrations);
    store = createEventStore(database);
    switch (args.command) {
      case 'verify':
        return await verify(store, database, args.flags);
      case 'rebuild':
        return await rebuild(store, database, args.flags);
      case 'replay':
        return await replay(store, args.positional, args.flags);
      default:
        return await exportAll(store, args.flags);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n${USAGE}\n`);
      return 2;
    }
    throw error;
  } finally {
    await store?.close().catch(() => undefined);
    await database.close().catch(() => undefined);
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`audit failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
