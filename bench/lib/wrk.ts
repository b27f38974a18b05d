// HTTP/1.1 load with wrk (Debian's `wrk`): a C event loop per thread, so one thread drives a
// 2-core machine's servers without itself being the first to saturate a core (autocannon, in
// Node, is). autocannon stays for scenarios that need a body or scripting (login).
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LoadResult } from './load.ts';

export interface WrkOptions {
  url: string;
  headers?: Record<string, string>;
  threads: number;
  connections: number;
  durationSec: number;
  /**
   * Count every response's exact status (wrk's Lua `response` hook). It makes wrk parse each
   * response's headers into Lua, so it is for short verification runs, not measured ones.
   */
  countStatuses?: boolean;
  /** Socket timeout, seconds (wrk's default is 2). */
  timeoutSec?: number;
}

const TIME_UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const SIZE_UNITS: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

/** A wrk duration ("812.00us", "1.23ms", "2.00s", "1.00m") in milliseconds. */
export function wrkTimeMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new Error(`not a wrk duration: ${JSON.stringify(text)}`);
  return Number(m[1]) * (TIME_UNITS[m[2] as string] as number);
}

/** A wrk size ("9.13MB", "512.00B") in bytes (wrk's units are powers of 1024). */
export function wrkBytes(text: string): number {
  const m = /^([\d.]+)([KMGT]?B)$/.exec(text.trim());
  if (!m) throw new Error(`not a wrk size: ${JSON.stringify(text)}`);
  return Number(m[1]) * (SIZE_UNITS[m[2] as string] as number);
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

/**
 * Parses wrk's report (run with `--latency`, plus the lines the lab's done() hook prints:
 * `p99.9 <us>` and `status <code> <count>`). wrk counts a response with a status of 400 or more
 * as "Non-2xx or 3xx"; that count is `non2xx` here, so a 304 is not in it and a 404 is.
 * Socket errors (connect, read, write) are `errors`, socket timeouts `timeouts`.
 */
export function parseWrk(out: string): LoadResult {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(out);
  if (!rps) throw new Error(`wrk report without Requests/sec:\n${out.slice(-800)}`);
  const pct = (q: string) => {
    const m = new RegExp(`^\\s+${q.replace('.', '\\.')}%\\s+([\\d.]+(?:us|ms|s|m|h))$`, 'm').exec(out);
    return m ? round3(wrkTimeMs(m[1] as string)) : Number.NaN;
  };
  const latency = /^\s+Latency\s+(\S+)\s+(\S+)\s+(\S+)\s+\S+%$/m.exec(out);
  const p999 = /^p99\.9 ([\d.]+)$/m.exec(out);
  const max = latency ? round3(wrkTimeMs(latency[3] as string)) : Number.NaN;
  const total = /^\s+(\d+) requests in [\d.]+\w+, ([\d.]+[KMGT]?B) read$/m.exec(out);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const transfer = /^Transfer\/sec:\s+([\d.]+[KMGT]?B)$/m.exec(out);
  const statuses: Record<string, number> = {};
  for (const m of out.matchAll(/^status (\d{3}) (\d+)$/gm)) statuses[m[1] as string] = Number(m[2]);
  return {
    rps: Number(rps[1]),
    latencyMs: {
      p50: pct('50'),
      p90: pct('90'),
      p99: pct('99'),
      p999: p999 ? round3(Number(p999[1]) / 1000) : max,
      max,
    },
    requests: Number(total?.[1] ?? 0),
    errors: socket ? Number(socket[1]) + Number(socket[2]) + Number(socket[3]) : 0,
    timeouts: Number(socket?.[4] ?? 0),
    non2xx: Number(non2xx?.[1] ?? 0),
    bytesPerSec: transfer ? wrkBytes(transfer[1] as string) : 0,
    ...(Object.keys(statuses).length ? { statuses } : {}),
  };
}

/**
 * Answers that were not what the scenario expects, plus socket errors and timeouts. With exact
 * statuses (a counting run) every status outside `expect` counts; from wrk's own report only the
 * class can be checked: expecting 4xx/5xx, every answer under 400 counts; expecting 2xx/3xx,
 * every answer of 400 or more.
 */
export function wrkUnexpected(r: LoadResult, expect: readonly number[]): number {
  const failures = r.errors + r.timeouts;
  if (r.statuses) {
    const answered = Object.values(r.statuses).reduce((a, b) => a + b, 0);
    return failures + answered - expect.reduce((sum, code) => sum + (r.statuses?.[String(code)] ?? 0), 0);
  }
  if (expect.every((c) => c >= 400)) return failures + Math.max(0, r.requests - r.non2xx);
  if (expect.every((c) => c < 400)) return failures + r.non2xx;
  return failures;
}

// done() runs once in wrk's main Lua state: p99.9 (wrk's --latency stops at 99 %) and, when the
// threads counted them, each status. A script without request()/response() keeps wrk's static,
// pre-built request: the hooks cost nothing per request.
const DONE = `
local threads = {}
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, requests)
  io.write(string.format("p99.9 %d\\n", latency:percentile(99.9)))
  local total = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    if s then for code, n in pairs(s) do total[code] = (total[code] or 0) + n end end
  end
  for code, n in pairs(total) do io.write(string.format("status %d %d\\n", code, n)) end
end
`;
const COUNT = `
statuses = {}
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
`;

/** One wrk run; throws when wrk fails or prints no report. */
export async function wrkRun(o: WrkOptions): Promise<LoadResult> {
  const script = path.join(
    tmpdir(),
    `wrk-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.lua`,
  );
  await writeFile(script, o.countStatuses ? COUNT + DONE : DONE);
  const args = [
    `-t${o.threads}`,
    `-c${o.connections}`,
    `-d${o.durationSec}s`,
    `--timeout`,
    `${o.timeoutSec ?? 2}s`,
    '--latency',
    '-s',
    script,
    ...Object.entries(o.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
    o.url,
  ];
  try {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    const [code] = await once(child, 'exit');
    if (code !== 0) throw new Error(`wrk exited ${code}: ${out.slice(-800)}`);
    return parseWrk(out);
  } finally {
    await rm(script, { force: true });
  }
}

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes `cmd` available: already on PATH, or installed from Debian's `pkg` with apt-get when
 * running as root. Resolves with `undefined` when available, else with what to do about it.
 */
export function ensureDebianTool(cmd: string, pkg: string, say: (line: string) => void): string | undefined {
  if (has(cmd)) return undefined;
  const how = `${cmd} is not installed: run \`sudo apt-get install -y ${pkg}\` (Debian/Ubuntu)`;
  if (process.getuid?.() !== 0 || !has('apt-get')) return how;
  say(`installing ${pkg} (apt-get) for ${cmd}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], { stdio: 'ignore', env });
  try {
    install();
  } catch {
    try {
      execFileSync('apt-get', ['update'], { stdio: 'ignore', env });
      install();
    } catch {
      return `${how}; apt-get install failed here`;
    }
  }
  return has(cmd) ? undefined : how;
}
