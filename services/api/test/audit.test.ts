/**
 * Auditor's view on a real PostgreSQL, over HTTP (app.inject):
 * - time travel: GET /claims/:id/state?version=N and ?at= equal folding the stream prefix
 *   with the domain's evolve, for every version of every seed claim;
 * - GET /audit/verify: policy, clean log, and tampering found and named (an edited event
 *   row, a deleted one, a projection row edited behind the service's back).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { evolve, initialClaimState, toClaimView, type ClaimEventEnvelope, type ClaimState } from '@claimtrail/domain';
import { SEED_CLAIMS, runSeed } from '@claimtrail/seeds';
import { createTestDatabase, requirePostgres, type TestDatabase } from '@claimtrail/testing';
import { buildApp } from '../src/app.ts';
import { call } from './helpers.ts';
import type { FastifyInstance } from 'fastify';
import type { Role } from '@claimtrail/domain';

const hasPg = await requirePostgres();

interface WireEvent {
  id: string;
  position: number | null;
  version: number;
  streamId: string;
  type: string;
  data: Record<string, unknown>;
  actor: string;
  recordedAt: string;
  hash: string;
  prevHash: string | null;
}

function envelope(e: WireEvent): ClaimEventEnvelope {
  return { type: e.type, data: e.data, actor: e.actor, recordedAt: e.recordedAt, version: e.version, streamId: e.streamId } as ClaimEventEnvelope;
}

function fold(events: WireEvent[]): ClaimState {
  return events.reduce((state, e) => evolve(state, envelope(e)), initialClaimState);
}

describe.skipIf(!hasPg)('audit: time travel and verify', () => {
  let db: TestDatabase;
  let app: FastifyInstance;
  let admin: pg.Client;
  let as: Record<Role, { authorization: string }>;

  beforeAll(async () => {
    db = await createTestDatabase('audit');
    app = await buildApp({ config: { databaseUrl: db.url, rateLimitMax: 0 }, logger: false, seed: false, demoTokens: true });
    as = Object.fromEntries(Object.entries(app.demoTokens).map(([r, t]) => [r, { authorization: `Bearer ${t}` }])) as typeof as;
    await runSeed((input) => app.claims.execute(input));
    // The test server's superuser, on the test database: the only way to tamper.
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
    await app?.close();
    await db?.drop();
  });

  async function events(id: string): Promise<WireEvent[]> {
    const r = await call(app, { url: `/claims/${id}/events`, headers: as.auditor });
    expect(r.statusCode).toBe(200);
    return r.json.events as WireEvent[];
  }

  it('the history is ordered and chained', async () => {
    for (const claim of SEED_CLAIMS) {
      const history = await events(claim.id);
      expect(history.length).toBe(claim.steps.length);
      history.forEach((e, i) => {
        expect(e.version).toBe(i + 1);
        expect(e.prevHash).toBe(i === 0 ? null : history[i - 1]!.hash);
      });
    }
  });

  it('?version=N equals the fold of the first N events, for every version of every seed claim', async () => {
    let checked = 0;
    for (const claim of SEED_CLAIMS) {
      const history = await events(claim.id);
      for (let v = 1; v <= history.length; v++) {
        const r = await call(app, { url: `/claims/${claim.id}/state?version=${v}`, headers: as.auditor });
        expect(r.statusCode, `${claim.slug} v${v}`).toBe(200);
        expect(r.json, `${claim.slug} v${v}`).toEqual(toClaimView(fold(history.slice(0, v))));
        expect(r.headers.etag).toBe(`"${v}"`);
        checked++;
      }
      const beyond = await call(app, { url: `/claims/${claim.id}/state?version=${history.length + 1}`, headers: as.auditor });
      expect(beyond.statusCode).toBe(404);
      // The latest state equals the live view.
      const live = await call(app, { url: `/claims/${claim.id}`, headers: as.auditor });
      expect(live.json).toEqual(toClaimView(fold(history)));
    }
    expect(checked).toBeGreaterThan(SEED_CLAIMS.length);
  });

  it('?at=<instant> equals the fold of the events recorded up to that instant', async () => {
    for (const claim of SEED_CLAIMS) {
      const history = await events(claim.id);
      const first = Date.parse(history[0]!.recordedAt);
      const before = await call(app, { url: `/claims/${claim.id}/state?at=${new Date(first - 1).toISOString()}`, headers: as.auditor });
      expect(before.statusCode).toBe(404);
      for (const e of history) {
        const at = e.recordedAt;
        const prefix = history.filter((x) => Date.parse(x.recordedAt) <= Date.parse(at));
        const r = await call(app, { url: `/claims/${claim.id}/state?at=${encodeURIComponent(at)}`, headers: as.auditor });
        expect(r.statusCode, `${claim.slug} at ${at}`).toBe(200);
        expect(r.json).toEqual(toClaimView(fold(prefix)));
      }
    }
  });

  it('verify: auditor, editor and admin may call it; fact-checkers may not; anonymous is 401', async () => {
    for (const role of ['auditor', 'editor', 'admin'] as const) {
      const r = await call(app, { url: '/audit/verify', headers: as[role] });
      expect(r.statusCode, role).toBe(200);
      expect(r.json.ok).toBe(true);
    }
    const fc = await call(app, { url: '/audit/verify', headers: as.fact_checker });
    expect(fc.statusCode).toBe(403);
    expect(fc.json.code).toBe('forbidden_role');
    expect((await call(app, { url: '/audit/verify' })).statusCode).toBe(401);
  });

  it('verify on the clean log: every event checked, projections equal a rebuild', async () => {
    const count = Number((await admin.query('select count(*)::int as n from events')).rows[0].n);
    const r = await call(app, { url: '/audit/verify', headers: as.auditor });
    expect(r.json).toMatchObject({ ok: true, checked: count, projections: { checked: SEED_CLAIMS.length, differences: 0 } });
    expect(r.json.firstBroken).toBeUndefined();
    const one = await call(app, { url: `/audit/verify?claimId=${SEED_CLAIMS[0]!.id}`, headers: as.auditor });
    expect(one.json).toMatchObject({ ok: true, checked: SEED_CLAIMS[0]!.steps.length, projections: { checked: 1, differences: 0 } });
    const unknown = await call(app, { url: '/audit/verify?claimId=00000000-0000-4000-8000-000000000000', headers: as.auditor });
    expect(unknown.statusCode).toBe(404);
    const bad = await call(app, { url: '/audit/verify?claimId=nope', headers: as.auditor });
    expect(bad.statusCode).toBe(404);
  });

  it('nobody can change the log: the table refuses UPDATE and DELETE even from the superuser', async () => {
    await expect(admin.query(`update events set type = type where version = 1`)).rejects.toThrow(/append-only/);
    await expect(admin.query(`delete from events where version = 1`)).rejects.toThrow(/append-only/);
  });

  it('an edited event row is found by verify, which names it', async () => {
    const victim = SEED_CLAIMS[2]!;
    const history = await events(victim.id);
    const target = history[Math.min(1, history.length - 1)]!;
    const original = (await admin.query('select data from events where id = $1', [target.id])).rows[0].data;
    await admin.query('alter table events disable trigger all');
    try {
      await admin.query(`update events set data = jsonb_set(data, '{tampered}', 'true'::jsonb) where id = $1`, [target.id]);
    } finally {
      await admin.query('alter table events enable trigger all');
    }
    const all = await call(app, { url: '/audit/verify', headers: as.auditor });
    expect(all.statusCode).toBe(200);
    expect(all.json.ok).toBe(false);
    expect(all.json.firstBroken).toMatchObject({
      streamId: `claim-${victim.id}`,
      claimId: victim.id,
      eventId: target.id,
      version: target.version,
      position: target.position,
      reason: 'hash_mismatch',
    });
    const one = await call(app, { url: `/audit/verify?claimId=${victim.id}`, headers: as.auditor });
    expect(one.json).toMatchObject({ ok: false, firstBroken: { eventId: target.id, reason: 'hash_mismatch' } });
    const other = await call(app, { url: `/audit/verify?claimId=${SEED_CLAIMS[0]!.id}`, headers: as.auditor });
    expect(other.json.ok).toBe(true);

    // Put it back exactly: the chain is whole again.
    await admin.query('alter table events disable trigger all');
    try {
      await admin.query('update events set data = $2::jsonb where id = $1', [target.id, JSON.stringify(original)]);
    } finally {
      await admin.query('alter table events enable trigger all');
    }
    expect((await call(app, { url: '/audit/verify', headers: as.auditor })).json.ok).toBe(true);
  });

  it('a projection row edited behind the service is found (projection_mismatch) and a rebuild repairs it', async () => {
    const victim = SEED_CLAIMS[1]!;
    await admin.query(`update claims set view = jsonb_set(view::jsonb, '{text}', '"rewritten"'::jsonb)::json where id = $1`, [victim.id]);
    const all = await call(app, { url: '/audit/verify', headers: as.auditor });
    expect(all.json.ok).toBe(false);
    expect(all.json.projections.differences).toBe(1);
    expect(all.json.firstBroken).toMatchObject({ claimId: victim.id, reason: 'projection_mismatch', columns: ['view'] });
    expect(all.json.firstBroken.eventId).toEqual(expect.any(String));
    const one = await call(app, { url: `/audit/verify?claimId=${victim.id}`, headers: as.auditor });
    expect(one.json).toMatchObject({ ok: false, firstBroken: { reason: 'projection_mismatch', columns: ['view'] } });

    const { rebuildProjections } = await import('@claimtrail/claims');
    const result = await rebuildProjections(app.store);
    expect(result).toMatchObject({ swapped: true, differences: 1, claims: SEED_CLAIMS.length });
    expect((await call(app, { url: '/audit/verify', headers: as.auditor })).json.ok).toBe(true);
    expect((await call(app, { url: `/claims/${victim.id}`, headers: as.auditor })).json.text).not.toBe('rewritten');
  });

  it('a deleted event is found: in the middle of a stream (version gap) and at the end of one (position gap)', async () => {
    const victim = SEED_CLAIMS[3]!;
    const history = await events(victim.id);
    expect(history.length).toBeGreaterThanOrEqual(3);
    const middle = history[1]!;
    await admin.query('create table saved_events as select * from events where id = $1', [middle.id]);
    await admin.query('alter table events disable trigger all');
    try {
      await admin.query('delete from events where id = $1', [middle.id]);
    } finally {
      await admin.query('alter table events enable trigger all');
    }
    const all = await call(app, { url: '/audit/verify', headers: as.auditor });
    expect(all.json.ok).toBe(false);
    // The event after the hole is named: its version no longer follows its predecessor.
    expect(all.json.firstBroken).toMatchObject({ claimId: victim.id, version: history[2]!.version, eventId: history[2]!.id, reason: 'version_gap' });
    const one = await call(app, { url: `/audit/verify?claimId=${victim.id}`, headers: as.auditor });
    expect(one.json).toMatchObject({ ok: false, firstBroken: { eventId: history[2]!.id, reason: 'version_gap' } });

    // Restore it, then delete the LAST event of another claim: no version gap shows, the
    // hole in the positions (or the projection ahead of its events) does.
    await admin.query('alter table events disable trigger all');
    try {
      await admin.query('insert into events overriding system value select * from saved_events');
    } finally {
      await admin.query('alter table events enable trigger all');
    }
    expect((await call(app, { url: '/audit/verify', headers: as.auditor })).json.ok).toBe(true);

    const head = Number((await admin.query('select max(position) as p from events')).rows[0].p);
    const tailRow = (
      await admin.query(
        `select e.id, e.stream_id, e.version, e.position from events e
          where e.stream_id like 'claim-%' and e.position < $1
            and e.version = (select max(version) from events x where x.stream_id = e.stream_id)
          order by e.position limit 1`,
        [head],
      )
    ).rows[0];
    await admin.query('alter table events disable trigger all');
    try {
      await admin.query('delete from events where id = $1', [tailRow.id]);
    } finally {
      await admin.query('alter table events enable trigger all');
    }
    const after = await call(app, { url: '/audit/verify', headers: as.auditor });
    expect(after.json.ok).toBe(false);
    expect(after.json.firstBroken.reason).toBe('position_gap');
    expect(after.json.firstBroken.position).toBe(Number(tailRow.position) + 1);
    const oneTail = await call(app, { url: `/audit/verify?claimId=${String(tailRow.stream_id).slice('claim-'.length)}`, headers: as.auditor });
    // Seen from the claim alone, its projection is ahead of its (shortened) stream.
    expect(oneTail.json).toMatchObject({ ok: false, firstBroken: { reason: 'projection_mismatch', claimId: String(tailRow.stream_id).slice(6) } });
  });
});
