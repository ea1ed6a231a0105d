import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLAIM_STATUSES,
  decide,
  evolve,
  foldClaim,
  toEnvelope,
  initialClaimState,
  toClaimView,
  type ClaimState,
  type ClaimView,
} from '@claimtrail/domain';
import { ClaimService, CommandError, getClaim } from '@claimtrail/claims';
import { createEventStore, migrateToLatest, openDatabase, type Database, type EventStore } from '@claimtrail/event-store';
import { ensureUsers } from '@claimtrail/identity';
import { migrations } from '@claimtrail/migrations';
import {
  SEED_CLAIMS,
  SEED_SUMMARY,
  SEED_USERS,
  SOURCES,
  resolveSeedCommand,
  runSeed,
  seedActor,
  seedDirectoryUser,
  seedIdempotencyKey,
  type SeedCommandInput,
} from '../src/index.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function expectFinal(view: ClaimView, slug: string) {
  const seed = SEED_CLAIMS.find((c) => c.slug === slug)!;
  expect(view.state, slug).toBe(seed.expected.state);
  expect(view.publishedVerdict?.rating ?? null, slug).toBe(seed.expected.rating);
  expect(view.assignee, slug).toBe(seed.expected.assignee);
  // Every correction the seed proposes is approved: none is left waiting.
  expect(view.pendingCorrection, slug).toBeNull();
  if (seed.expected.mergedInto) expect(view.mergedInto).toBe(seed.expected.mergedInto);
  expect(view.id).toBe(seed.id);
}

describe('seed data (pure, through the domain)', () => {
  it('has the desk, the five sources and enough claims over every state', () => {
    const roles = Object.values(SEED_USERS).map((u) => u.role);
    expect(roles.filter((r) => r === 'fact_checker').length).toBeGreaterThanOrEqual(2);
    expect(roles.filter((r) => r === 'editor').length).toBeGreaterThanOrEqual(2);
    expect(roles).toContain('auditor');
    expect(roles).toContain('admin');
    expect(Object.keys(SOURCES)).toHaveLength(5);
    for (const source of Object.values(SOURCES)) {
      expect(source.publishedAt.startsWith('2024-03-12')).toBe(true);
      for (const text of Object.values(source.excerpts)) expect(text.length).toBeLessThan(320);
    }
    expect(SEED_CLAIMS.length).toBeGreaterThanOrEqual(12);
    expect(new Set(SEED_CLAIMS.map((c) => c.id)).size).toBe(SEED_CLAIMS.length);
    for (const c of SEED_CLAIMS) expect(c.id).toMatch(UUID);
    const states = new Set(SEED_SUMMARY.map((s) => s.state));
    for (const status of CLAIM_STATUSES) expect(states, status).toContain(status);
    expect(SEED_SUMMARY.filter((s) => s.state === 'published').length).toBeGreaterThanOrEqual(3);
  });

  it('every step is accepted by decide for the user who performs it, and ends in the expected state', () => {
    const states = new Map<string, ClaimState>();
    for (const seed of SEED_CLAIMS) {
      let state = initialClaimState;
      for (const [i, step] of seed.steps.entries()) {
        const actor = { ...SEED_USERS[step.as] };
        const into = step.command.type === 'merge' ? states.get(step.command.into) : undefined;
        const command = resolveSeedCommand(step.command, state.status === null ? null : toClaimView(state));
        if (command === null) throw new Error(`${seed.slug} step ${i + 1}: nothing pending to approve`);
        const result = decide(command, state, actor, {
          claimId: seed.id,
          mergeTarget: into?.status ? { id: into.id!, status: into.status } : null,
          // Every assignee is a user of the seed desk who can research (the service looks them up).
          ...(step.command.type === 'assign' ? { assignee: seedDirectoryUser(step.command.assignee) } : {}),
        });
        if (!result.ok) throw new Error(`${seed.slug} step ${i + 1} (${step.command.type}): ${result.refusal.code} ${result.refusal.message}`);
        for (const event of result.events) {
          state = evolve(state, { ...event, actor: actor.id, recordedAt: '2024-03-12T12:00:00Z', version: state.version + 1 });
        }
      }
      states.set(seed.id, state);
      expectFinal(toClaimView(state), seed.slug);
    }
  });

  it('a correction that changes what readers see is proposed by one editor and approved by another', () => {
    const corrected = SEED_CLAIMS.filter((c) => c.steps.some((s) => s.command.type === 'approve_correction'));
    expect(corrected.length).toBeGreaterThanOrEqual(1);
    for (const seed of corrected) {
      const i = seed.steps.findIndex((s) => s.command.type === 'approve_correction');
      const proposal = seed.steps[i - 1]!;
      expect(proposal.command.type).toBe('correct');
      expect(seed.steps[i]!.as).not.toBe(proposal.as);
    }
  });

  it('on a database seeded before two-person corrections (the correction was recorded at once) the approval is not sent', async () => {
    const seed = SEED_CLAIMS.find((c) => c.steps.some((s) => s.command.type === 'approve_correction'))!;
    const sent: SeedCommandInput['command'][] = [];
    // Answers as an older service gave them: views without pendingCorrection.
    const result = await runSeed(
      async ({ command }) => {
        sent.push(command);
        return { view: { appearances: [{ id: 'a1' }, { id: 'a2' }, { id: 'a3' }] }, replayed: true };
      },
      { claims: [seed] },
    );
    expect(sent.map((c) => c.type)).toEqual(seed.steps.map((s) => s.command.type).filter((t) => t !== 'approve_correction'));
    expect(result).toMatchObject({ commands: seed.steps.length - 1, replayed: seed.steps.length - 1 });
  });

  it('covers the contradictions of the reports', () => {
    const all = JSON.stringify(SEED_CLAIMS);
    for (const needle of ['Tyotkino', 'Tetkino', 'Tjotkino', 'no breakthrough', 'Lozova Rudka', 'autonomous', 'backed by Ukraine', 'CAESAR howitzer', '25 drones', 'Belgorod region']) {
      expect(all, needle).toContain(needle);
    }
  });
});

