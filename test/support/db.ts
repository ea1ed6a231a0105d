/**
 * Direct database access for the reliability suite: migrate a fresh test database and
 * issue tokens the way an operator would (packages/claims' user helpers, tokens stored
 * hashed), raw SQL, and the integrity check every test ends with (hash chains, dense
 * positions, projections equal to a fresh rebuild).
 */
import pg from 'pg';
import { expect } from 'vitest';
import type { Role } from '@claimtrail/domain';
import { createEventStore, migrateToLatest, openDatabase } from '@claimtrail/event-store';
import { migrations } from '@claimtrail/migrations';
import { compareProjections, type ProjectionDiff } from '@claimtrail/claims';
import { ensureUsers, issueToken } from '@claimtrail/identity';
import { serverUrl } from '@claimtrail/testing';
import type { Counts } from './summary.ts';

export const ROLES: readonly Role[] = ['fact_checker', 'editor', 'auditor', 'admin'];

export interface Principal {
  userId: string;
  role: Role;
  token: string;
}

/** Migrates the database and creates one user + token per role (plus any `extra` users). */
export async function prepareDatabase(
  url: string,
  extra: { id: string; role: Role }[] = [],
): Promise<Record<Role, Principal> & { extra: Principal[] }> {
  const database = await openDatabase({ databaseUrl: url, poolSize: 2, onError: () => undefined });
  try {
    await migrateToLatest(database.db, migrations);
    const users = ROLES.map((role) => ({ id: `rel-${role.replace('_', '-')}`, role, name: `Reliability ${role}` }));
    await ensureUsers(database.db, [...users, ...extra.map((e) => ({ ...e, name: e.id }))]);
    const out = {} as Record<Role, Principal> & { extra: Principal[] };
    for (const user of users) out[user.role] = { userId: user.id, role: user.role, token: await issueToken(database.db, user.id, 'reliability') };
    out.extra = [];
    for (const e of extra) out.extra.push({ userId: e.id, role: e.role, token: await issueToken(database.db, e.id, 'reliability') });
    return out;
  } finally {
    await database.close();
  }
}

export async function query<T extends pg.QueryResultRow = any>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, application_name: 'reliability-test' });
  await client.connect();
  try {
    return (await client.query<T>(text, params)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** SQL on the server's maintenance database (ALTER DATABASE, pg_terminate_backend, roles). */
export function adminQuery<T extends pg.QueryResultRow = any>(text: string, params: unknown[] = []): Promise<T[]> {
  return query<T>(serverUrl(), text, params);
}

export async function countEvents(url: string): Promise<number> {
  const rows = await query<{ n: string }>(url, 'select count(*) as n from events');
  return Number(rows[0]!.n);
}

/** Terminates every backend connected to `dbName` except the caller's; returns how many. */
export async function terminateBackends(dbName: string): Promise<number> {
  const rows = await adminQuery<{ ok: boolean }>(
    'select pg_terminate_backend(pid) as ok from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
    [dbName],
  );
  return rows.filter((r) => r.ok).length;
}

export interface IntegrityReport {
  events: number;
  unpositioned: number;
  maxPosition: number;
  distinctPositions: number;
  chainOk: boolean;
  checked: number;
  diffs: ProjectionDiff[];
}

/**
 * Positions every committed event (a sequencer in this process), then checks: no event
 * without a position, positions dense 1..N, hash chains intact, projections equal to a
 * rebuild from the events (packages/claims' compareProjections, rolled back).
 */
export async function checkIntegrity(url: string): Promise<IntegrityReport> {
  const database = await openDatabase({ databaseUrl: url, poolSize: 3, onError: () => undefined });
  const store = createEventStore(database, { onError: () => undefined });
  try {
    await store.flush();
    const [stats] = await query<{ n: string; unpositioned: string; max: string | null; distinct: string }>(
      url,
      `select count(*) as n, count(*) filter (where position is null) as unpositioned,
              max(position) as max, count(distinct position) as distinct from events`,
    );
    const verify = await store.verify();
    const diffs = await compareProjections(store);
    return {
      events: Number(stats!.n),
      unpositioned: Number(stats!.unpositioned),
      maxPosition: Number(stats!.max ?? 0),
      distinctPositions: Number(stats!.distinct),
      chainOk: verify.ok,
      checked: verify.checked,
      diffs,
    };
  } finally {
    await store.close();
    await database.close();
  }
}

/**
 * The end of a fault test: `checkIntegrity`, its events added to the file's counts, and
 * every part of the report asserted — each event positioned once, densely; chains intact;
 * projections equal to a rebuild; and, given the acknowledged writes, exactly one event per
 * write.
 */
export async function expectWholeLog(url: string, counts: Counts, acknowledgedWrites?: number): Promise<IntegrityReport> {
  const integrity = await checkIntegrity(url);
  counts.events += integrity.events;
  expect(integrity.unpositioned).toBe(0);
  expect(integrity.maxPosition).toBe(integrity.events);
  expect(integrity.distinctPositions).toBe(integrity.events);
  expect(integrity.chainOk).toBe(true);
  expect(integrity.diffs, 'live projections differ from a rebuild').toEqual([]);
  if (acknowledgedWrites !== undefined) expect(integrity.events).toBe(acknowledgedWrites);
  return integrity;
}
