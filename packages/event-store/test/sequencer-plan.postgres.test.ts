import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requirePostgres } from '@claimtrail/testing';
import { openBackend, type Backend } from './helpers.ts';

const available = await requirePostgres();

/**
 * A sequencer pass must cost what it numbers, not what the log holds: it used to join back
 * to `events` on `seq`, which only a partial index covers, and read the whole table on
 * every pass (migration 0010). Counted by PostgreSQL itself for the pass's transaction.
 */
describe.skipIf(!available)('sequencer pass on PostgreSQL', () => {
  let backend: Backend;
  let client: pg.Client;

  beforeAll(async () => {
    backend = await openBackend('postgres', 2);
    client = new pg.Client({ connectionString: backend.url });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    await backend?.cleanup();
  });

  it('reads only the unsequenced rows, however long the log', async () => {
    const insert = (from: number, to: number, positioned: boolean) =>
      client.query(
        `insert into events (id, stream_id, version, type, data, metadata, recorded_at, hash, prev_hash, position)
         select gen_random_uuid(), 's-' || g, 1, 'Happened', '{}', '{"actor":"tester"}', now(), md5(g::text), null,
                ${positioned ? 'g' : 'null'}
           from generate_series($1::int, $2::int) g`,
        [from, to],
      );
    await insert(1, 20_000, true);
    await insert(20_001, 20_010, false);
    await client.query('analyze events');

    await client.query('begin');
    const pass = await client.query<{ sequenced: number; head: string }>('select sequenced, head from events_sequence(5000, null)');
    const counted = await client.query<{ seq_tup_read: string; idx_scan: string }>(
      `select seq_tup_read, idx_scan from pg_stat_xact_user_tables where relname = 'events'`,
    );
    await client.query('commit');

    expect(pass.rows[0]).toEqual({ sequenced: 10, head: '20010' });
    // The old join read all 20,010 rows here.
    expect(Number(counted.rows[0]!.seq_tup_read)).toBeLessThan(100);
    const positions = await client.query<{ position: string }>(`select position from events where stream_id like 's-2000_' or stream_id = 's-20010' order by seq`);
    expect(positions.rows.map((r) => Number(r.position))).toEqual(Array.from({ length: 11 }, (_, i) => 20_000 + i));
  });
});
