import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import client from 'prom-client';
import { requestSeries } from '../src/metrics/request-series.ts';

function metrics(registry: client.Registry) {
  const labelNames = ['method', 'route', 'status_code', 'protocol'] as const;
  return {
    histogram: new client.Histogram({
      name: 'http_request_duration_seconds',
      help: 'h',
      labelNames,
      buckets: [0.001, 0.01, 0.1, 1],
      registers: [registry],
    }),
    counter: new client.Counter({
      name: 'http_requests_total',
      help: 'c',
      labelNames,
      registers: [registry],
    }),
  };
}

describe('request series', () => {
  it("exports exactly what prom-client's own observe and inc export", async () => {
    const ours = new client.Registry();
    const theirs = new client.Registry();
    const a = metrics(ours);
    const b = metrics(theirs);
    const sets = [
      { method: 'GET', route: '/api/health', status_code: 200, protocol: 'http/1.1' },
      { method: 'POST', route: '/api/projects', status_code: 400, protocol: 'h2' },
    ];
    // Inside, on and between the bounds, and past the last one (+Inf only).
    const values = [0, 0.0005, 0.001, 0.002, 0.01, 0.05, 0.1, 0.99, 1, 1.5, 30];
    for (const labels of sets) {
      const series = requestSeries(a.histogram, a.counter, { ...labels });
      for (const v of values) {
        series.observe(v);
        b.histogram.labels(labels).observe(v);
        b.counter.labels(labels).inc();
      }
    }
    assert.equal(await ours.metrics(), await theirs.metrics());
    assert.deepEqual(await ours.getMetricsAsJSON(), await theirs.getMetricsAsJSON());
  });
});
