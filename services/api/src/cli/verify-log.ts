/**
 * `npm run -s audit -- verify-log`: checks the log against a signed checkpoint with no
 * database (audit/verify-log.ts). The events come from an NDJSON export file
 * (`npm run -s audit -- export`, or `GET /events` with Accept: application/x-ndjson) or
 * straight from the service (--url, --token).
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { parseVerifierKey, type VerifierKey } from '@claimtrail/transparency';
import { verifyLog, type ExportedEvent } from '../audit/verify-log.ts';
import { UsageError } from './support.ts';

export const VERIFY_LOG_USAGE = `  verify-log --checkpoint FILE --key FILE (--export FILE | --url URL --token T)
             [--previous FILE] [--witness-key FILE]... [--min-witnesses K]
                                   check, without a database, that the events give the
                                   checkpoint's root and that it extends --previous`;

async function* ndjsonEvents(lines: AsyncIterable<string>): AsyncIterable<ExportedEvent> {
  let number = 0;
  for await (const line of lines) {
    number++;
    if (line.trim() === '') continue;
    try {
      yield JSON.parse(line) as ExportedEvent;
    } catch {
      throw new UsageError(`the export's line ${number} is not JSON`);
    }
  }
}

async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`${what} ${file} cannot be read: ${(error as Error).message}`);
  }
}

async function readKey(file: string, what: string): Promise<VerifierKey> {
  try {
    return parseVerifierKey(await readText(file, what));
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`${what} ${file}: ${(error as Error).message}`);
  }
}

/** Runs verify-log with the arguments after the command name; returns the exit code. */
export async function runVerifyLog(args: string[], out: (text: string) => void): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        checkpoint: { type: 'string' },
        key: { type: 'string' },
        export: { type: 'string' },
        url: { type: 'string' },
        token: { type: 'string' },
        previous: { type: 'string' },
        'witness-key': { type: 'string', multiple: true },
        'min-witnesses': { type: 'string' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (!values.checkpoint || !values.key) throw new UsageError('verify-log needs --checkpoint FILE and --key FILE');
  if ((values.export === undefined) === (values.url === undefined)) throw new UsageError('verify-log needs either --export FILE or --url URL (with --token)');
  if (values.url !== undefined && !values.token) throw new UsageError('--url needs --token (a token of an auditor, editor or admin)');
  const minWitnesses = values['min-witnesses'] === undefined ? 0 : Number(values['min-witnesses']);
  if (!Number.isSafeInteger(minWitnesses) || minWitnesses < 0 || !/^\d+$/.test(values['min-witnesses'] ?? '0')) throw new UsageError('--min-witnesses must be a non-negative integer');
  const witnesses = await Promise.all((values['witness-key'] ?? []).map((file) => readKey(file, '--witness-key')));
  if (minWitnesses > witnesses.length) throw new UsageError(`--min-witnesses ${minWitnesses} needs at least that many --witness-key files`);
  const key = await readKey(values.key, '--key');
  const checkpoint = await readText(values.checkpoint, '--checkpoint');
  const previous = values.previous === undefined ? undefined : await readText(values.previous, '--previous');

  let events: AsyncIterable<ExportedEvent>;
  let consistencyProof: ((from: number, to: number) => Promise<Uint8Array[]>) | undefined;
  if (values.export !== undefined) {
    const file = values.export;
    await readFile(file).catch((error: Error) => {
      throw new UsageError(`--export ${file} cannot be read: ${error.message}`);
    });
    events = ndjsonEvents(createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity }));
  } else {
    let base: URL;
    try {
      base = new URL(values.url!);
    } catch {
      throw new UsageError('--url must be a URL');
    }
    const authorization = `Bearer ${values.token}`;
    const response = await fetch(new URL('/events', base), { headers: { accept: 'application/x-ndjson', authorization } });
    if (!response.ok || !response.body) throw new UsageError(`the service answered ${response.status} for the export`);
    events = ndjsonEvents(createInterface({ input: Readable.fromWeb(response.body as never), crlfDelay: Infinity }));
    consistencyProof = async (from, to) => {
      const r = await fetch(new URL(`/audit/proof/consistency?from=${from}&to=${to}`, base), { headers: { authorization } });
      if (!r.ok) throw new UsageError(`the service answered ${r.status} for the consistency proof`);
      const body = (await r.json()) as { hashes: string[] };
      return body.hashes.map((hash) => Buffer.from(hash, 'base64'));
    };
  }
  const report = await verifyLog({
    key,
    checkpoint,
    events,
    ...(previous !== undefined ? { previous } : {}),
    witnesses,
    minWitnesses,
    ...(consistencyProof ? { consistencyProof } : {}),
  });
  out(`${JSON.stringify(report, null, 2)}\n`);
  return report.ok ? 0 : 1;
}
