import { createRequire } from 'node:module';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import client from 'prom-client';

const require = createRequire(import.meta.url);

// prom-client's default metrics, taken one by one so that its event-loop-lag collector can be
// left out (below). The module layout is prom-client's own (`lib/metrics/<name>.js`).
type DefaultMetric = (registry: client.Registry, config: object) => void;

/**
 * prom-client's default metrics, with `nodejs_eventloop_lag_*` measuring lag. Its own collector
 * reports what `monitorEventLoopDelay` records: the time between two of its timer's firings,
 * which is the sampling interval plus the lag, so an idle worker sampled every 100 ms showed a
 * p50 "lag" of ~100 ms (issue 12). Here the interval is taken off each statistic.
 */
export function collectDefaultMetrics(registry: client.Registry, resolutionMs: number): void {
  for (const name of client.collectDefaultMetrics.metricsList) {
    if (name === 'eventLoopLag') continue;
    (require(`prom-client/lib/metrics/${name}.js`) as DefaultMetric)(registry, {});
  }
  eventLoopLag(registry, resolutionMs);
}

function eventLoopLag(registry: client.Registry, resolutionMs: number): void {
  const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  histogram.enable();
  const interval = resolutionMs * 1e6;
  // Nanoseconds recorded → seconds of lag; an empty histogram (no firing since the last scrape)
  // reports NaN min/max, which is no lag to report.
  const lag = (ns: number) => (Number.isFinite(ns) ? Math.max(0, ns - interval) / 1e9 : 0);
  const gauge = (suffix: string, help: string, aggregator: 'min' | 'max' | 'average') =>
    new client.Gauge({
      name: `nodejs_eventloop_lag_${suffix}seconds`,
      help,
      registers: [registry],
      aggregator,
    });

  const now = gauge('', 'Lag of the event loop: how late a setImmediate ran at the last scrape.', 'average');
  const min = gauge('min_', 'The minimum event-loop lag since the last scrape.', 'min');
  const max = gauge('max_', 'The maximum event-loop lag since the last scrape.', 'max');
  const mean = gauge('mean_', 'The mean event-loop lag since the last scrape.', 'average');
  const stddev = gauge(
    'stddev_',
    'The standard deviation of the event-loop delays since the last scrape.',
    'average',
  );
  const p50 = gauge('p50_', 'The 50th percentile of the event-loop lag since the last scrape.', 'average');
  const p90 = gauge('p90_', 'The 90th percentile of the event-loop lag since the last scrape.', 'average');
  const p99 = gauge('p99_', 'The 99th percentile of the event-loop lag since the last scrape.', 'average');

  // One collect sets them all, at scrape time, then starts a fresh window.
  Object.assign(now, {
    collect() {
      const start = process.hrtime.bigint();
      setImmediate(() => now.set(Number(process.hrtime.bigint() - start) / 1e9));
      min.set(lag(histogram.min));
      max.set(lag(histogram.max));
      mean.set(lag(histogram.mean));
      stddev.set(histogram.count > 0 ? histogram.stddev / 1e9 : 0);
      p50.set(lag(histogram.percentile(50)));
      p90.set(lag(histogram.percentile(90)));
      p99.set(lag(histogram.percentile(99)));
      histogram.reset();
    },
  });
}
