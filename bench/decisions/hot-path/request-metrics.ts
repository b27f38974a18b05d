// One request's metrics: prom-client's cached labelled children (observe + inc) against the
// request series (src/metrics/request-series.ts), same labels and buckets, one process:
// `node bench/decisions/hot-path/request-metrics.ts`.
import client from 'prom-client';
import { requestSeries } from '../../../src/metrics/request-series.ts';

const labelNames = ['method', 'route', 'status_code', 'protocol'] as const;
const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const registry = new client.Registry();
const make = (suffix: string) => ({
  h: new client.Histogram({ name: `h${suffix}`, help: 'h', labelNames, buckets, registers: [registry] }),
  c: new client.Counter({ name: `c${suffix}`, help: 'c', labelNames, registers: [registry] }),
});
const labels = { method: 'GET', route: '/api/health', status_code: 200, protocol: 'http/1.1' };
const a = make('a');
const children = { d: a.h.labels(labels), t: a.c.labels(labels) };
const b = make('b');
const series = requestSeries(b.h, b.c, { ...labels });

const n = 1_000_000;
const nsPer = (f: (v: number) => void) => {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) f((i % 100) / 10_000);
  return Number(process.hrtime.bigint() - t0) / n;
};
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? Number.NaN;
const before: number[] = [];
const after: number[] = [];
for (let k = 0; k < 5; k++) {
  before.push(
    nsPer((v) => {
      children.d.observe(v);
      children.t.inc();
    }),
  );
  after.push(nsPer((v) => series.observe(v)));
}
console.log(`prom-client children: ${median(before).toFixed(0)} ns; request series: ${median(after).toFixed(0)} ns`);
