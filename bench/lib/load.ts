import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { percentile } from './stats.ts';

export interface LoadResult {
  rps: number;
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number };
  requests: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  bytesPerSec: number;
  /** Responses per status code (autocannon only; h2load reports classes). */
  statuses?: Record<string, number>;
}

/** Responses whose status the scenario did not expect, plus errors and timeouts. */
export function unexpectedResponses(r: LoadResult, expect: readonly number[]): number {
  const failures = r.errors + r.timeouts;
  if (!r.statuses) return failures + r.non2xx;
  const expected = expect.reduce((sum, code) => sum + (r.statuses?.[String(code)] ?? 0), 0);
  const answered = Object.values(r.statuses).reduce((a, b) => a + b, 0);
  return failures + answered - expected;
}

export interface LoadOptions {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  connections: number;
  pipelining?: number;
  durationSec: number;
  /** Called every second with the requests completed in it (autocannon only). */
  onTick?: (requestsThisSecond: number) => void;
}

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p90: number; p99: number; p99_9: number; max: number };
  throughput: { average: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats?: Record<string, { count: number }>;
}

// autocannon has no types of its own; this is the part of its API the lab uses.
const autocannon = createRequire(import.meta.url)('autocannon') as (
  opts: Record<string, unknown>,
) => Promise<AutocannonResult> & {
  on(event: 'tick', listener: (t: { counter: number }) => void): void;
};

/** HTTP/1.1 load with autocannon. */
export async function autocannonRun(o: LoadOptions): Promise<LoadResult> {
  const run = autocannon({
    url: o.url,
    method: o.method ?? 'GET',
    headers: o.headers,
    body: o.body,
    connections: o.connections,
    pipelining: o.pipelining ?? 1,
    duration: o.durationSec,
  });
  if (o.onTick) run.on('tick', (t) => o.onTick?.(t.counter));
  const r = await run;
  return {
    rps: r.requests.average,
    latencyMs: {
      p50: r.latency.p50,
      p90: r.latency.p90,
      p99: r.latency.p99,
      p999: r.latency.p99_9,
      max: r.latency.max,
    },
    requests: r.requests.total,
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    bytesPerSec: r.throughput.average,
    statuses: Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([code, v]) => [code, v.count])),
  };
}

/**
 * HTTP/2 load with h2load (Debian's nghttp2-client). Latency percentiles come from its
 * per-request log (`--log-file`: start time, status, duration in microseconds).
 */
export async function h2loadRun(o: LoadOptions & { streams: number }): Promise<LoadResult> {
  const log = path.join(tmpdir(), `h2load-${process.pid}-${Date.now()}.log`);
  const args = [
    '-c',
    String(o.connections),
    '-m',
    String(o.streams),
    '-D',
    String(o.durationSec),
    `--log-file=${log}`,
    ...Object.entries(o.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
    o.url,
  ];
  const child = spawn('h2load', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`h2load exited ${code}: ${out.slice(-500)}`);
  const rps = Number(/finished in [\d.]+m?s, ([\d.]+) req\/s, ([\d.]+)([KMG]?B)\/s/.exec(out)?.[1] ?? 0);
  const bytes = /finished in [\d.]+m?s, [\d.]+ req\/s, ([\d.]+)([KMG]?B)\/s/.exec(out);
  const scale: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 };
  const req =
    /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
      out,
    );
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const durations = (await readFile(log, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => Number(l.split('\t')[2]) / 1000);
  await rm(log, { force: true });
  const p = (q: number) => percentile(durations, q) ?? 0;
  return {
    rps,
    latencyMs: { p50: p(50), p90: p(90), p99: p(99), p999: p(99.9), max: p(100) },
    requests: Number(req?.[2] ?? 0),
    errors: Number(req?.[5] ?? 0) + Number(req?.[4] ?? 0),
    timeouts: Number(req?.[6] ?? 0),
    non2xx: Number(codes?.[2] ?? 0) + Number(codes?.[3] ?? 0) + Number(codes?.[4] ?? 0),
    bytesPerSec: bytes ? Number(bytes[1]) * (scale[bytes[2] as string] ?? 1) : 0,
  };
}

/**
 * One result from repeated runs of the same load: the median of each number (req/s and every
 * latency percentile taken separately), with errors, timeouts and statuses summed. On shared
 * cores one run can be 15 % off its neighbour; the median of three is what the lab compares.
 */
export function medianResult(runs: readonly LoadResult[]): LoadResult {
  if (runs.length === 0) throw new RangeError('no runs');
  const mid = (pick: (r: LoadResult) => number) => {
    const sorted = runs.map(pick).sort((a, b) => a - b);
    return sorted[Math.floor((sorted.length - 1) / 2)] as number;
  };
  const sum = (pick: (r: LoadResult) => number) => runs.reduce((a, r) => a + pick(r), 0);
  const statuses: Record<string, number> = {};
  for (const r of runs)
    for (const [code, n] of Object.entries(r.statuses ?? {})) statuses[code] = (statuses[code] ?? 0) + n;
  return {
    rps: mid((r) => r.rps),
    latencyMs: {
      p50: mid((r) => r.latencyMs.p50),
      p90: mid((r) => r.latencyMs.p90),
      p99: mid((r) => r.latencyMs.p99),
      p999: mid((r) => r.latencyMs.p999),
      max: Math.max(...runs.map((r) => r.latencyMs.max)),
    },
    requests: sum((r) => r.requests),
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    non2xx: sum((r) => r.non2xx),
    bytesPerSec: mid((r) => r.bytesPerSec),
    ...(runs.some((r) => r.statuses) ? { statuses } : {}),
  };
}
