/**
 * The suite's one-line report. Each file counts what it did and calls `report()` in its
 * afterAll: it prints the file's line and appends it to a JSON-lines file in os.tmpdir()
 * keyed by the vitest run (the parent process of the workers), then prints the total of
 * every file reported so far in that run — the last "suite total" line is the suite's.
 *
 *   RELIABILITY <file>: requests tried=…, faults injected=…, events checked=…, lost=0, duplicated=0, 5xx=0
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Counts {
  requests: number;
  faults: number;
  events: number;
  lost: number;
  duplicated: number;
  /** Responses ≥ 500 that are not the documented 503 + Retry-After of an injected outage. */
  serverErrors: number;
  /** 503 + Retry-After answers (expected while a fault is injected). */
  unavailable: number;
}

export function newCounts(): Counts {
  return { requests: 0, faults: 0, events: 0, lost: 0, duplicated: 0, serverErrors: 0, unavailable: 0 };
}

function line(label: string, c: Counts): string {
  return (
    `RELIABILITY ${label}: requests tried=${c.requests}, faults injected=${c.faults}, events checked=${c.events}, ` +
    `lost=${c.lost}, duplicated=${c.duplicated}, 5xx=${c.serverErrors} (503+Retry-After during faults: ${c.unavailable})`
  );
}

const RUN_ID = process.env.VITEST_RUN_ID ?? process.env.CLAIMTRAIL_RUN_ID ?? String(process.ppid);
export const SUMMARY_FILE = join(tmpdir(), `claimtrail-reliability-${RUN_ID}.jsonl`);

export function report(file: string, counts: Counts): void {
  appendFileSync(SUMMARY_FILE, JSON.stringify({ file, ...counts }) + '\n');
  const total = newCounts();
  const files: string[] = [];
  for (const row of readFileSync(SUMMARY_FILE, 'utf8').split('\n').filter(Boolean)) {
    const parsed = JSON.parse(row) as Counts & { file: string };
    files.push(parsed.file);
    for (const key of Object.keys(total) as (keyof Counts)[]) total[key] += parsed[key] ?? 0;
  }
  console.log(`${line(file, counts)}\n${line(`suite total over ${files.length} file(s) [${files.join(', ')}]`, total)}`);
}

/** Classifies an HTTP status into the counts (0 = transport failure, not a response). */
export function tally(counts: Counts, status: number, retryAfter: string | null): void {
  counts.requests++;
  if (status === 503 && retryAfter) counts.unavailable++;
  else if (status >= 500) counts.serverErrors++;
}
