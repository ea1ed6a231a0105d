/**
 * Where the checkpoint key comes from: the embedded database creates `checkpoint.key` (0600)
 * in its data folder on first start and signs with it after a restart too (its earlier
 * checkpoints stay verifiable); CHECKPOINT_KEY_FILE must hold a valid signer key; the
 * configuration refuses a bad WITNESS_KEYS entry.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGNATURE_TYPE_COSIGNATURE_V1, formatVerifierKey, generateSignerKey, parseSignerKey, parseVerifierKey, verifierKeyOf, verifyNote } from '@claimtrail/transparency';
import { createTestDatabase, requirePostgres } from '@claimtrail/testing';
import { buildApp } from '../src/app.ts';
import { ConfigError, loadConfig } from '../src/config.ts';
import { CHECKPOINT_KEY_FILE_NAME, CheckpointKeyError, loadCheckpointSigner } from '../src/transparency/keys.ts';

const hasPg = await requirePostgres();

describe('checkpoint keys', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'claimtrail-keys-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the embedded database creates its key on first start and keeps it across restarts', async () => {
    const dataDir = join(dir, 'pglite');
    const start = () => buildApp({ config: { dataDir, rateLimitMax: 0 }, logger: false, seed: false, demoTokens: true });
    let app = await start();
    const key = app.transparency.verifierKey();
    expect(key).toMatch(/^claimtrail\.localhost\/log\+[0-9a-f]{8}\+/);
    const file = join(dataDir, CHECKPOINT_KEY_FILE_NAME);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    await app.transparency.sync();
    const first = await app.inject({ url: '/audit/checkpoint', headers: { authorization: `Bearer ${app.demoTokens.auditor}` } });
    expect(first.statusCode).toBe(200);
    await app.close();

    app = await start();
    expect(app.transparency.verifierKey()).toBe(key);
    verifyNote(first.body, parseVerifierKey(key!));
    await app.close();
  });

  it.skipIf(!hasPg)('on PostgreSQL without a key file, every instance signs with the one key the first kept in the database', async () => {
    const testDb = await createTestDatabase('ckpt_db_key');
    const start = () => buildApp({ config: { databaseUrl: testDb.url, rateLimitMax: 0 }, logger: false, seed: false, demoTokens: true });
    const [a, b] = [await start(), await start()];
    try {
      const key = a.transparency.verifierKey();
      expect(key).toMatch(/^claimtrail\.localhost\/log\+[0-9a-f]{8}\+/);
      expect(b.transparency.verifierKey()).toBe(key);
      await a.transparency.sync();
      const note = await b.inject({ url: '/audit/checkpoint', headers: { authorization: `Bearer ${b.demoTokens.auditor}` } });
      expect(note.statusCode).toBe(200);
      verifyNote(note.body, parseVerifierKey(key!));
    } finally {
      await a.close();
      await b.close();
      await testDb.drop();
    }
  });

  it('CHECKPOINT_KEY_FILE must be readable and hold a log signer key', async () => {
    const options = { embeddedDataDir: undefined, ephemeralAllowed: true, publicUrl: undefined, db: undefined as never };
    await expect(loadCheckpointSigner({ ...options, keyFile: join(dir, 'missing.key') })).rejects.toThrow(CheckpointKeyError);
    await writeFile(join(dir, 'bad.key'), 'not a key\n');
    await expect(loadCheckpointSigner({ ...options, keyFile: join(dir, 'bad.key') })).rejects.toThrow(CheckpointKeyError);
    await writeFile(join(dir, 'witness.key'), generateSignerKey('w', SIGNATURE_TYPE_COSIGNATURE_V1));
    await expect(loadCheckpointSigner({ ...options, keyFile: join(dir, 'witness.key') })).rejects.toThrow(/type 0x01/);
    const text = generateSignerKey('news.example/log');
    await writeFile(join(dir, 'good.key'), text);
    expect((await loadCheckpointSigner({ ...options, keyFile: join(dir, 'good.key') })).signer?.name).toBe('news.example/log');
    expect((await loadCheckpointSigner({ ...options, keyFile: undefined })).source).toBe('ephemeral');
    expect(await readFile(join(dir, 'good.key'), 'utf8')).toBe(text);
  });

  it('WITNESS_KEYS takes witness verifier keys only', () => {
    const witness = formatVerifierKey(verifierKeyOf(parseSignerKey(generateSignerKey('w.example', SIGNATURE_TYPE_COSIGNATURE_V1))));
    expect(loadConfig({ WITNESS_KEYS: `${witness}, ${witness}` }).witnessKeys).toHaveLength(2);
    const logKey = formatVerifierKey(verifierKeyOf(parseSignerKey(generateSignerKey('log.example'))));
    expect(() => loadConfig({ WITNESS_KEYS: logKey })).toThrow(ConfigError);
    expect(() => loadConfig({ WITNESS_KEYS: 'garbage' })).toThrow(/WITNESS_KEYS entry 1/);
    expect(() => loadConfig({ CHECKPOINT_INTERVAL_MS: '5' })).toThrow(/CHECKPOINT_INTERVAL_MS/);
  });
});
