import type pg from 'pg';
import client from 'prom-client';
import { METRICS_REQUEST, METRICS_RESPONSE } from '../ipc.ts';

/** The worker's metrics, all in prom-client's global registry and labelled with the worker id. */
export function setupWorkerMetrics(workerId: string) {
  const registry = client.register;
  registry.setDefaultLabels({ worker: workerId });
  client.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });

  const requestDuration = new client.Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from request start to response finish',
    labelNames: ['method', 'route', 'status_code', 'protocol'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });
  const requestsTotal = new client.Counter({
    name: 'http_requests_total',
    help: 'Requests answered',
    labelNames: ['method', 'route', 'status_code', 'protocol'] as const,
  });

  const requestChildren = new Map<
    string,
    { duration: client.Histogram.Internal<string>; total: client.Counter.Internal }
  >();

  // Answers the primary's scrape over IPC; the primary aggregates all workers.
  process.on('message', (msg: { type?: string; id?: number }) => {
    if (msg?.type !== METRICS_REQUEST) return;
    registry
      .getMetricsAsJSON()
      .then((metrics) => process.send?.({ type: METRICS_RESPONSE, id: msg.id, metrics }))
      .catch(() => process.send?.({ type: METRICS_RESPONSE, id: msg.id, metrics: [] }));
  });

  return {
    observeRequest(
      labels: {
        method: string;
        route: string;
        status_code: number;
        protocol: string;
      },
      seconds: number,
    ) {
      // prom-client hashes a label object on every call; the labelled children are cached per
      // label set instead (a few hundred at most: routes are patterns, never raw URLs).
      const key = `${labels.method} ${labels.route} ${labels.status_code} ${labels.protocol}`;
      let child = requestChildren.get(key);
      if (!child) {
        child = { duration: requestDuration.labels(labels), total: requestsTotal.labels(labels) };
        requestChildren.set(key, child);
      }
      child.duration.observe(seconds);
      child.total.inc();
    },
    trackPool(pool: pg.Pool) {
      new client.Gauge({
        name: 'pg_pool_connections',
        help: 'Postgres pool clients by state (waiting = queued requests for a client)',
        labelNames: ['state'] as const,
        collect() {
          this.set({ state: 'total' }, pool.totalCount);
          this.set({ state: 'idle' }, pool.idleCount);
          this.set({ state: 'waiting' }, pool.waitingCount);
        },
      });
    },
  };
}

export type WorkerMetrics = ReturnType<typeof setupWorkerMetrics>;
