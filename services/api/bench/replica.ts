/**
 * `npm run bench:replica`: read throughput of the list, the board and the feed, served by
 * the primary alone and then with a streaming read replica serving the reads, in one run
 * on one database:
 *
 * - a real replica of the test server (test/support/replica.ts: pg_basebackup, its own
 *   server on another loopback port);
 * - 2,000 claims with a few notes each (≈ 8,000 events), ANALYZEd;
 * - two instances of the service as child processes: one with DATABASE_URL only, one with
 *   READ_DATABASE_URL naming the replica as well;
 * - per read and per instance, autocannon at 32 connections for BENCH_DURATION seconds
 *   (after a 1 s warm-up): req/s, p50/p99, errors, and the share of the requests the
 *   replica served (the instance's own count, /readyz): reads taken off the primary.
 *
 * Everything runs on one machine (the two database servers share its cores with the
 * service and the load generator), so req/s says what the routing costs or saves here, not
 * what a replica on a machine of its own adds.
 * Prints a table and a final JSON line.
 *
 *   npm run bench:replica            BENCH_DURATION=10 (seconds per measurement)
 */
import autocannon from 'autocannon';
import pg from 'pg';
import { createTestDatabase } from '@claimtrail/testing';
import { prepareDatabase } from '../../../test/support/db.ts';
import { createReplica } from '../../../test/support/replica.ts';
import { sleep, startService, type Service } from '../../../test/support/service.ts';
import { analyze, createBenchClaims } from './support.ts';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = 32;
const CLAIMS = 2000;
const NOTES_PER_CLAIM = 3;

interface Row {
  read: string;
  /** The instance measured: DATABASE_URL only, or with READ_DATABASE_URL naming the replica too. */
  instance: 'primary-only' | 'with-replica';
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  requests: number;
  /** Share of the requests the replica served (the instance's count, /readyz). */
  servedByReplica: number;
}

async function headPosition(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ head: string }>('select max(position) as head from events');
    return Number(rows[0]!.head);
  } finally {
    await client.end();
  }
}

async function replicaReads(service: Service): Promise<number> {
  const ready = (await (await fetch(`${service.url}/readyz`)).json()) as { replicas?: { servers: { reads: number }[] } };
  return ready.replicas?.servers.reduce((sum, server) => sum + server.reads, 0) ?? 0;
}

async function main(): Promise<void> {
  const database = await createTestDatabase('ct_bench_replica');
  const replica = await createReplica();
  const services: Service[] = [];
  try {
    const users = await prepareDatabase(database.url);
    const headers = { authorization: `Bearer ${users.editor.token}`, 'content-type': 'application/json' };
    const primaryOnly = await startService({ databaseUrl: database.url, env: { LOG_LEVEL: 'warn', RATE_LIMIT_MAX: '0' } });
    services.push(primaryOnly);
    console.error(`loading ${CLAIMS} claims with ${NOTES_PER_CLAIM} notes each …`);
    const ids = await createBenchClaims(primaryOnly.url, headers, CLAIMS, 16);
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let i = next++; i < CLAIMS * NOTES_PER_CLAIM; i = next++) {
          const response = await fetch(`${primaryOnly.url}/claims/${ids[i % CLAIMS]}/notes`, {
            method: 'POST',
            headers,
            body: JSON.stringify({ body: `bench note ${i}` }),
          });
          await response.arrayBuffer();
        }
      }),
    );
    await analyze(database.url);
    const head = await headPosition(database.url);
    await replica.waitForPosition(database.name, head);
    const withReplica = await startService({
      databaseUrl: database.url,
      env: { LOG_LEVEL: 'warn', RATE_LIMIT_MAX: '0', READ_DATABASE_URL: replica.url(database.name) },
    });
    services.push(withReplica);

    const reads = [
      { read: 'GET /claims', path: '/claims' },
      { read: 'GET /board', path: '/board' },
      { read: 'GET /events (100)', path: `/events?after=${Math.max(0, head - 1000)}&limit=100` },
    ];
    const results: Row[] = [];
    const auth = { authorization: headers.authorization };
    for (const { read, path } of reads) {
      for (const [instance, service] of [
        ['primary-only', primaryOnly],
        ['with-replica', withReplica],
      ] as const) {
        const options = { url: `${service.url}${path}`, connections: CONNECTIONS, headers: auth };
        await autocannon({ ...options, duration: 1 });
        await sleep(500);
        const servedBefore = await replicaReads(service);
        const result = await autocannon({ ...options, duration: DURATION });
        const requests = result.requests.total;
        const row: Row = {
          read,
          instance,
          rps: Math.round(result.requests.average),
          p50: result.latency.p50,
          p99: result.latency.p99,
          errors: result.errors + result.non2xx + result.timeouts,
          requests,
          servedByReplica: Number((((await replicaReads(service)) - servedBefore) / Math.max(1, requests)).toFixed(3)),
        };
        console.error(
          `  ${read}, ${instance}: ${row.rps} req/s, p50 ${row.p50} ms, p99 ${row.p99} ms, errors ${row.errors}, ` +
            `served by the replica ${(row.servedByReplica * 100).toFixed(1)} %`,
        );
        results.push(row);
      }
    }

    console.log('\n| read | instance | req/s | p50 ms | p99 ms | errors | served by the replica |');
    console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: |');
    for (const r of results) {
      console.log(`| ${r.read} | ${r.instance} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.errors} | ${(r.servedByReplica * 100).toFixed(1)} % |`);
    }
    const ratio = (read: string) => {
      const of = (instance: Row['instance']) => results.find((r) => r.read === read && r.instance === instance)!;
      return Number((of('with-replica').rps / of('primary-only').rps).toFixed(3));
    };
    console.log(
      '\n' +
        JSON.stringify({
          bench: 'replica',
          durationSeconds: DURATION,
          connections: CONNECTIONS,
          events: head,
          withReplicaVsPrimaryOnlyRps: Object.fromEntries(reads.map(({ read }) => [read, ratio(read)])),
          errors: results.reduce((sum, r) => sum + r.errors, 0),
          rows: results,
        }),
    );
  } finally {
    for (const service of services) await service.kill();
    await replica.destroy();
    await database.drop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
