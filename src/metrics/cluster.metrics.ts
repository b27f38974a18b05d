import type { Worker } from 'node:cluster';
import client, { AggregatorRegistry, type Registry } from 'prom-client';
import { METRICS_REQUEST, METRICS_RESPONSE } from '../ipc.ts';
import { collectDefaultMetrics } from './event-loop.ts';

const SCRAPE_TIMEOUT_MS = 2000;

type metric = Awaited<ReturnType<Registry['getMetricsAsJSON']>>[number];

/**
 * The primary's side of /metrics: its own series (restarts, workers) plus every worker's,
 * collected over IPC and merged with prom-client's aggregator. A worker that does not answer
 * in time is left out of that scrape rather than failing it. The primary loads this (and
 * prom-client) on the first scrape, not before: an unscraped primary stays small.
 */
export function createClusterMetrics(workers: () => Worker[], restarts: () => ReadonlyMap<string, number>) {
  const registry = new client.Registry();
  registry.setDefaultLabels({ worker: 'primary' });
  // As the workers do: prom-client's own event-loop monitor samples every 10 ms, which was most
  // of an idle primary's CPU (0.52 % of a core over 60 s, `npm run bench -- footprint`).
  collectDefaultMetrics(registry, 100);
  new client.Counter({
    name: 'ferrite_worker_restarts_total',
    help: 'Workers started to replace one that exited, by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, count] of restarts()) this.inc({ reason }, count);
    },
  });
  new client.Gauge({
    name: 'ferrite_workers',
    help: 'Worker processes alive',
    registers: [registry],
    collect() {
      this.set(workers().length);
    },
  });

  let nextId = 0;
  function scrapeWorker(worker: Worker): Promise<metric[]> {
    const id = ++nextId;
    return new Promise((resolve) => {
      const timer = setTimeout(done, SCRAPE_TIMEOUT_MS, []);
      function onMessage(msg: { type?: string; id?: number; metrics?: metric[] }) {
        if (msg?.type === METRICS_RESPONSE && msg.id === id) done(msg.metrics ?? []);
      }
      function done(metrics: metric[]) {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('exit', onExit);
        resolve(metrics);
      }
      const onExit = () => done([]);
      worker.on('message', onMessage);
      worker.once('exit', onExit);
      try {
        worker.send({ type: METRICS_REQUEST, id });
      } catch {
        done([]);
      }
    });
  }

  async function render(): Promise<{ body: string; contentType: string }> {
    const live = workers().filter((w) => w.isConnected());
    const perWorker = await Promise.all(live.map(scrapeWorker));
    const own = await registry.getMetricsAsJSON();
    const body = await AggregatorRegistry.aggregate([own, ...perWorker]).metrics();
    return { body, contentType: registry.contentType };
  }

  return { render };
}
