/**
 * The transparency routes on a real PostgreSQL over HTTP (app.inject): the signed
 * checkpoint verifies with the served key, inclusion proofs of every event and consistency
 * proofs between checkpoints verify with the pure verifier, bad parameters are 400
 * problem+json, the policy is auditor/editor/admin (401 without a token, 403 otherwise),
 * witnesses' cosignatures are checked, kept and served, and /audit/verify checks the tree.
 */
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { requirePostgres } from '@claimtrail/testing';
import {
  SIGNATURE_TYPE_COSIGNATURE_V1,
  cosignatureLine,
  formatVerifierKey,
  generateSignerKey,
  isValidCosignature,
  leafHashOf,
  openNote,
  parseCheckpoint,
  parseSignerKey,
  parseVerifierKey,
  verifierKeyOf,
  verifyConsistency,
  verifyInclusion,
  verifyNote,
} from '@claimtrail/transparency';
import { PROVENANCE_PROPERTY } from '@claimtrail/claimreview';
import { verifyLog, type ExportedEvent } from '../src/audit/verify-log.ts';
import { call, claimIn, startApp, type TestApp } from './helpers.ts';

const hasPg = await requirePostgres();

describe.skipIf(!hasPg)('transparency routes', () => {
  let t: TestApp;
  let dir: string;
  const witness = parseSignerKey(generateSignerKey('witness.example.org', SIGNATURE_TYPE_COSIGNATURE_V1));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'claimtrail-ckpt-'));
    await writeFile(join(dir, 'log.key'), `${generateSignerKey('claimtrail.test/log')}\n`);
    t = await startApp({
      config: { checkpointKeyFile: join(dir, 'log.key'), checkpointIntervalMs: 3_600_000, witnessKeys: [formatVerifierKey(verifierKeyOf(witness))] },
    });
    await claimIn(t, 'published');
    await t.app.transparency.sync();
  });
  afterAll(async () => {
    await t?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function checkpoint() {
    const key = await call(t.app, { url: '/audit/checkpoint/key', headers: t.as.auditor });
    expect(key.statusCode).toBe(200);
    const r = await call(t.app, { url: '/audit/checkpoint', headers: t.as.auditor });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
    const opened = verifyNote(r.body, parseVerifierKey(key.body));
    return { note: r.body, opened, ...parseCheckpoint(opened.text) };
  }

  it('serves a checkpoint signed by the served key, covering the whole log', async () => {
    const head = await t.app.store.headPosition();
    const { origin, size } = await checkpoint();
    expect(origin).toBe('claimtrail.test/log');
    expect(size).toBe(head);
  });

  it('inclusion proofs of every event and a consistency proof to a later checkpoint verify', async () => {
    const first = await checkpoint();
    for (let position = 1; position <= first.size; position++) {
      const r = await call(t.app, { url: `/audit/proof/inclusion?position=${position}`, headers: t.as.editor });
      expect(r.statusCode).toBe(200);
      expect(r.json.treeSize).toBe(first.size);
      expect(r.json.leafIndex).toBe(position - 1);
      const proof = (r.json.hashes as string[]).map((h) => Buffer.from(h, 'base64'));
      expect(verifyInclusion(position - 1, first.size, Buffer.from(r.json.leafHash, 'base64'), proof, first.rootHash)).toBe(true);
    }
    await claimIn(t, 'published');
    await t.app.transparency.sync();
    const second = await checkpoint();
    expect(second.size).toBeGreaterThan(first.size);
    const r = await call(t.app, { url: `/audit/proof/consistency?from=${first.size}&to=${second.size}`, headers: t.as.admin });
    expect(r.statusCode).toBe(200);
    const proof = (r.json.hashes as string[]).map((h) => Buffer.from(h, 'base64'));
    expect(verifyConsistency(first.size, second.size, first.rootHash, second.rootHash, proof)).toBe(true);
    // An explicit size: a proof against the earlier checkpoint's tree.
    const old = await call(t.app, { url: `/audit/proof/inclusion?position=2&size=${first.size}`, headers: t.as.auditor });
    expect(verifyInclusion(1, first.size, Buffer.from(old.json.leafHash, 'base64'), (old.json.hashes as string[]).map((h) => Buffer.from(h, 'base64')), first.rootHash)).toBe(true);
  });

  it('refuses bad parameters with 400 problem+json', async () => {
    const size = (await checkpoint()).size;
    for (const url of [
      '/audit/proof/inclusion',
      '/audit/proof/inclusion?position=0',
      '/audit/proof/inclusion?position=abc',
      '/audit/proof/inclusion?position=1.5',
      '/audit/proof/inclusion?position=-3',
      '/audit/proof/inclusion?position=99999999999999999999999',
      `/audit/proof/inclusion?position=${size + 1}&size=${size}`,
      `/audit/proof/inclusion?position=1&size=${size + 1000}`,
      '/audit/proof/inclusion?position=1&other=2',
      '/audit/proof/consistency',
      '/audit/proof/consistency?from=0&to=1',
      `/audit/proof/consistency?from=3&to=2`,
      `/audit/proof/consistency?from=1&to=${size + 1}`,
      '/audit/proof/consistency?from=1e400',
      '/audit/proof/consistency?from=1&to=9007199254740993',
    ]) {
      const r = await call(t.app, { url, headers: t.as.auditor });
      expect(r.statusCode, url).toBe(400);
      expect(r.headers['content-type'], url).toMatch(/^application\/problem\+json/);
    }
  });

  it('401 without a token, 403 for fact-checkers on every transparency route', async () => {
    const routes = ['/audit/checkpoint', '/audit/checkpoint/key', '/audit/proof/inclusion?position=1', '/audit/proof/consistency?from=1&to=2'];
    for (const url of routes) {
      expect((await call(t.app, { url })).statusCode, url).toBe(401);
      expect((await call(t.app, { url, headers: { authorization: 'Bearer nope' } })).statusCode, url).toBe(401);
      const forbidden = await call(t.app, { url, headers: t.as.fact_checker });
      expect(forbidden.statusCode, url).toBe(403);
      expect(forbidden.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    const post = { method: 'POST' as const, url: '/audit/checkpoint/cosignatures', payload: { treeSize: 1, cosignature: 'x' } };
    expect((await call(t.app, post)).statusCode).toBe(401);
    expect((await call(t.app, { ...post, headers: t.as.fact_checker })).statusCode).toBe(403);
    expect((await call(t.app, { ...post, headers: t.as.editor })).statusCode).toBe(403);
  });

  it('keeps and serves a witness cosignature that verifies, refuses the others', async () => {
    const { opened, size } = await checkpoint();
    const line = cosignatureLine(opened.text, witness, 1_760_000_000);
    const post = (treeSize: number, cosignature: string) =>
      call(t.app, { method: 'POST', url: '/audit/checkpoint/cosignatures', headers: t.as.auditor, payload: { treeSize, cosignature } });
    expect((await post(size, line)).statusCode).toBe(201);
    expect((await post(size, line)).statusCode).toBe(200);
    const stranger = parseSignerKey(generateSignerKey('witness.example.org', SIGNATURE_TYPE_COSIGNATURE_V1));
    expect((await post(size, cosignatureLine(opened.text, stranger, 1_760_000_000))).statusCode).toBe(400);
    expect((await post(size, 'not a signature line')).statusCode).toBe(400);
    expect((await post(size - 1, line)).statusCode).toBe(404);
    const served = await checkpoint();
    expect(served.opened.signatures).toHaveLength(2);
    expect(isValidCosignature(served.opened.text, openNote(served.note).signatures[1]!, verifierKeyOf(witness))).toBe(true);

    // The outside verifier can require k witnesses.
    const key = parseVerifierKey((await call(t.app, { url: '/audit/checkpoint/key', headers: t.as.auditor })).body);
    const exported = (await t.app.inject({ url: '/events', headers: { ...t.as.auditor, accept: 'application/x-ndjson' } })).body;
    const events = async function* () {
      for (const line of exported.split('\n')) if (line) yield JSON.parse(line) as ExportedEvent;
    };
    const witnessKey = parseVerifierKey(formatVerifierKey(verifierKeyOf(witness)));
    const strangerKey = parseVerifierKey(formatVerifierKey(verifierKeyOf(stranger)));
    expect(await verifyLog({ key, checkpoint: served.note, events: events(), witnesses: [witnessKey], minWitnesses: 1 })).toMatchObject({ ok: true, checkpoint: { witnesses: 1 } });
    const short = await verifyLog({ key, checkpoint: served.note, events: events(), witnesses: [strangerKey], minWitnesses: 1 });
    expect(short.ok).toBe(false);
    expect(short.problem).toMatch(/0 valid witness cosignature/);
  });

  it('a published ClaimReview carries a receipt: its draft and approval events, proved against the signed checkpoint', async () => {
    const id = await claimIn(t, 'published');
    const pending = await call(t.app, { url: `/claims/${id}/claim-review`, headers: t.as.fact_checker });
    expect(pending.statusCode).toBe(200);
    await t.app.transparency.sync();
    const r = await call(t.app, { url: `/claims/${id}/claim-review`, headers: t.as.fact_checker });
    expect(r.statusCode).toBe(200);
    const receipt = r.json[PROVENANCE_PROPERTY]['@value'];
    const key = parseVerifierKey((await call(t.app, { url: '/audit/checkpoint/key', headers: t.as.auditor })).body);
    const { rootHash, size } = parseCheckpoint(verifyNote(receipt.checkpoint, key).text);
    expect(receipt.treeSize).toBe(size);
    expect(receipt.events.map((e: { role: string; type: string }) => [e.role, e.type])).toEqual([
      ['verdict', 'VerdictDrafted'],
      ['approval', 'VerdictPublished'],
    ]);
    const [verdict, approval] = receipt.events;
    expect(verdict.actor).not.toBe(approval.actor);
    for (const e of receipt.events) {
      const leaf = leafHashOf({ hash: e.hash, position: e.position, streamId: e.streamId, version: e.version });
      expect(leaf.toString('base64')).toBe(e.leafHash);
      expect(verifyInclusion(e.leafIndex, size, leaf, e.inclusionProof.map((h: string) => Buffer.from(h, 'base64')), rootHash)).toBe(true);
    }
    // The events the receipt names are the claim's own.
    const history = (await call(t.app, { url: `/claims/${id}/events`, headers: t.as.auditor })).json.events as { id: string; hash: string; leafIndex: number }[];
    for (const e of receipt.events) expect(history.find((h) => h.id === e.eventId)).toMatchObject({ hash: e.hash, leafIndex: e.leafIndex });
  });

  it('/audit/verify checks the stored tree and the latest checkpoint', async () => {
    const r = await call(t.app, { url: '/audit/verify', headers: t.as.auditor });
    expect(r.statusCode).toBe(200);
    expect(r.json.ok).toBe(true);
    expect(r.json.tree).toMatchObject({ ok: true, size: await t.app.store.headPosition(), checkpoint: { ok: true } });
  });

  // Last: it damages the stored tree.
  it('a proof the damaged tree cannot give is a 409 tree_incomplete problem, never a 5xx', async () => {
    const db = t.app.database.db;
    // The append-only guard is a user trigger; a superuser can step around it, as an attacker would.
    // The tree's lowest levels are computed from the events (16-leaf edges): a removed event
    // leaves a hole no proof over it can be computed across.
    await sql`alter table events disable trigger user`.execute(db);
    try {
      await sql`delete from events where position = 2`.execute(db);
    } finally {
      await sql`alter table events enable trigger user`.execute(db);
    }
    const r = await call(t.app, { url: '/audit/proof/inclusion?position=1&size=2', headers: t.as.auditor });
    expect(r.statusCode).toBe(409);
    expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(r.json).toMatchObject({ code: 'tree_incomplete', status: 409 });
    const verify = await call(t.app, { url: '/audit/verify', headers: t.as.auditor });
    expect(verify.statusCode).toBe(200);
    expect(verify.json.ok).toBe(false);
  });
});
