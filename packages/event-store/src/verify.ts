import { Worker } from 'node:worker_threads';
import type { Kysely } from 'kysely';
import type pg from 'pg';
import { canonicalJson, createChainChecker, type ChainChecker } from './chain.mjs';
import { EVENT_COLUMNS as COLUMNS, q, type EventRow as Row } from './row.ts';
import type { BrokenEvent, EventMetadata, JsonObject, VerifyOptions, VerifyResult } from './types.ts';

/**
 * verify(): walks the streams in (stream_id, version) order, keyset-paged, recomputes every
 * hash and checks the links (chain.mjs `createChainChecker`: the one definition of an
 * intact event), then (full verify) that positions are dense.
 *
 * On PostgreSQL, once the log is larger than one page, the per-row work moves to a worker
 * thread (verify-worker.mjs): the page is fetched in pg's array row mode with every column
 * left as the text PostgreSQL sent (no JSON.parse / date parse on the main thread), handed
 * over flattened, and the worker parses it exactly as pg's type parsers would, canonicalizes,
 * hashes and checks. The main thread meanwhile fetches the next page: the database, the
 * protocol parsing and the hashing overlap. PGlite, single streams and small logs stay on the
 * main thread (a worker costs ~30–50 ms to start).
 */

export interface VerifyContext {
  db: Kysely<any>;
  /** The pg pool behind db (PostgreSQL); undefined on PGlite. */
  pool: pg.Pool | undefined;
}

/** Tuning knobs (internal, for tests and benches; not part of the public API). */
export const verifyTuning = {
  /** Rows per page; the worker is used when the first page is full. */
  pageSize: 10_000,
  /** false: never use workers. */
  worker: true,
  /** Worker threads (pages are checked independently, see verifyInWorker). */
  workers: 2,
};

// For the worker: position stays on the main thread (only needed to name a broken event).
const WORKER_COLUMNS = 9;

type RawRow = (string | null)[];

const rawText = { getTypeParser: () => (value: string) => value };

function brokenAt(row: { stream_id: string; version: number; id: string; position: string | number | bigint | null }, reason: BrokenEvent['reason']): BrokenEvent {
  return {
    streamId: row.stream_id,
    version: row.version,
    eventId: row.id,
    position: row.position === null ? null : Number(row.position),
    reason,
  };
}

export async function verifyEvents(context: VerifyContext, options: VerifyOptions = {}): Promise<VerifyResult> {
  const batch = Math.max(1, verifyTuning.pageSize);
  const where = options.streamId ? 'stream_id = $1 and version > $2' : '(stream_id, version) > ($1, $2)';
  const text = `select ${COLUMNS} from events where ${where} order by stream_id, version limit $3`;
  const checker = createChainChecker();
  let checked = 0;

  const fetchParsed = (stream: string, version: number) => context.db.executeQuery<Row>(q(text, [stream, version, batch])).then((r) => r.rows);
  const pool = context.pool;
  const fetchRaw = pool
    ? (stream: string, version: number) =>
        pool.query<RawRow>({ text, values: [stream, version, batch], rowMode: 'array', types: rawText }).then((r) => r.rows)
    : null;
  const useWorker = fetchRaw !== null && verifyTuning.worker && !options.streamId;

  if (useWorker) {
    const [first] = await Promise.all([fetchRaw('', 0), timestamptzParser()]);
    if (first.length === batch) {
      const outcome = await verifyInWorker(first, fetchRaw, batch, options);
      if (outcome.broken) return { ok: false, checked: outcome.checked, firstBroken: outcome.broken };
      checked = outcome.checked;
    } else {
      // Small log: on this thread, from the raw text, parsed like pg would.
      for (const raw of first) {
        checked++;
        const row = parseRaw(raw);
        const reason = checkRow(checker, row);
        if (reason) return { ok: false, checked, firstBroken: brokenAt(row, reason) };
      }
      options.onProgress?.(checked);
    }
  } else {
    let next = fetchParsed(options.streamId ?? '', 0);
    for (;;) {
      const rows = await next;
      const tail = rows[rows.length - 1];
      // Read the next page while this one is hashed: the database and the CPU work in parallel.
      if (tail && rows.length === batch) {
        next = fetchParsed(tail.stream_id, tail.version);
        next.catch(() => undefined);
      }
      for (const row of rows) {
        checked++;
        const reason = checkRow(checker, row);
        if (reason) return { ok: false, checked, firstBroken: brokenAt(row, reason) };
      }
      options.onProgress?.(checked);
      if (!tail || rows.length < batch) break;
    }
  }

  if (!options.streamId) {
    const gap = await positionGap(context.db);
    if (gap) return { ok: false, checked, firstBroken: gap };
  }
  return { ok: true, checked };
}

