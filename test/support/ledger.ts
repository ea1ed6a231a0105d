/**
 * A ledger of logical writes: each has an Idempotency-Key and a unique marker in its body
 * (the claim text or the note body), so the events it produced can be found in the
 * table whatever happened to the service. A write is "acknowledged" once any attempt got
 * a 2xx. `audit()` counts, per write, the events carrying its marker: an acknowledged
 * write with none is lost, any write with more than one is duplicated.
 */
import { randomUUID } from 'node:crypto';
import { call, type CallResult } from './http.ts';
import { query } from './db.ts';
import { tally, type Counts } from './summary.ts';

export interface Attempt {
  requestId: string;
  status: number;
  error?: string;
}

export interface LogicalWrite {
  key: string;
  marker: string;
  kind: 'submit' | 'note';
  path: string;
  body: Record<string, unknown>;
  token: string;
  attempts: Attempt[];
  /** The first 2xx answer: status and body. */
  acked?: { status: number; view: any; etag: string | null };
}

export class Ledger {
  readonly writes: LogicalWrite[] = [];
  constructor(private readonly counts: Counts) {}

  submit(token: string): LogicalWrite {
    const marker = `mk${randomUUID().replace(/-/g, '')}`;
    return this.add({ kind: 'submit', path: '/claims', body: { text: `Reliability claim ${marker}`, tags: ['reliability'] }, token, marker });
  }

  note(token: string, claimId: string): LogicalWrite {
    const marker = `mk${randomUUID().replace(/-/g, '')}`;
    return this.add({ kind: 'note', path: `/claims/${claimId}/notes`, body: { body: `Reliability note ${marker}` }, token, marker });
  }

  private add(w: Omit<LogicalWrite, 'key' | 'attempts'>): LogicalWrite {
    const write: LogicalWrite = { ...w, key: `rel-${randomUUID()}`, attempts: [] };
    this.writes.push(write);
    return write;
  }

  /** One attempt (same Idempotency-Key every time, a fresh request id). */
  async send(baseUrl: string, write: LogicalWrite, timeoutMs?: number): Promise<CallResult> {
    const requestId = `rq-${randomUUID()}`;
    const res = await call(baseUrl, write.path, {
      method: 'POST',
      token: write.token,
      body: write.body,
      headers: { 'idempotency-key': write.key, 'x-request-id': requestId },
      ...(timeoutMs ? { timeoutMs } : {}),
    });
    write.attempts.push({ requestId, status: res.status, ...(res.error ? { error: res.error } : {}) });
    if (res.status !== 0) tally(this.counts, res.status, res.headers.get('retry-after'));
    else this.counts.requests++;
    if (res.status >= 200 && res.status < 300 && !write.acked) {
      write.acked = { status: res.status, view: res.json, etag: res.headers.get('etag') };
    }
    return res;
  }

  acknowledged(): LogicalWrite[] {
    return this.writes.filter((w) => w.acked);
  }

  /** Events per marker, straight from the table (every row, positioned or not). */
  async audit(url: string): Promise<{ lost: LogicalWrite[]; duplicated: LogicalWrite[]; events: number; perWrite: Map<string, number> }> {
    const rows = await query<{ marker: string; n: string }>(
      url,
      `select substring(coalesce(data->>'text', data->>'body') from 'mk[0-9a-f]{32}') as marker, count(*) as n
         from events where type in ('ClaimSubmitted', 'NoteAdded') group by 1`,
    );
    const perWrite = new Map<string, number>();
    for (const row of rows) if (row.marker) perWrite.set(row.marker, Number(row.n));
    const lost = this.writes.filter((w) => w.acked && (perWrite.get(w.marker) ?? 0) === 0);
    const duplicated = this.writes.filter((w) => (perWrite.get(w.marker) ?? 0) > 1);
    const events = [...perWrite.values()].reduce((a, b) => a + b, 0);
    return { lost, duplicated, events, perWrite };
  }
}

/** Drops the fields a replay may legitimately render differently (none today): the whole view must match. */
export function sameView(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]));
  }
  return value;
}
