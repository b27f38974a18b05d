import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compare, cpuPercent, DEFAULT_TOLERANCE, median, percentile } from '../bench/lib/stats.ts';
import { performanceSection } from '../bench/readme-table.ts';

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

type Baseline = Parameters<typeof performanceSection>[0];
const MB = 1024 * 1024;

/** A baseline recorded on a two-core test machine: its one-off measurements, scenarios and extras. */
function baseline(
  date: string,
  once: {
    startupMs: number;
    idleCpuPercent: number;
    rssMb: [primary: number, worker: number];
    installMb: number;
  },
  scenarios: Baseline['scenarios'],
  extra?: Baseline['extra'],
): Baseline {
  return {
    meta: { date, cores: 2, cpu: 'Test CPU', node: 'v26.10.0', quick: false },
    once: {
      startupMs: once.startupMs,
      idleCpuPercent: once.idleCpuPercent,
      idleRssBytes: { primary: once.rssMb[0] * MB, 'ferrite-worker-1': once.rssMb[1] * MB },
      installBytes: once.installMb * MB,
    },
    calibration: { rps: 80_000, latencyMs: { p50: 0, p99: 3 } },
    scenarios,
    ...(extra ? { extra } : {}),
  };
}

const STATS_BASELINE = baseline(
  '2026-11-23T20:00:00Z',
  { startupMs: 731, idleCpuPercent: 0.3, rssMb: [60, 90], installMb: 120 },
  { stats: { rps: 16_000, latencyMs: { p50: 3, p99: 11 } } },
);
const PROXY_BASELINE = baseline(
  '2026-11-26T10:00:00Z',
  { startupMs: 600, idleCpuPercent: 0.4, rssMb: [50, 80], installMb: 200 },
  { 'task-proxy': { rps: 9_000, latencyMs: { p50: 22, p99: 41 } } },
  {
    connections: {
      wanted: 10_000,
      held: 10_000,
      workerRssGrowthMB: 200,
      healthWhileHeld: { rps: 20_000, p50: 1, p99: 3 },
    },
  },
);