function checkRow(checker: ChainChecker, row: Row) {
  const recordedAt = (row.recorded_at instanceof Date ? row.recorded_at : new Date(row.recorded_at)).toISOString();
  return checker.check(
    row.id,
    row.stream_id,
    row.version,
    row.type,
    canonicalJson(row.data),
    canonicalJson(row.metadata),
    recordedAt,
    row.hash,
    row.prev_hash,
  );
}

let parseTimestamptz: ((value: string) => unknown) | undefined;

async function timestamptzParser(): Promise<(value: string) => unknown> {
  if (!parseTimestamptz) {
    const { default: pgModule } = await import('pg');
    parseTimestamptz = pgModule.types.getTypeParser(1184, 'text') as (value: string) => unknown;
  }
  return parseTimestamptz;
}

/** A raw-text row parsed as the pool's type parsers would (jsonb: JSON.parse, int4, timestamptz). */
function parseRaw(raw: RawRow): Row {
  const recorded = parseTimestamptz!(raw[7]!);
  return {
    position: raw[0] ?? null,
    id: raw[1]!,
    stream_id: raw[2]!,
    version: parseInt(raw[3]!, 10),
    type: raw[4]!,
    data: JSON.parse(raw[5]!) as JsonObject,
    metadata: JSON.parse(raw[6]!) as EventMetadata,
    recorded_at: recorded instanceof Date ? recorded : new Date(recorded as number),
    hash: raw[8]!,
    prev_hash: raw[9] ?? null,
  };
}

interface WorkerReply {
  page: number;
  checked?: number;
  broken?: { index: number; reason: BrokenEvent['reason'] } | null;
  error?: string;
}

interface Seed {
  streamId: string;
  version: number;
  hash: string;
}

/**
 * Pages go round-robin to `verifyTuning.workers` workers. Each page is checked on its own,
 * seeded with the event before it (chain.mjs `createChainChecker(seed)`), so pages do not
 * wait for each other; answers are taken in page order, so the first broken event reported
 * is the first in (stream_id, version) order, exactly as a sequential walk would find it.
 */
