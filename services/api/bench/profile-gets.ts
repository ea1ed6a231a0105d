/**
 * `npx tsx services/api/bench/profile-gets.ts`: the read load of bench:api
 * (GET /claims/:id, 32 connections, one claim, auditor token) against the service alone,
 * with the CPU time per request of the service process, its PostgreSQL backends and the
 * load generator read from /proc (Linux), as profile-notes.ts does for writes.
 *
 *   DURATION=10           seconds measured (after a 1 s warm-up)
 *   RATE_LIMIT_MAX=0      the bench's setting (off); e.g. 10000000 to include the limiter
 *   LOG_LEVEL=warn        the bench's setting; `info` for one line per request
 *   CPU_PROF=/tmp/prof    also write a V8 profile (node --cpu-prof) there
 *   PERF=/tmp/perf.data   also `perf record -g` the service (started with --perf-basic-prof)
 */
import { createBenchClaims, profileService } from './support.ts';

const DURATION = Number(process.env.DURATION ?? 10);

await profileService(
  {
    name: 'GET /claims/:id',
    rateLimitMax: process.env.RATE_LIMIT_MAX ?? '0',
    logLevel: process.env.LOG_LEVEL ?? 'warn',
    perfFrequency: process.env.PERF_FREQ ?? '499',
    async load({ url, output, factChecker }) {
      const ids = await createBenchClaims(url, factChecker, 1);
      // The bench reads a claim that its write run gave ~30–100 notes; give this one 50.
      for (let i = 0; i < Number(process.env.NOTES ?? 50); i++) {
        await fetch(`${url}/claims/${ids[0]}/notes`, {
          method: 'POST',
          headers: factChecker,
          body: JSON.stringify({ body: 'a note of ordinary length for the baseline' }),
        });
      }
      const auditorToken = /^\s+auditor\s+(\S+)/m.exec(output)![1]!;
      return { url: `${url}/claims/${ids[0]}`, connections: 32, headers: { authorization: `Bearer ${auditorToken}` } };
    },
  },
  DURATION,
);
