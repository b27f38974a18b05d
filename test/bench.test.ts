import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compare, cpuPercent, DEFAULT_TOLERANCE, median, percentile } from '../bench/lib/stats.ts';

describe('bench statistics', () => {
  it('computes nearest-rank percentiles of unsorted samples', () => {
    const samples = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    assert.equal(percentile(samples, 50), 5);
    assert.equal(percentile(samples, 90), 9);
    assert.equal(percentile(samples, 99), 10);
    assert.equal(percentile(samples, 0), 1);
    assert.equal(percentile(samples, 100), 10);
    assert.equal(percentile([], 50), undefined);
    assert.equal(median([3, 1, 2]), 2);
    assert.throws(() => percentile(samples, 101), RangeError);
  });

  it('turns /proc ticks into CPU percent of one core', () => {
    assert.equal(cpuPercent(100, 150, 1), 50);
    assert.equal(cpuPercent(0, 0, 0), 0);
  });
});

describe('the regression decision', () => {
  const calibration = { baselineRps: 100_000, currentRps: 100_000 };

  it('passes a run equal to its baseline', () => {
    const c = compare('stats', { rps: 20_000, p99Ms: 10 }, { rps: 20_000, p99Ms: 10 }, calibration);
    assert.equal(c.regressed, false);
    assert.equal(c.rpsRatio, 1);
  });

  it('fails a scenario deliberately slowed beyond 10 % throughput', () => {
    const c = compare('stats', { rps: 20_000, p99Ms: 10 }, { rps: 17_000, p99Ms: 10 }, calibration);
    assert.equal(c.regressed, true);
    assert.match(c.reasons[0] ?? '', /throughput 85\.0 %/);
  });

  it('fails a p99 more than 20 % above baseline, but not a rise under the millisecond floor', () => {
    const slow = compare('blocks', { rps: 5_000, p99Ms: 20 }, { rps: 5_000, p99Ms: 30 }, calibration);
    assert.equal(slow.regressed, true);
    assert.match(slow.reasons[0] ?? '', /p99 150\.0 %/);
    const noise = compare('health', { rps: 30_000, p99Ms: 1 }, { rps: 30_000, p99Ms: 2 }, calibration);
    assert.equal(noise.regressed, false);
  });

  it('normalises by the calibration server, so a slower machine is not a regression', () => {
    // Everything, calibration included, runs at 60 % speed on this machine.
    const c = compare(
      'stats',
      { rps: 20_000, p99Ms: 10 },
      { rps: 12_000, p99Ms: 16 },
      { baselineRps: 100_000, currentRps: 60_000 },
    );
    assert.equal(c.regressed, false);
    assert.ok(Math.abs(c.rpsRatio - 1) < 1e-9);
    // …while the same numbers on an equally fast machine are one.
    assert.equal(
      compare('stats', { rps: 20_000, p99Ms: 10 }, { rps: 12_000, p99Ms: 16 }, calibration).regressed,
      true,
    );
  });
});

describe('the regression decision on the same machine', () => {
  it('compares numbers as measured while the calibration stays within the band', () => {
    // The calibration ran 10 % faster this time: noise, not a faster machine.
    const calibration = { baselineRps: 100_000, currentRps: 110_000 };
    assert.equal(
      compare('stats', { rps: 20_000, p99Ms: 10 }, { rps: 20_000, p99Ms: 10 }, calibration).regressed,
      false,
    );
    const slowed = compare('stats', { rps: 20_000, p99Ms: 10 }, { rps: 17_600, p99Ms: 10 }, calibration);
    assert.equal(slowed.regressed, true);
    assert.match(slowed.reasons[0] ?? '', /throughput 88\.0 %/);
  });

  it("honours a scenario's own wider tolerance", () => {
    const calibration = { baselineRps: 100_000, currentRps: 100_000 };
    const login = compare('login', { rps: 200, p99Ms: 160 }, { rps: 165, p99Ms: 190 }, calibration, {
      ...DEFAULT_TOLERANCE,
      rps: 0.25,
      p99: 0.4,
    });
    assert.equal(login.regressed, false);
  });
});