describe("docs/performance.md: the seeds' targets table", () => {
  it('is generated from a baseline, with the seeds targets beside the measured values', async () => {
    const md = performanceSection(STATS_BASELINE);
    assert.match(md, /\| Startup \| 2–5 s \(seeds' report\) \| < 100 ms \| 731 ms/);
    assert.match(md, /\| CPU \(idle\) \|.*\| 0\.3 % of one core/);
    assert.match(md, /primary 60 MB, each worker 90 MB/);
    assert.match(md, /\| `stats` \| 16000 \| 3 \| 11 \| 0\.20 \|/);
  });
});

describe("docs/performance.md: the seeds' targets table, with a compare record", () => {
  it('fills the "Node before (measured)" column from bench:compare and adds the gateway and connection rows', async () => {
    const md = performanceSection(PROXY_BASELINE, {
      date: '2026-11-26',
      before: { startupMs: 170, idleRssMb: 90 },
    });
    assert.match(md, /\| Memory \| 90 MB RSS idle, one process/);
    assert.match(md, /\| Startup \| 170 ms \(`before` peer/);
    assert.match(md, /\| Proxied p99 \(seed 002\) \| n\/a \| < 100 ms \| `task-proxy` p99 41 ms/);
    assert.match(md, /\| Connections \|.*\| 10,000 held, \+200 MB \|/);
    assert.match(md, /10,000 of 10,000 idle keep-alive connections held/);
  });
});

/** A load run of `requests` requests without errors; only the counts matter below. */
const loadResult = (requests: number) => ({
  rps: 1,
  latencyMs: { p50: 1, p90: 1, p99: 1, p999: 1, max: 1 },
  requests,
  errors: 0,
  timeouts: 0,
  bytesPerSec: 1,
});

describe('counting unexpected responses', () => {
  it('accepts the statuses a scenario expects, 304 included, and counts every other one', async () => {
    const { unexpectedResponses } = await import('../bench/lib/load.ts');
    const base = loadResult(110);
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

describe('the wrk report parser', () => {
  const report = (latencyLines: string, tail: string) => `Running 5s test @ http://127.0.0.1:8080/api/health
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
${latencyLines}
    Req/Sec    62.34k     3.21k   68.00k    80.00%
  Latency Distribution
     50%  812.00us
     75%    1.12ms
     90%    1.40ms
     99%    2.51s
  311234 requests in 5.00s, 45.67MB read
${tail}Requests/sec:  62246.80
Transfer/sec:      9.13MB
`;

  it('reads req/s, latency percentiles in us/ms/s, bytes and a clean run', async () => {
    const { parseWrk, wrkTimeMs, wrkBytes } = await import('../bench/lib/wrk.ts');
    const r = parseWrk(report('    Latency     1.02ms  345.12us   1.05m    89.12%', ''));
    assert.equal(r.rps, 62246.8);
    assert.equal(r.requests, 311234);
    assert.deepEqual(r.latencyMs, { p50: 0.812, p90: 1.4, p99: 2510, p999: 63000, max: 63000 });
    assert.equal(r.errors, 0);
    assert.equal(r.timeouts, 0);
    assert.equal(r.non2xx, 0);
    assert.equal(r.bytesPerSec, 9.13 * 1024 * 1024);
    assert.equal(r.statuses, undefined);
    assert.equal(wrkTimeMs('250.00us'), 0.25);
    assert.equal(wrkTimeMs('3.00s'), 3000);
    assert.equal(wrkBytes('512.00B'), 512);
    assert.equal(wrkBytes('1.50KB'), 1536);
    assert.throws(() => wrkTimeMs('12 parsecs'));
  });

  it('reads socket errors, timeouts, non-2xx/3xx counts and the done() hook lines', async () => {
    const { parseWrk } = await import('../bench/lib/wrk.ts');
    const r = parseWrk(
      `${report(
        '    Latency     1.02ms  345.12us  12.34ms   89.12%',
        '  Socket errors: connect 3, read 5, write 7, timeout 11\n  Non-2xx or 3xx responses: 4242\n',
      )}p99.9 4567\nstatus 404 300000\nstatus 500 11234\n`,
    );
    assert.equal(r.errors, 15);
    assert.equal(r.timeouts, 11);
    assert.equal(r.non2xx, 4242);
    assert.equal(r.latencyMs.p999, 4.567);
    assert.equal(r.latencyMs.max, 12.34);
    assert.deepEqual(r.statuses, { '404': 300000, '500': 11234 });
  });

  it('refuses output without a report', async () => {
    const { parseWrk } = await import('../bench/lib/wrk.ts');
    assert.throws(() => parseWrk('unable to connect to 127.0.0.1:1 Connection refused\n'), /Requests\/sec/);
  });

  it('counts what a scenario did not expect: exact statuses when counted, else the class', async () => {
    const { wrkUnexpected } = await import('../bench/lib/wrk.ts');
    const base = { ...loadResult(1000), non2xx: 0 };
    // wrk's own count is of answers >= 400: all of them for a 404 or 401 scenario…
    assert.equal(wrkUnexpected({ ...base, non2xx: 1000 }, [404]), 0);
    assert.equal(wrkUnexpected({ ...base, non2xx: 990 }, [401]), 10);
    // …none for 200 or 304; socket errors and timeouts always count.
    assert.equal(wrkUnexpected({ ...base, non2xx: 0 }, [304]), 0);
    assert.equal(wrkUnexpected({ ...base, non2xx: 5, errors: 2, timeouts: 1 }, [200]), 8);
    // A counting run tells 404 from 500 and 304 from 200.
    assert.equal(wrkUnexpected({ ...base, non2xx: 1000, statuses: { '404': 990, '500': 10 } }, [404]), 10);
    assert.equal(wrkUnexpected({ ...base, statuses: { '304': 900, '200': 100 } }, [304]), 100);
  });
});

describe('the compare table', () => {
  it('renders medians, p99 and the ferrite ÷ Go and ferrite ÷ express ratios from a record', async () => {
    const { compareSection, isCompareRecord } = await import('../bench/lib/compare-table.ts');
    const cell = (rps: number, p99: number) => ({
      median: {
        rps,
        latencyMs: { p50: 1, p90: 2, p99, p999: p99, max: p99 },
        requests: rps * 5,
        errors: 0,
        timeouts: 0,
        non2xx: 0,
        bytesPerSec: 1,
      },
      runsRps: [rps, rps, rps],
    });
    const record = {
      format: 2 as const,
      date: '2026-12-01',
      cores: 2,
      node: 'v26.10.0',
      load: { http1: 'wrk -t1 -c64 -d5s --latency', h2: 'h2load -D 5 -c10 -m10', runs: 3 },
      before: {},
      peers: [
        { id: 'ferrite', label: 'ferrite' },
        { id: 'express', label: 'express' },
        { id: 'go', label: 'Go' },
        { id: 'nginx', label: 'nginx' },
      ],
      scenarios: [
        { name: 'health', label: '`health`', tool: 'wrk' },
        { name: 'blocks', label: '`blocks`', tool: 'wrk' },
      ],
      cells: {
        health: { ferrite: cell(30_000, 4.25), express: cell(60_000, 2), go: cell(50_000, 12.4) },
        blocks: {
          ferrite: cell(4_000, 40),
          express: 'failed: answered 500, expected 200',
          go: 'n/a: no driver',
        },
      },
      notes: ['a note'],
    };
    assert.equal(isCompareRecord(record), true);
    assert.equal(isCompareRecord({ date: '2026-11-26', before: {} }), false);
    const md = compareSection(record);
    assert.match(md, /wrk -t1 -c64 -d5s --latency/);
    assert.match(md, /\| scenario \| ferrite \| express \| Go \| ferrite ÷ Go \| ferrite ÷ express \|/); // nginx measured nothing
    assert.match(
      md,
      /\| `health` \| 30,000 · p99 4\.3 ms \| 60,000 · p99 2\.0 ms \| 50,000 · p99 12 ms \| 0\.60× \| 0\.50× \|/,
    );
    assert.match(
      md,
      /\| `blocks` \| 4,000 · p99 40 ms \| failed: answered 500, expected 200 \| n\/a: no driver \| – \| – \|/,
    );
    assert.match(md, /^- a note$/m);
  });
});
