import type pg from 'pg';
import client from 'prom-client';
import { type Channel, METRICS_REQUEST, METRICS_RESPONSE } from '../ipc.ts';
import { collectDefaultMetrics } from './event-loop.ts';
import { type RequestSeries, requestSeries } from './request-series.ts';

/**
 * The serving side's metrics, all in prom-client's global registry and labelled with the worker
 * id. With a `primary` channel (the cluster), the primary scrapes them over IPC and aggregates
 * all workers; without one (single process), `registry` is served as it is.
 */
export function setupWorkerMetrics(workerId: string, primary?: Channel) {
  const registry = client.register;
  registry.setDefaultLabels({ worker: workerId });
  // The event-loop delay monitor wakes each worker every `precision` ms. At 20 ms that was most of
  // an idle cluster's CPU (1.03 % of a core over 30 s vs 0.37-0.44 % at 100 ms, `npm run bench`
  // idle measurement); a stall still shows when it delays a sample, so long stalls are seen.
  collectDefaultMetrics(registry, 100);

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

  const requestChildren = new Map<string, RequestSeries>();

  // The gateway's (#6), under the names the seed's dashboards use.
  const upstreamRequests = new client.Counter({
    name: 'router_upstream_requests_total',
    help: 'Requests sent to upstreams (each retry counts) and requests refused by an open breaker',
    labelNames: ['upstream', 'method', 'status_class', 'outcome'] as const,
  });
  const upstreamDuration = new client.Histogram({
    name: 'router_upstream_request_duration_seconds',
    help: "From sending a request upstream to the end of the upstream's response body",
    labelNames: ['upstream', 'method', 'outcome'] as const,
    buckets: [0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  });
  const upstreamRetries = new client.Counter({
    name: 'router_upstream_retries_total',
    help: 'Retries sent to upstreams, by what the failed attempt met',
    labelNames: ['upstream', 'reason'] as const,
  });
  const shadowResults = new client.Counter({
    name: 'router_shadow_requests_total',
    help: 'Sampled requests mirrored to the shadow, by result (match, diff, dropped, failed, skipped)',
    labelNames: ['route', 'result'] as const,
  });
  const contractBreaches = new client.Counter({
    name: 'router_contract_breaches_total',
    help: "Sampled answers that break the existing service's OpenAPI document (LEGACY_OPENAPI_FILE), by who answered (ferrite: the client's answer; shadow)",
    labelNames: ['route', 'answer'] as const,
  });
  const shadowDiffs = new client.Counter({
    name: 'router_shadow_diffs_total',
    help: 'Shadow answers whose status or JSON body differed from the response the client got',
    labelNames: ['route'] as const,
  });
  const upstreamChildren = new Map<
    string,
    { total: client.Counter.Internal; duration: client.Histogram.Internal<string> }
  >();

  // The workflow engine's (#7).
  const workflowRuns = new client.Counter({
    name: 'workflow_runs_finished_total',
    help: 'Workflow runs finished by this worker (executed here, or failed by its sweeper), by status',
    labelNames: ['status'] as const,
  });
  const workflowSteps = new client.Histogram({
    name: 'workflow_step_duration_seconds',
    help: 'Workflow steps executed by this worker, from start to finish, by tool and status',
    labelNames: ['tool', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
  });

  // Answers the primary's scrape over IPC; the primary aggregates all workers.
  primary?.onMessage((msg) => {
    if (msg.type !== METRICS_REQUEST) return;
    registry
      .getMetricsAsJSON()
      .then((metrics) => primary.send({ type: METRICS_RESPONSE, id: msg.id, metrics }))
      .catch(() => primary.send({ type: METRICS_RESPONSE, id: msg.id, metrics: [] }));
  });

  return {
    registry,
    /** Positional, not a labels object: called once per request. */
    observeRequest(method: string, route: string, status: number, protocol: string, seconds: number) {
      // One series per label set, a few hundred at most: routes are patterns, never raw URLs.
      const key = `${method} ${route} ${status} ${protocol}`;
      let series = requestChildren.get(key);
      if (!series) {
        series = requestSeries(requestDuration, requestsTotal, {
          method,
          route,
          status_code: status,
          protocol,
        });
        requestChildren.set(key, series);
      }
      series.observe(seconds);
    },
    observeUpstream(
      labels: { upstream: string; method: string; status_class: string; outcome: string },
      seconds: number,
    ) {
      // Cached children, as for observeRequest: a few label sets per upstream.
      const key = `${labels.upstream} ${labels.method} ${labels.status_class} ${labels.outcome}`;
      let child = upstreamChildren.get(key);
      if (!child) {
        const { upstream, method, outcome } = labels;
        child = {
          total: upstreamRequests.labels(labels),
          duration: upstreamDuration.labels({ upstream, method, outcome }),
        };
        upstreamChildren.set(key, child);
      }
      child.total.inc();
      if (seconds >= 0) child.duration.observe(seconds);
    },
    upstreamRetry(upstream: string, reason: string) {
      upstreamRetries.inc({ upstream, reason });
    },
    contractBreach(route: string, answer: 'ferrite' | 'shadow') {
      contractBreaches.inc({ route, answer });
    },
    shadowResult(route: string, result: 'match' | 'diff' | 'dropped' | 'failed' | 'skipped') {
      shadowResults.inc({ route, result });
      if (result === 'diff') shadowDiffs.inc({ route });
    },
    /** Breaker states as numbers: 0 closed, 1 half-open, 2 open (gobreaker's numbering). */
    trackBreakers(read: () => Iterable<[upstream: string, state: number]>) {
      new client.Gauge({
        name: 'router_circuit_breaker_state',
        help: 'Circuit breaker per upstream: 0 closed, 1 half-open, 2 open',
        labelNames: ['upstream'] as const,
        collect() {
          for (const [upstream, state] of read()) this.set({ upstream }, state);
        },
      });
    },
    workflowRunFinished(status: string) {
      workflowRuns.inc({ status });
    },
    observeWorkflowStep(tool: string, status: string, seconds: number) {
      workflowSteps.observe({ tool, status }, seconds);
    },
    /** Runs and steps executing on this worker now, and steps waiting for a worker slot. */
    trackWorkflows(read: () => { runs: number; steps: number; waiting: number }) {
      new client.Gauge({
        name: 'workflow_active',
        help: 'Workflow runs executing on this worker, their running steps, and steps waiting for a slot',
        labelNames: ['what'] as const,
        collect() {
          const now = read();
          this.set({ what: 'runs' }, now.runs);
          this.set({ what: 'steps' }, now.steps);
          this.set({ what: 'waiting' }, now.waiting);
        },
      });
    },
    /**
     * The cut-over's series (issue 15), created only with a ROUTES_FILE: requests per route,
     * target and status class with their durations, automatic rollbacks, and each route's state
     * (0: the file's rule, 1: rolled back to the legacy service, 2: promoted to ferrite).
     */
    trackCutover(read: () => Iterable<[route: string, state: number]>) {
      const requests = new client.Counter({
        name: 'router_split_requests_total',
        help: 'Requests on cut-over routes by the target that served them and status class',
        labelNames: ['route', 'target', 'status_class'] as const,
      });
      const duration = new client.Histogram({
        name: 'router_split_request_duration_seconds',
        help: 'Time to answer requests on cut-over routes, by target',
        labelNames: ['route', 'target'] as const,
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      });
      const rollbacks = new client.Counter({
        name: 'router_split_rollbacks_total',
        help: 'Canary routes this worker rolled back to the legacy service on a budget breach',
        labelNames: ['route'] as const,
      });
      new client.Gauge({
        name: 'router_split_route_state',
        help: "Cut-over route state: 0 the file's rule, 1 rolled back to legacy, 2 promoted to ferrite",
        labelNames: ['route'] as const,
        collect() {
          for (const [route, state] of read()) this.set({ route }, state);
        },
      });
      return {
        observe(route: string, target: string, status: number, seconds: number) {
          requests.inc({ route, target, status_class: `${Math.floor(status / 100)}xx` });
          duration.observe({ route, target }, seconds);
        },
        rolledBack(route: string) {
          rollbacks.inc({ route });
        },
      };
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
