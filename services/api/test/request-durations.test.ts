import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { RequestDurations } from '../src/plugins/metrics.ts';

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The same observations through prom-client's Histogram and through RequestDurations. */
function both(observations: [method: string, route: string, status: number, seconds: number][]) {
  const reference = new Registry();
  const histogram = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route template and status',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: BUCKETS,
    registers: [reference],
  });
  const ours = new Registry();
  const durations = new RequestDurations(BUCKETS);
  ours.registerMetric(durations as never);
  for (const [method, route, status, seconds] of observations) {
    histogram.labels({ method, route, status_code: String(status) }).observe(seconds);
    durations.labels(method, route, status).observe(seconds);
  }
  return { reference, ours };
}

/** prom-client's Histogram sets `exemplar` (undefined) on each value; ours leaves it out. */
function withoutExemplar<T extends { exemplar?: unknown }>(value: T): Omit<T, 'exemplar'> {
  const { exemplar: _exemplar, ...rest } = value;
  return rest;
}

describe('RequestDurations (http_request_duration_seconds)', () => {
  const observations: [string, string, number, number][] = [
    ['GET', '/claims/:id', 200, 0.0004],
    ['GET', '/claims/:id', 200, 0.001], // on a bound: counts in that bucket (le is inclusive)
    ['GET', '/claims/:id', 200, 0.0031],
    ['GET', '/claims/:id', 304, 0.0002],
    ['POST', '/claims/:id/notes', 200, 0.012],
    ['POST', '/claims/:id/notes', 200, 7.5], // above every bound: +Inf only
    ['GET', 'unmatched', 404, 0.0009],
    ['GET', '/claims', 200, 0.3],
  ];

  it('exposes exactly what a prom-client Histogram fed the same observations exposes', async () => {
    const { reference, ours } = both(observations);
    const lines = (text: string) => text.trim().split('\n').sort();
    expect(lines(await ours.metrics())).toEqual(lines(await reference.metrics()));
    expect(await ours.metrics()).toContain('http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/claims/:id/notes",status_code="200"} 2');
  });

  it('gives the same JSON form', async () => {
    const { reference, ours } = both(observations);
    const sorted = (json: Awaited<ReturnType<Registry['getMetricsAsJSON']>>) =>
      json.map((m) => ({ ...m, values: m.values.map((v) => withoutExemplar(v as typeof v & { exemplar?: unknown })).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))) }));
    expect(sorted(await ours.getMetricsAsJSON())).toEqual(sorted(await reference.getMetricsAsJSON()));
  });

  it('starts empty and resets', async () => {
    const durations = new RequestDurations(BUCKETS);
    const registry = new Registry();
    registry.registerMetric(durations as never);
    durations.labels('GET', '/x', 200).observe(0.1);
    expect(await registry.metrics()).toContain('http_request_duration_seconds_count{method="GET",route="/x",status_code="200"} 1');
    registry.resetMetrics();
    expect(await registry.metrics()).not.toContain('_count');
  });
});
