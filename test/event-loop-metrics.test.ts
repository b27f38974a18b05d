import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import client from 'prom-client';
import { createClusterMetrics } from '../src/metrics/cluster.metrics.ts';
import { collectDefaultMetrics } from '../src/metrics/event-loop.ts';

async function value(registry: client.Registry, name: string): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  assert.ok(metric, `${name} is registered`);
  return Number(metric.values[0]?.value);
}

describe('nodejs_eventloop_lag_*', () => {
  it('reports lag, not the sampling interval: an idle loop is near zero, a blocked one shows the block', async () => {
    const registry = new client.Registry();
    const resolutionMs = 100;
    collectDefaultMetrics(registry, resolutionMs);
    await sleep(1200);
    // Every recorded delay includes one sampling interval; reported as is, the idle median would
    // be at least the interval itself.
    const idleP50 = await value(registry, 'nodejs_eventloop_lag_p50_seconds');
    assert.ok(idleP50 < resolutionMs / 1000, `idle p50 ${idleP50}s is below the ${resolutionMs} ms interval`);

    // After a reset the monitor needs one firing before it measures again.
    await sleep(250);
    const until = Date.now() + 400;
    while (Date.now() < until) {
      // a blocked event loop
    }
    await sleep(250);
    const max = await value(registry, 'nodejs_eventloop_lag_max_seconds');
    assert.ok(max >= 0.2, `a 400 ms block shows as lag (max ${max}s)`);
  });

  it('keeps the other default metrics', async () => {
    const registry = new client.Registry();
    collectDefaultMetrics(registry, 100);
    const names = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_seconds',
    ]) {
      assert.ok(names.has(name), name);
    }
  });

  it("samples the primary's loop as the workers' are: lag, not prom-client's 10 ms interval", async () => {
    const { render } = createClusterMetrics(
      () => [],
      () => new Map(),
    );
    await sleep(1200);
    const { body: text } = await render();
    const p50 = Number(/^nodejs_eventloop_lag_p50_seconds\{worker="primary"\} (\S+)$/m.exec(text)?.[1]);
    // prom-client's own monitor fires every 10 ms and reports that interval as lag: an idle
    // primary read >= 0.010 s and woke a hundred times a second to say so.
    assert.ok(Number.isFinite(p50), 'the primary reports its event-loop lag');
    assert.ok(p50 < 0.009, `idle primary p50 ${p50}s is lag, not the sampling interval`);
  });
});