describe('the README performance section', () => {
  it('is generated from a baseline, with the seeds targets beside the measured values', async () => {
    const { performanceSection } = await import('../bench/readme-table.ts');
    const md = performanceSection({
      meta: { date: '2026-11-23T20:00:00Z', cores: 2, cpu: 'Test CPU', node: 'v26.10.0', quick: false },
      once: {
        startupMs: 731,
        idleCpuPercent: 0.3,
        idleRssBytes: { primary: 60 * 1024 * 1024, 'ferrite-worker-1': 90 * 1024 * 1024 },
        installBytes: 120 * 1024 * 1024,
      },
      calibration: { rps: 80_000, latencyMs: { p50: 0, p99: 3 } },
      scenarios: { stats: { rps: 16_000, latencyMs: { p50: 3, p99: 11 } } },
    });
    assert.match(md, /\| Startup \| 2–5 s \(seeds' report\) \| < 100 ms \| 731 ms/);
    assert.match(md, /\| CPU \(idle\) \|.*\| 0\.3 % of one core/);
    assert.match(md, /primary 60 MB, each worker 90 MB/);
    assert.match(md, /\| `stats` \| 16000 \| 3 \| 11 \| 0\.20 \|/);
  });
});

describe('the README performance section, with a compare record', () => {
  it('fills the "Node before (measured)" column from bench:compare and adds the gateway and connection rows', async () => {
    const { performanceSection } = await import('../bench/readme-table.ts');
    const md = performanceSection(
      {
        meta: { date: '2026-11-26T10:00:00Z', cores: 2, cpu: 'Test CPU', node: 'v26.10.0', quick: false },
        once: {
          startupMs: 600,
          idleCpuPercent: 0.4,
          idleRssBytes: { primary: 50 * 1024 * 1024, 'ferrite-worker-1': 80 * 1024 * 1024 },
          installBytes: 200 * 1024 * 1024,
        },
        calibration: { rps: 80_000, latencyMs: { p50: 0, p99: 3 } },
        scenarios: { 'task-proxy': { rps: 9_000, latencyMs: { p50: 22, p99: 41 } } },
        extra: {
          connections: {
            wanted: 10_000,
            held: 10_000,
            workerRssGrowthMB: 200,
            healthWhileHeld: { rps: 20_000, p50: 1, p99: 3 },
          },
        },
      },
      { date: '2026-11-26', before: { startupMs: 170, idleRssMb: 90 } },
    );
    assert.match(md, /\| Memory \| 90 MB RSS idle, one process/);
    assert.match(md, /\| Startup \| 170 ms \(`before` peer/);
    assert.match(md, /\| Proxied p99 \(seed 002\) \| n\/a \| < 100 ms \| `task-proxy` p99 41 ms/);
    assert.match(md, /\| Connections \|.*\| 10,000 held, \+200 MB \|/);
    assert.match(md, /10,000 of 10,000 idle keep-alive connections held/);
  });
});

describe('counting unexpected responses', () => {
  it('accepts the statuses a scenario expects, 304 included, and counts every other one', async () => {
    const { unexpectedResponses } = await import('../bench/lib/load.ts');
    const base = {
      rps: 1,
      latencyMs: { p50: 1, p90: 1, p99: 1, p999: 1, max: 1 },
      requests: 110,
      errors: 0,
      timeouts: 0,
      bytesPerSec: 1,
    };
    const revalidated = { ...base, non2xx: 100, statuses: { '304': 100 } };
    assert.equal(unexpectedResponses(revalidated, [304]), 0);
    assert.equal(unexpectedResponses(revalidated, [200]), 100);
    const mixed = { ...base, errors: 2, non2xx: 10, statuses: { '200': 100, '500': 10 } };
    assert.equal(unexpectedResponses(mixed, [200]), 12);
    // h2load reports classes only: every non-2xx counts.
    assert.equal(unexpectedResponses({ ...base, non2xx: 3 }, [200]), 3);
  });
});

describe('CPU profile summaries', () => {
  it('attributes self time to packages and project directories, leaving idle out of the shares', async () => {
    const { summarise, ownerOf } = await import('../bench/lib/cpuprofile.ts');
    const root = '/srv/app';
    assert.equal(ownerOf('file:///srv/app/node_modules/@scope/pkg/lib/x.js', root), '@scope/pkg');
    assert.equal(ownerOf('file:///srv/app/node_modules/express/lib/router.js', root), 'express');
    assert.equal(ownerOf('file:///srv/app/src/http/context.ts', root), 'src/http');
    assert.equal(ownerOf('node:internal/http', root), 'node core');
    assert.equal(ownerOf('', root), '(native/V8)');
    const frame = (id: number, functionName: string, url: string, children: number[] = []) => ({
      id,
      callFrame: { functionName, url, lineNumber: 0 },
      children,
    });
    const s = summarise(
      {
        nodes: [
          frame(1, '(root)', '', [2, 3, 4]),
          frame(2, '(idle)', ''),
          frame(3, 'handle', 'file:///srv/app/node_modules/express/lib/application.js'),
          frame(4, 'requestContext', 'file:///srv/app/src/http/context.ts'),
        ],
        samples: [2, 2, 3, 4, 4, 4],
        timeDeltas: [10, 10, 10, 10, 10, 10],
      },
      root,
    );
    assert.equal(Math.round(s.idlePercent), 33);
    assert.deepEqual(
      s.owners.map((o) => [o.name, Math.round(o.percent)]),
      [
        ['src/http', 75],
        ['express', 25],
      ],
    );
  });
});

describe('the median of repeated runs', () => {
  it('takes each number from the middle run and sums errors and statuses', async () => {
    const { medianResult } = await import('../bench/lib/load.ts');
    const run = (rps: number, p99: number, errors = 0) => ({
      rps,
      latencyMs: { p50: p99 / 4, p90: p99 / 2, p99, p999: p99 * 2, max: p99 * 3 },
      requests: rps,
      errors,
      timeouts: 0,
      non2xx: 0,
      bytesPerSec: rps * 100,
      statuses: { '200': rps },
    });
    const m = medianResult([run(30_000, 9), run(25_000, 20, 1), run(33_000, 6)]);
    assert.equal(m.rps, 30_000);
    assert.equal(m.latencyMs.p99, 9);
    assert.equal(m.latencyMs.max, 60);
    assert.equal(m.errors, 1);
    assert.deepEqual(m.statuses, { '200': 88_000 });
    assert.throws(() => medianResult([]), RangeError);
  });
});
