/**
 * The attacks of issue "Proof for outsiders", each made with database superuser rights
 * after an auditor saved a signed checkpoint, and each detected by the outside verifier
 * (`npm run audit -- verify-log`, no database) with that saved checkpoint:
 *   - rewrite a published verdict's rating, recompute the stream's hash chain, wipe and let
 *     the service rebuild its tree and re-sign, run the projection rebuild: the service's own
 *     /audit/verify then says ok, the outside verifier does not;
 *   - delete the log's last event (and re-sign); delete a stream's head event in the middle
 *     of the log, renumbering the later positions; swap two events' positions.
 * Also: a checkpoint forged or signed by another key is refused.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { canonicalJson, eventHash } from '@claimtrail/event-store';
import { generateSignerKey, formatVerifierKey, parseSignerKey, parseVerifierKey, verifierKeyOf } from '@claimtrail/transparency';
import { requirePostgres } from '@claimtrail/testing';
import { verifyLog, type ExportedEvent } from '../src/audit/verify-log.ts';
import { call, claimIn, startApp, type TestApp } from './helpers.ts';

const hasPg = await requirePostgres();
const root = fileURLToPath(new URL('../../../', import.meta.url));
const cli = fileURLToPath(new URL('../src/cli/audit.ts', import.meta.url));

function audit(env: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

// The outside verifier never opens a database: give it one that does not exist.
const NO_DATABASE = { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' };

describe.skipIf(!hasPg)('the outside verifier detects rewrites against a saved checkpoint', () => {
  let t: TestApp;
  let su: pg.Client;
  let dir: string;
  let keyFile: string;
  let keyText: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'claimtrail-attack-'));
    await writeFile(join(dir, 'log.key'), `${generateSignerKey('newsroom.example/log')}\n`);
    t = await startApp({ config: { checkpointKeyFile: join(dir, 'log.key'), checkpointIntervalMs: 3_600_000 } });
    for (let i = 0; i < 3; i++) await claimIn(t, 'published');
    await t.app.transparency.sync();
    su = new pg.Client({ connectionString: (t.app.config.databaseUrl as string) });
    await su.connect();
    keyFile = join(dir, 'log.vkey');
    const key = await call(t.app, { url: '/audit/checkpoint/key', headers: t.as.auditor });
    keyText = key.body;
    await writeFile(keyFile, key.body);
  });
  afterAll(async () => {
    await su?.end();
    await t?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function saveCheckpoint(name: string): Promise<string> {
    const r = await call(t.app, { url: '/audit/checkpoint', headers: t.as.auditor });
    expect(r.statusCode).toBe(200);
    await writeFile(join(dir, name), r.body);
    return r.body;
  }
  async function exportText(): Promise<string> {
    const r = await t.app.inject({ url: '/events', headers: { ...t.as.auditor, accept: 'application/x-ndjson' } });
    expect(r.statusCode).toBe(200);
    return r.body;
  }
  async function saveExport(name: string): Promise<string> {
    const file = join(dir, name);
    await writeFile(file, await exportText());
    return file;
  }
  async function* parsed(text: string): AsyncIterable<ExportedEvent> {
    for (const line of text.split('\n')) if (line) yield JSON.parse(line) as ExportedEvent;
  }
  async function verifyNow(checkpoint: string, previous?: string) {
    return verifyLog({ key: parseVerifierKey(keyText), checkpoint, events: parsed(await exportText()), ...(previous ? { previous } : {}) });
  }
  /** The attacker hides the old tree: wipes it and the checkpoints; the service rebuilds and re-signs (it holds the key). */
  async function wipeTreeAndResign(): Promise<string> {
    for (const table of ['events_checkpoint_cosignatures', 'events_checkpoints', 'events_tree', 'events_tree_sizes']) {
      await su.query(`alter table ${table} disable trigger user`);
      await su.query(`delete from ${table}`);
      await su.query(`alter table ${table} enable trigger user`);
    }
    await t.app.transparency.sync();
    return (await call(t.app, { url: '/audit/checkpoint', headers: t.as.auditor })).body;
  }
  async function withEventTriggersOff(fn: () => Promise<void>): Promise<void> {
    await su.query('alter table events disable trigger user');
    try {
      await fn();
    } finally {
      await su.query('alter table events enable trigger user');
    }
  }
  /** Recomputes a stream's hash chain from its rows, as an attacker who knows the algorithm would. */
  async function rechain(streamId: string): Promise<void> {
    const { rows } = await su.query('select id, stream_id, version, type, data, metadata, recorded_at, hash from events where stream_id = $1 order by version', [streamId]);
    let prev: string | null = null;
    for (const row of rows) {
      const hash = eventHash(prev, {
        id: row.id,
        streamId: row.stream_id,
        version: row.version,
        type: row.type,
        data: canonicalJson(row.data),
        metadata: canonicalJson(row.metadata),
        recordedAt: new Date(row.recorded_at).toISOString(),
      });
      await su.query('update events set hash = $1, prev_hash = $2 where id = $3', [hash, prev, row.id]);
      prev = hash;
    }
  }

  it('a clean log verifies against its checkpoint, through the CLI, with no database', async () => {
    await saveCheckpoint('today.checkpoint');
    const exported = await saveExport('today.ndjson');
    const run = await audit(NO_DATABASE, 'verify-log', '--checkpoint', join(dir, 'today.checkpoint'), '--key', keyFile, '--export', exported, '--previous', join(dir, 'today.checkpoint'));
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({ ok: true, previous: { consistent: true } });
    expect(report.rehashed).toBe(report.events);
  });

  it('refuses a forged checkpoint and one signed by another key', async () => {
    const note = await saveCheckpoint('good.checkpoint');
    const lines = note.split('\n');
    lines[1] = String(Number(lines[1]) - 1);
    await writeFile(join(dir, 'forged.checkpoint'), lines.join('\n'));
    const forged = await audit(NO_DATABASE, 'verify-log', '--checkpoint', join(dir, 'forged.checkpoint'), '--key', keyFile, '--export', await saveExport('x.ndjson'));
    expect(forged.code).toBe(1);
    expect(JSON.parse(forged.stdout).problem).toMatch(/refused/);
    const other = parseSignerKey(generateSignerKey('newsroom.example/log'));
    await writeFile(join(dir, 'other.vkey'), formatVerifierKey(verifierKeyOf(other)));
    const wrongKey = await audit(NO_DATABASE, 'verify-log', '--checkpoint', join(dir, 'good.checkpoint'), '--key', join(dir, 'other.vkey'), '--export', join(dir, 'x.ndjson'));
    expect(wrongKey.code).toBe(1);
    const usage = await audit(NO_DATABASE, 'verify-log', '--checkpoint', join(dir, 'good.checkpoint'));
    expect(usage.code).toBe(2);
  });

  it('rewrite of a published rating + recomputed chain + rebuild + re-signed tree: the service says ok, yesterday\'s checkpoint does not', async () => {
    const yesterday = await saveCheckpoint('yesterday.checkpoint');
    const { rows } = await su.query("select stream_id from events where type = 'VerdictPublished' order by position limit 1");
    const streamId = rows[0].stream_id as string;
    await withEventTriggersOff(async () => {
      await su.query(
        `update events set data = jsonb_set(data, '{rating}', case when data->>'rating' = 'false' then '"true"' else '"false"' end::jsonb)
          where stream_id = $1 and data ? 'rating'`,
        [streamId],
      );
      await rechain(streamId);
    });
    const rebuild = await audit({ DATABASE_URL: t.app.config.databaseUrl as string }, 'rebuild');
    expect(rebuild.code).toBe(0);
    const today = await wipeTreeAndResign();
    // The service's own checks see nothing: the chain is recomputed, the tree re-made.
    const verify = await call(t.app, { url: '/audit/verify', headers: t.as.auditor });
    expect(verify.json.ok).toBe(true);
    expect((await verifyNow(today)).ok).toBe(true);
    // The auditor who kept yesterday's checkpoint sees it, from the export and from the service.
    const report = await verifyNow(today, yesterday);
    expect(report).toMatchObject({ ok: false, previous: { consistent: false } });
    expect(report.problem).toMatch(/rewritten/);
    expect((await verifyNow(yesterday)).problem).toMatch(/do not give the checkpoint's root hash/);

    await writeFile(join(dir, 'today.checkpoint'), today);
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const address = t.app.server.address() as { port: number };
    const token = t.as.auditor.authorization.slice('Bearer '.length);
    const run = await audit(NO_DATABASE, 'verify-log', '--checkpoint', join(dir, 'today.checkpoint'), '--key', keyFile, '--url', `http://127.0.0.1:${address.port}`, '--token', token, '--previous', join(dir, 'yesterday.checkpoint'));
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout).problem).toMatch(/rewritten/);
  });

  it('deleting the last event: the log shrank; growing past it again does not hide it', async () => {
    const before = await saveCheckpoint('before-delete.checkpoint');
    await withEventTriggersOff(async () => {
      await su.query('delete from events where position = (select max(position) from events)');
    });
    const shrunk = await wipeTreeAndResign();
    expect((await verifyNow(shrunk)).ok).toBe(true);
    expect((await verifyNow(shrunk, before)).problem).toMatch(/shrank/);
    await claimIn(t, 'published');
    await t.app.transparency.sync();
    const grown = (await call(t.app, { url: '/audit/checkpoint', headers: t.as.auditor })).body;
    expect((await verifyNow(grown, before)).problem).toMatch(/rewritten/);
  });

  it('deleting a stream\'s head event in the middle (positions renumbered) and swapping two positions are detected', async () => {
    await wipeTreeAndResign();
    const before = await saveCheckpoint('before-middle.checkpoint');
    const { rows } = await su.query(
      `select e.position from events e where e.version = (select max(version) from events x where x.stream_id = e.stream_id)
         and e.position < (select max(position) from events) - 5 order by e.position limit 1`,
    );
    const position = Number(rows[0].position);
    await withEventTriggersOff(async () => {
      await su.query('delete from events where position = $1', [position]);
      await su.query('update events set position = -position where position > $1', [position]);
      await su.query('update events set position = -position - 1 where position < 0');
    });
    const after = await wipeTreeAndResign();
    expect((await verifyNow(after)).ok).toBe(true);
    expect((await verifyNow(after, before)).problem).toMatch(/shrank|rewritten/);

    const kept = await saveCheckpoint('before-swap.checkpoint');
    const { rows: pair } = await su.query(
      `select a.position from events a join events b on b.position = a.position + 1 and b.stream_id <> a.stream_id order by a.position limit 1`,
    );
    const p = Number(pair[0].position);
    await withEventTriggersOff(async () => {
      await su.query('update events set position = 0 where position = $1', [p]);
      await su.query('update events set position = $1 where position = $2', [p, p + 1]);
      await su.query('update events set position = $1 where position = 0', [p + 1]);
    });
    const swapped = await wipeTreeAndResign();
    expect((await verifyNow(swapped)).ok).toBe(true);
    expect((await verifyNow(swapped, kept)).problem).toMatch(/rewritten/);
  });
});