describe('seed loaded into a fresh database (the events, through ClaimService as every write)', () => {
  let database: Database;
  let store: EventStore;
  let executor: (input: SeedCommandInput) => ReturnType<ClaimService['execute']>;

  beforeAll(async () => {
    database = await openDatabase({ dataDir: 'memory://' });
    await migrateToLatest(database.db, migrations);
    store = createEventStore(database);
    // The assignees are looked up in the user directory.
    await ensureUsers(database.db, Object.values(SEED_USERS));
    const service = new ClaimService(store);
    executor = (input) => service.execute(input);
  });
  afterAll(async () => {
    await store?.close();
    await database?.close();
  });

  async function view(id: string): Promise<ClaimView> {
    const events = await store.readStream(`claim-${id}`);
    return toClaimView(foldClaim(events.map((e) => toEnvelope(e))));
  }

  it('writes every claim, to its expected state', async () => {
    const result = await runSeed(executor);
    const commands = SEED_CLAIMS.reduce((n, c) => n + c.steps.length, 0);
    expect(result).toMatchObject({ commands, replayed: 0 });
    expect((await store.readAll({ limit: 10_000 })).events.length).toBe(commands);
    for (const seed of SEED_CLAIMS) {
      const v = await view(seed.id);
      expectFinal(v, seed.slug);
      expect(v.version).toBe(seed.steps.length);
    }
  });

  it('a second run appends nothing', async () => {
    const before = await store.readAll({ limit: 10_000 });
    const again = await runSeed(executor);
    expect(again.replayed).toBe(again.commands);
    const after = await store.readAll({ limit: 10_000 });
    expect(after.events.map((e) => e.id)).toEqual(before.events.map((e) => e.id));
  });

  it('records who did what, with the desk’s roles and four eyes', async () => {
    const events = (await store.readAll({ limit: 10_000 })).events;
    const published = events.filter((e) => e.type === 'VerdictPublished');
    expect(published.length).toBeGreaterThanOrEqual(4);
    for (const e of published) expect(e.metadata.actor).not.toBe((e.data as { draftedBy: string }).draftedBy);
    const actors = new Set(events.map((e) => e.metadata.actor));
    expect(actors).not.toContain(SEED_USERS.priya.id);
  });

  it('refuses what the policy refuses, appending nothing (auditor writes)', async () => {
    const before = (await store.readAll({ limit: 10_000 })).events.length;
    await expect(
      executor({ claimId: SEED_CLAIMS[0]!.id, command: { type: 'add_note', body: 'x' }, actor: { ...SEED_USERS.priya } }),
    ).rejects.toBeInstanceOf(CommandError);
    expect((await store.readAll({ limit: 10_000 })).events.length).toBe(before);
  });

  it('a used idempotency key answers only its own request: another command on it is refused, the first still replays', async () => {
    const seed = SEED_CLAIMS[0]!;
    const first = seed.steps[0]!;
    const key = seedIdempotencyKey(seed.slug, 1);
    const before = (await store.readAll({ limit: 10_000 })).events.length;
    const other = { claimId: seed.id, command: { type: 'add_note' as const, body: 'not the first request' }, actor: seedActor(first.as), idempotencyKey: key };
    await expect(executor(other)).rejects.toMatchObject({ code: 'idempotency_key_reuse' });
    const replay = await executor({ claimId: seed.id, command: first.command, actor: seedActor(first.as), idempotencyKey: key });
    expect(replay).toMatchObject({ replayed: true, events: [] });
    expect((await store.readAll({ limit: 10_000 })).events.length).toBe(before);
  });

  it('carries the search-relevant text', async () => {
    const tyotkino = await view(SEED_CLAIMS[0]!.id);
    expect(tyotkino.text).toContain('Tyotkino');
    expect(JSON.stringify(tyotkino)).toContain('Tjotkino');
    const merged = await view(SEED_CLAIMS.find((c) => c.expected.state === 'merged')!.id);
    expect(merged.text).toContain('Tetkino');
    expect(merged.mergedInto).toBe(tyotkino.id);
    expect(tyotkino.evidence.some((e) => e.stance === 'refutes' && e.summary.includes('no breakthrough'))).toBe(true);
    expect(tyotkino.appearances.map((a) => a.id)).toEqual(['a1', 'a2', 'a3']);
  });
});


describe('seed loaded through ClaimService (events + projections + idempotency keys)', () => {
  let database: Database;
  let store: EventStore;

  beforeAll(async () => {
    database = await openDatabase({ dataDir: 'memory://' });
    await migrateToLatest(database.db, migrations);
    store = createEventStore(database);
  });
  afterAll(async () => {
    await store?.close();
    await database?.close();
  });

  it('ends every claim in its expected state, twice-run appends nothing, projection matches', async () => {
    await ensureUsers(database.db, Object.values(SEED_USERS));
    const service = new ClaimService(store);
    const first = await runSeed((input) => service.execute(input));
    expect(first.replayed).toBe(0);
    const head = await store.headPosition();
    const second = await runSeed((input) => service.execute(input));
    expect(second.replayed).toBe(second.commands);
    expect(await store.headPosition()).toBe(head);
    for (const seed of SEED_CLAIMS) {
      const view = await getClaim(database.db, seed.id);
      expect(view, seed.slug).not.toBeNull();
      expectFinal(view!, seed.slug);
    }
  });
});
