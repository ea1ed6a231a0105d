/**
 * `npx tsx services/api/bench/profile-notes.ts`: the write load of bench:api
 * (POST /claims/:id/notes, 32 connections, 200 claims) against the service alone, with
 * the CPU time per request of each party read from /proc (Linux): the service process,
 * its PostgreSQL backends, the load generator, the whole machine. On a shared box the
 * req/s moves with the neighbours; CPU per request does not, so compare that.
 *
 *   DURATION=10           seconds measured (after a 1 s warm-up)
 *   POOL=16               DATABASE_POOL_SIZE of the service
 *   CLAIMS=200            claims the notes go to, round robin (fewer claims: more notes
 *                         per claim, bigger views to serialize per write)
 *   CPU_PROF=/tmp/prof    also write a V8 profile (node --cpu-prof) there
 *   PERF=/tmp/perf.data   also `perf record -g` the service during the run (start the
 *                         service with --perf-basic-prof so JS frames have names);
 *                         PERF_ALL=1 records the whole machine (PostgreSQL included)
 */
import { createBenchClaims, noteRequests, profileService } from './support.ts';

const DURATION = Number(process.env.DURATION ?? 10);

await profileService(
  {
    name: 'notes',
    rateLimitMax: '0',
    logLevel: 'warn',
    perfFrequency: '499',
    async load({ url, factChecker }) {
      const ids = await createBenchClaims(url, factChecker, Number(process.env.CLAIMS ?? 200));
      return { url, connections: 32, requests: noteRequests(factChecker, ids) };
    },
  },
  DURATION,
);
