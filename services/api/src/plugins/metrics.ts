import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { sql, type Kysely } from 'kysely';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';

export interface Metrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  eventsAppended: Counter<'type'>;
  commands: Counter<'command' | 'outcome'>;
  writeBatchSize: Histogram<never>;
  writeBatches: Counter<'path'>;
}

/**
 * One registry per app (tests build many apps in one process). Projection lag is
 * computed on scrape: claim events in the log minus events folded into the claims
 * projection. The projection is written in the append's transaction, so anything but 0
 * means events were written around the service (or a rebuild is due).
 */
export function createMetrics(db: Kysely<any>): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'claimtrail_' });
  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route template and status',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const eventsAppended = new Counter({
    name: 'claimtrail_events_appended_total',
    help: 'Events appended through the command pipeline, by event type',
    labelNames: ['type'] as const,
    registers: [registry],
  });
  const commands = new Counter({
    name: 'claimtrail_commands_total',
    help: 'Commands handled, by command type and outcome (ok, replayed, or the refusal code)',
    labelNames: ['command', 'outcome'] as const,
    registers: [registry],
  });
  const writeBatchSize = new Histogram({
    name: 'claimtrail_write_batch_size',
    help: 'Commands written per transaction by the group commit (1 = alone)',
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers: [registry],
  });
  const writeBatches = new Counter({
    name: 'claimtrail_write_batches_total',
    help: 'Group-commit transactions by path: one_flight (decided on cached states, one round trip), read_first (locked rows read first), failed',
    labelNames: ['path'],
    registers: [registry],
  });
  new Gauge({
    name: 'claimtrail_projection_lag_events',
    help: 'Claim events not yet reflected in the claims projection',
    registers: [registry],
    async collect() {
      try {
        const result = await sql<{ lag: string }>`
          select ((select count(*) from events where stream_id like 'claim-%')
                - (select coalesce(sum(version), 0) from claims))::text as lag`.execute(db);
        this.set(Number(result.rows[0]?.lag ?? 0));
      } catch {
        this.set(-1);
      }
    },
  });
  new Gauge({
    name: 'claimtrail_events_unpositioned',
    help: 'Committed events still waiting for a global position from the sequencer',
    registers: [registry],
    async collect() {
      try {
        const result = await sql<{ n: string }>`select count(*)::text as n from events where position is null`.execute(db);
        this.set(Number(result.rows[0]?.n ?? 0));
      } catch {
        this.set(-1);
      }
    },
  });
  return { registry, httpDuration, eventsAppended, commands, writeBatchSize, writeBatches };
}

type Observer = { observe(value: number): void };

/**
 * The route template is known when the route is registered: each route gets its own
 * onResponse hook with it (no `request.routeOptions` per request, a getter that builds an
 * object), and label children are bound once per (method, status). Requests that match
 * no route are recorded by the global hook as `unmatched`. Register before any route.
 */
export function registerHttpMetrics(app: FastifyInstance, metrics: Metrics): void {
  const recorder = (route: string) => {
    const bound = new Map<string, Observer>();
    return (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
      const method = request.method;
      const status = reply.statusCode;
      const key = `${method} ${status}`;
      let observer = bound.get(key);
      if (observer === undefined) {
        // Bounded in case of odd methods; the usual set is a handful per route.
        if (bound.size >= 1000) bound.clear();
        observer = metrics.httpDuration.labels({ method, route, status_code: String(status) });
        bound.set(key, observer);
      }
      observer.observe(reply.elapsedTime / 1000);
      done();
    };
  };
  const unmatched = recorder('unmatched');
  app.addHook('onResponse', (request, reply, done) => (request.is404 ? unmatched(request, reply, done) : done()));
  app.addHook('onRoute', (route) => {
    const own = route.onResponse === undefined ? [] : Array.isArray(route.onResponse) ? route.onResponse : [route.onResponse];
    route.onResponse = [...own, recorder(route.url)] as typeof route.onResponse;
  });
}