async function verifyInWorker(
  first: RawRow[],
  fetchRaw: (stream: string, version: number) => Promise<RawRow[]>,
  batch: number,
  options: VerifyOptions,
): Promise<{ checked: number; broken?: BrokenEvent }> {
  const count = Math.max(1, verifyTuning.workers);
  const workers = Array.from({ length: count }, () => new Worker(new URL('./verify-worker.mjs', import.meta.url)));
  const waiting = new Map<number, { resolve: (reply: WorkerReply) => void; reject: (error: unknown) => void }>();
  let failure: unknown = null;
  const failAll = (error: unknown) => {
    failure ??= error;
    for (const w of waiting.values()) w.reject(error);
    waiting.clear();
  };
  for (const worker of workers) {
    worker.on('message', (reply: WorkerReply) => {
      const w = waiting.get(reply.page);
      waiting.delete(reply.page);
      if (!w) return;
      if (reply.error !== undefined) w.reject(new Error(`verify worker: ${reply.error}`));
      else w.resolve(reply);
    });
    worker.on('error', failAll);
    worker.on('exit', (code) => failAll(new Error(`verify worker exited (${code})`)));
  }

  let pageNo = 0;
  let seed: Seed | null = null;
  const send = (rows: RawRow[]): Promise<WorkerReply> => {
    const page = pageNo++;
    // Flattened without position: one array of strings is cheaper to clone than an array of arrays.
    const flat: (string | null)[] = new Array(rows.length * WORKER_COLUMNS);
    let k = 0;
    for (const row of rows) for (let c = 1; c <= WORKER_COLUMNS; c++) flat[k++] = row[c]!;
    const reply = new Promise<WorkerReply>((resolve, reject) => {
      if (failure !== null) reject(failure);
      else waiting.set(page, { resolve, reject });
    });
    workers[page % count]!.postMessage({ page, seed, rows: flat });
    const last = rows[rows.length - 1]!;
    seed = { streamId: last[2]!, version: parseInt(last[3]!, 10), hash: last[8]! };
    return reply;
  };

  const inFlight: { rows: RawRow[]; reply: Promise<WorkerReply> }[] = [];
  let checked = 0;
  let next: Promise<RawRow[]> | null = null;
  const settle = async (): Promise<BrokenEvent | undefined> => {
    const { rows, reply } = inFlight.shift()!;
    const answer = await reply;
    checked += answer.checked ?? 0;
    options.onProgress?.(checked);
    if (answer.broken) {
      const raw = rows[answer.broken.index]!;
      return brokenAt({ position: raw[0] ?? null, id: raw[1]!, stream_id: raw[2]!, version: parseInt(raw[3]!, 10) }, answer.broken.reason);
    }
    return undefined;
  };
  try {
    let rows = first;
    for (;;) {
      const tail = rows[rows.length - 1];
      next = tail && rows.length === batch ? fetchRaw(tail[2]!, parseInt(tail[3]!, 10)) : null;
      next?.catch(() => undefined);
      if (rows.length > 0) inFlight.push({ rows, reply: send(rows) });
      // One page per worker in flight, plus the one being fetched.
      while (inFlight.length >= count) {
        const broken = await settle();
        if (broken) return { checked, broken };
      }
      if (!next) break;
      rows = await next;
    }
    while (inFlight.length > 0) {
      const broken = await settle();
      if (broken) return { checked, broken };
    }
    return { checked };
  } finally {
    for (const f of inFlight) f.reply.catch(() => undefined);
    await Promise.all(
      workers.map((worker) => {
        worker.removeAllListeners('exit');
        worker.on('error', () => undefined);
        return worker.terminate().catch(() => undefined);
      }),
    );
  }
}

/**
 * Positions are dense (1..head): a missing one is a deleted event. Unique positions with
 * min 1 and count = max are dense: one index-only aggregate instead of a window over the
 * whole log; the window query runs only to name the gap.
 */
async function positionGap(db: Kysely<any>): Promise<BrokenEvent | null> {
  const { rows: summary } = await db.executeQuery<{ n: string | number; min: string | number | null; max: string | number | null }>(
    q('select count(*) as n, min(position) as min, max(position) as max from events where position is not null'),
  );
  const { n, min, max } = summary[0] ?? { n: 0, min: null, max: null };
  if (Number(n) === 0 || (Number(min) === 1 && Number(max) === Number(n))) return null;
  const { rows } = await db.executeQuery<Row>(
    q(
      `select ${COLUMNS} from (
         select e.*, lag(e.position) over (order by e.position) as prev_position
         from events e where e.position is not null
       ) t where t.position - coalesce(t.prev_position, 0) <> 1 order by t.position limit 1`,
    ),
  );
  const row = rows[0];
  return row ? brokenAt(row, 'position_gap') : null;
}
