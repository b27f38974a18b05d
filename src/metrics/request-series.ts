import type client from 'prom-client';

/**
 * One label set's request histogram and counter, updated with plain arithmetic. prom-client's
 * `labels(...).observe()` and `.inc()` validate and hash the label object on every call, a
 * labelled child included; this keeps a reference to the series prom-client itself exports and
 * adds to it, so the exposition (and the primary's aggregation) stay prom-client's own.
 */
export interface RequestSeries {
  observe(seconds: number): void;
}

// prom-client's per-series state (lib/histogram.js, lib/counter.js; pinned version). A test
// compares what these series export with prom-client's own observe(), so an upgrade that
// changes them fails there rather than in production.
interface HistogramEntry {
  labels: object;
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}
interface CounterEntry {
  labels: object;
  value: number;
}
interface WithHashMap<E> {
  hashMap: Record<string, E>;
}

function entryOf<E extends { labels: object }>(metric: WithHashMap<E>, labels: object): E {
  const entry = Object.values(metric.hashMap).find((e) => e.labels === labels);
  if (!entry) throw new Error('prom-client did not keep the series under the labels it was given');
  return entry;
}

export function requestSeries(
  histogram: client.Histogram<string>,
  counter: client.Counter<string>,
  labels: Record<string, string | number>,
): RequestSeries {
  // Creates both series with zero values under this very labels object, then finds them.
  histogram.zero(labels);
  counter.inc(labels, 0);
  const h = entryOf(histogram as unknown as WithHashMap<HistogramEntry>, labels);
  const c = entryOf(counter as unknown as WithHashMap<CounterEntry>, labels);
  const bounds = (histogram as unknown as { upperBounds: readonly number[] }).upperBounds;
  return {
    observe(seconds: number): void {
      h.sum += seconds;
      h.count += 1;
      c.value += 1;
      // Per-bucket counts, as prom-client keeps them (it makes them cumulative when exporting);
      // above the last bound only the count grows (+Inf).
      for (let i = 0; i < bounds.length; i++) {
        const bound = bounds[i] as number;
        if (seconds <= bound) {
          h.bucketValues[bound] = (h.bucketValues[bound] as number) + 1;
          return;
        }
      }
    },
  };
}
