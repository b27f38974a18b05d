// The performance lab: `npm run bench` (and :check, :baseline). Starts the production cluster on
// a fresh database, measures the once-per-run numbers, runs each scenario with its load fixed in
// bench/lib/scenarios.ts, measures the calibration server the same way, and writes the results
// (bench/results/*.json) and the report (bench/report/index.html).
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { LAB_ENV, type LabVars, loadScenario, seed, seedWorkspace } from './lib/drive.ts';
import {
  type ConnectionsResult,
  type ExportResult,
  exportScenario,
  type FanoutResult,
  holdConnections,
  wsFanout,
} from './lib/extra.ts';
import { type SseFanoutResult, sseFanout, type WorkflowResult, workflowRuns } from './lib/extra-workspace.ts';
import { autocannonRun, type LoadResult, medianResult, unexpectedResponses } from './lib/load.ts';
import { type Peer, startNginxProxy, startUpstream } from './lib/peers.ts';
import { clusterPids, type ProcSample, rssBytes, sampleWhile } from './lib/proc.ts';
import { renderReport } from './lib/report.ts';
import { SCENARIOS, type Scenario } from './lib/scenarios.ts';
import { benchDatabase, ROOT, startCalibration, startService } from './lib/service.ts';
import { compare, DEFAULT_TOLERANCE } from './lib/stats.ts';

// `npm run bench -- footprint`: memory, start-up and idle CPU instead of the load scenarios.
if (process.argv[2] === 'footprint') {
  await import('./footprint.ts');
  process.exit(process.exitCode ?? 0);
}
// `npm run bench -- two-hosts`: one host and two behind HAProxy, and the Postgres connections held.
if (process.argv[2] === 'two-hosts') {
  await import('./two-hosts.ts');
  process.exit(process.exitCode ?? 0);
}
// `npm run bench -- notify`: how many events/s one Postgres delivers by LISTEN/NOTIFY before lagging.
if (process.argv[2] === 'notify') {
  await import('./notify.ts');
  process.exit(process.exitCode ?? 0);
}
// `npm run bench -- tracing`: the hot path with OpenTelemetry off, at 1 % and at 100 %.
if (process.argv[2] === 'tracing') {
  await import('./tracing.ts');
  process.exit(process.exitCode ?? 0);
}

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', multiple: true },
    duration: { type: 'string' },
    connections: { type: 'string' },
    quick: { type: 'boolean', default: false },
    check: { type: 'boolean', default: false },
    baseline: { type: 'boolean', default: false },
  },
});

const quick = values.quick;
// Each scenario's measured time is split into this many runs and the median kept: on shared
// cores one run can be 15 % off its neighbour, more than the regression tolerance.
const REPEATS = quick ? 1 : 3;
const perRun = (s: { durationSec: number }) => Math.max(2, Math.ceil(s.durationSec / REPEATS));
const BASELINE = path.join(ROOT, 'bench/baselines/baseline.json');
const tty = process.stdout.isTTY;
const say = (line: string) => process.stdout.write(`${line}\n`);

const chosen = SCENARIOS.filter((s) => !values.scenario || values.scenario.includes(s.name)).map((s) => ({
  ...s,
  durationSec: values.duration ? Number(values.duration) : quick ? 3 : s.durationSec,
  warmupSec: quick ? 1 : s.warmupSec,
  connections: values.connections ? Number(values.connections) : s.connections,
}));
/** On a terminal, one line rewritten every second: scenario n of N, elapsed, live req/s. */
function live(i: number, n: number, name: string): ((perSecond: number) => void) | undefined {
  if (!tty) return undefined;
  let seconds = 0;
  return (perSecond) => {
    seconds++;
    process.stdout.write(`\r\x1b[K  [${i + 1}/${n}] ${name}: ${seconds} s, ${perSecond} req/s`);
  };
}

/** Extras (measured by their own code, not a request loop) run unless --scenario names others. */
const wants = (name: string) => !values.scenario || values.scenario.includes(name);
const hasH2load = (() => {
  try {
    execFileSync('h2load', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

async function eventLoopLagP99(metricsUrl: string): Promise<number | undefined> {
  const text = await (await fetch(metricsUrl)).text();
  const lags = [...text.matchAll(/^nodejs_eventloop_lag_p99_seconds\{worker="\d+"\} ([\d.e-]+)$/gm)].map(
    (m) => Number(m[1]),
  );
  return lags.length ? Math.max(...lags) * 1000 : undefined;
}

async function installSizeBytes(): Promise<number> {
  const dirs = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], {
    cwd: ROOT,
    encoding: 'utf8',
  })
    .split('\n')
    .filter((d) => d.includes('node_modules'));
  const du = execFileSync('du', ['-sbc', '--', ...new Set(dirs)], { encoding: 'utf8' });
  const srcDu = execFileSync('du', ['-sb', path.join(ROOT, 'src'), path.join(ROOT, 'web')], {
    encoding: 'utf8',
  });
  const total = Number(/^(\d+)\s+total$/m.exec(du)?.[1] ?? 0);
  return total + srcDu.split('\n').reduce((sum, l) => sum + (Number(l.split('\t')[0]) || 0), 0);
}

interface ProxyComparison {
  direct: LoadResult;
  nginx: LoadResult | string;
  /** The gateway's p50/p99 minus the upstream's own, same load. */
  addedMs: { p50: number; p99: number };
  nginxAddedMs?: { p50: number; p99: number };
}

/** task-proxy's load on the upstream itself and through nginx, for the added latency. */
async function proxyComparison(gateway: LoadResult, upstream: Peer): Promise<ProxyComparison> {
  const s = SCENARIOS.find((x) => x.name === 'task-proxy') as Scenario;
  const load = (origin: string, pathname: string) =>
    autocannonRun({
      url: `${origin}${pathname}`,
      connections: s.connections,
      durationSec: quick ? 3 : s.durationSec,
    });
  const below = s.path.slice('/v1/task'.length);
  await load(upstream.origin, below);
  const direct = await load(upstream.origin, below);
  const added = (r: LoadResult) => ({
    p50: Math.round((r.latencyMs.p50 - direct.latencyMs.p50) * 100) / 100,
    p99: Math.round((r.latencyMs.p99 - direct.latencyMs.p99) * 100) / 100,
  });
  const proxy = await startNginxProxy(upstream.origin);
  if (typeof proxy === 'string') return { direct, nginx: proxy, addedMs: added(gateway) };
  try {
    await load(proxy.origin, s.path);
    const nginx = await load(proxy.origin, s.path);
    return { direct, nginx, addedMs: added(gateway), nginxAddedMs: added(nginx) };
  } finally {
    await proxy.stop();
  }
}

const db = await benchDatabase();
const stamp = new Date().toISOString().replaceAll(':', '-');
await mkdir(path.join(ROOT, 'bench/results'), { recursive: true });
const upstream = chosen.some((s) => s.needs === 'upstream') ? await startUpstream(20) : undefined;
const service = await startService(db.url, path.join(ROOT, `bench/results/${stamp}.service.log`), {
  ...LAB_ENV,
  ...(upstream ? { TASK_UPSTREAM_URL: upstream.origin } : {}),
});
const primaryPid = service.child.pid as number;
let exitCode = 0;
try {
  await sleep(500); // every worker up, not only the first that answered
  const pids = clusterPids(primaryPid);
  const idleSec = quick ? 5 : 30;
  say(
    `ferrite up in ${Math.round(service.startupMs)} ms (${pids.length - 1} workers); measuring idle for ${idleSec} s`,
  );
  const idle = await sampleWhile(pids, () => sleep(idleSec * 1000));
  const idleRss = Object.fromEntries(pids.map((p) => [p.role, rssBytes(p.pid)]));

  const token = await seed(service.origin, db.url);
  const vars: LabVars =
    chosen.some((s) => s.name === 'vfs-read') || wants('sse-fanout') || wants('workflow')
      ? await seedWorkspace(service.origin, token)
      : {};

  const scenarios: Record<
    string,
    LoadResult & { procs: ProcSample[]; eventLoopLagP99Ms?: number; background?: LoadResult }
  > = {};
  const runnable = chosen.filter((s) => s.tool !== 'h2load' || hasH2load);
  for (const s of chosen)
    if (!runnable.includes(s)) say(`skip ${s.name}: h2load is not installed (Debian nghttp2-client)`);
  const began = performance.now();
  for (const [i, s] of runnable.entries()) {
    const elapsed = Math.round((performance.now() - began) / 1000);
    say(
      `${tty ? '\x1b[1m' : ''}[${i + 1}/${runnable.length}] ${s.name}${tty ? '\x1b[0m' : ''} (${elapsed} s elapsed)`,
    );
    await loadScenario(s, service.origin, token, s.warmupSec, vars);
    const bg = s.background
      ? loadScenario(
          {
            ...s,
            path: s.background.path,
            method: 'POST',
            body: 'login',
            connections: s.background.connections,
            auth: false,
          },
          service.origin,
          token,
          perRun(s) * REPEATS,
        )
      : undefined;
    const { result, samples } = await sampleWhile(clusterPids(primaryPid), async () => {
      const runs: LoadResult[] = [];
      for (let r = 0; r < REPEATS; r++)
        runs.push(
          await loadScenario(s, service.origin, token, perRun(s), vars, live(i, runnable.length, s.name)),
        );
      return medianResult(runs);
    });
    if (tty) process.stdout.write('\r\x1b[K');
    const background = await bg;
    const lag = await eventLoopLagP99(service.metrics);
    scenarios[s.name] = { ...result, procs: samples, eventLoopLagP99Ms: lag, background };
    say(
      `  ${Math.round(result.rps)} req/s, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, unexpected ${unexpectedResponses(result, s.expect)} (errors ${result.errors}, statuses ${JSON.stringify(result.statuses ?? {})})`,
    );
    if (unexpectedResponses(result, s.expect) > 0) {
      say(`  FAIL: ${s.name} had unexpected errors or statuses`);
      exitCode = 1;
    }
  }

  const extra: {
    export?: ExportResult;
    wsFanout?: FanoutResult;
    taskProxy?: ProxyComparison;
    sseFanout?: SseFanoutResult;
    workflow?: WorkflowResult;
    connections?: ConnectionsResult;
  } = {};
  const gateway = scenarios['task-proxy'];
  if (gateway && upstream) {
    say('[extra] task-proxy: the same load on the upstream directly and through nginx');
    extra.taskProxy = await proxyComparison(gateway, upstream);
    const t = extra.taskProxy;
    say(
      `  upstream direct p50 ${t.direct.latencyMs.p50} / p99 ${t.direct.latencyMs.p99} ms; gateway adds p50 ${t.addedMs.p50}, p99 ${t.addedMs.p99} ms${typeof t.nginx === 'string' ? ` (nginx ${t.nginx})` : `; nginx adds p50 ${t.nginxAddedMs?.p50}, p99 ${t.nginxAddedMs?.p99} ms`}`,
    );
  }
  if (wants('export')) {
    say('[extra] export: streaming stats samples as gzip CSV');
    const workers = clusterPids(primaryPid)
      .filter((p) => p.role !== 'primary')
      .map((p) => p.pid);
    extra.export = await exportScenario(service.origin, token, db.url, workers, quick ? 200_000 : 1_000_000);
    say(
      `  ${extra.export.rowsPerSec} rows/s, ${extra.export.wireMBps} MB/s on the wire, worker RSS +${extra.export.workerRssGrowthMB} MB`,
    );
  }
  if (wants('ws-fanout')) {
    const clients = quick ? 200 : 1000;
    say(`[extra] ws-fanout: ${clients} WebSocket clients`);
    extra.wsFanout = await wsFanout(service.origin, token, clients, quick ? 2 : 5);
    say(
      `  ${extra.wsFanout.connected}/${clients} connected; delivery p50 ${extra.wsFanout.deliveryMs.p50} ms, p99 ${extra.wsFanout.deliveryMs.p99} ms, spread ${extra.wsFanout.spreadMs} ms`,
    );
  }

  if (wants('sse-fanout')) {
    const clients = quick ? 200 : 1000;
    say(`[extra] sse-fanout: ${clients} event streams on one project`);
    extra.sseFanout = await sseFanout(service.origin, token, vars.project as string, clients, quick ? 5 : 20);
    const f = extra.sseFanout;
    say(
      `  ${f.connected}/${clients} connected; delivery p50 ${f.deliveryMs.p50} ms, p99 ${f.deliveryMs.p99} ms; missed ${f.missed}`,
    );
    if (f.missed > 0 || f.connected < clients) exitCode = 1;
  }
  if (wants('workflow')) {
    say('[extra] workflow: 5-step runs, 8 clients submitting and waiting');
    extra.workflow = await workflowRuns(service.origin, token, vars.project as string, 8, quick ? 3 : 10);
    const w = extra.workflow;
    say(
      `  ${w.runsPerSec} runs/s (${w.runs} runs, ${w.failed} failed); run p50 ${w.runMs.p50} ms, p99 ${w.runMs.p99} ms`,
    );
    if (w.failed > 0) exitCode = 1;
  }

  if (wants('connections')) {
    const n = quick ? 2000 : 10_000;
    say(`[extra] connections: ${n} idle keep-alive connections held, /api/health measured beside them`);
    const workers = clusterPids(primaryPid)
      .filter((p) => p.role !== 'primary')
      .map((p) => p.pid);
    extra.connections = await holdConnections(service.origin, n, workers, () =>
      autocannonRun({ url: `${service.origin}/api/health`, connections: 10, durationSec: quick ? 2 : 5 }),
    );
    const c = extra.connections;
    say(
      `  ${c.held}/${n} held; workers' RSS +${c.workerRssGrowthMB} MB; health beside them ${c.healthWhileHeld.rps} req/s, p99 ${c.healthWhileHeld.p99} ms`,
    );
    if (c.held < n) exitCode = 1;
  }

  const cal = await startCalibration();
  const calScenario = SCENARIOS[0] as Scenario;
  await autocannonRun({ url: `${cal.origin}/`, connections: calScenario.connections, durationSec: 1 });
  const calRuns: LoadResult[] = [];
  for (let r = 0; r < REPEATS; r++) {
    calRuns.push(
      await autocannonRun({
        url: `${cal.origin}/`,
        connections: calScenario.connections,
        durationSec: quick ? 3 : perRun(calScenario),
      }),
    );
  }
  const calibration = medianResult(calRuns);
  await cal.stop();
  say(
    `calibration (bare node:http cluster): ${Math.round(calibration.rps)} req/s, p99 ${calibration.latencyMs.p99} ms`,
  );

  const results = {
    meta: {
      date: new Date().toISOString(),
      cores: availableParallelism(),
      cpu: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      quick,
    },
    once: {
      startupMs: Math.round(service.startupMs),
      idleCpuPercent: Math.round(idle.samples.reduce((a, p) => a + p.cpuPercent, 0) * 100) / 100,
      idleSeconds: idleSec,
      idleRssBytes: idleRss,
      installBytes: await installSizeBytes(),
    },
    calibration,
    scenarios,
    extra,
  };
  const file = path.join(ROOT, `bench/results/${stamp}.json`);
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  await mkdir(path.join(ROOT, 'bench/report'), { recursive: true });
  let baseline: typeof results | undefined;
  try {
    baseline = JSON.parse(await readFile(BASELINE, 'utf8'));
  } catch {
    baseline = undefined;
  }
  await writeFile(path.join(ROOT, 'bench/report/index.html'), renderReport(results, baseline));
  say(`results: ${path.relative(ROOT, file)}; report: bench/report/index.html`);

  if (values.baseline) {
    await writeFile(BASELINE, `${JSON.stringify(results, null, 2)}\n`);
    say(`baseline rewritten: ${path.relative(ROOT, BASELINE)} (commit it)`);
  }
  if (values.check) {
    if (!baseline) throw new Error(`no baseline at ${BASELINE}; run npm run bench:baseline first`);
    say('\nscenario                 base req/s   new req/s  ratio   base p99  new p99  ratio');
    for (const [name, cur] of Object.entries(scenarios)) {
      const base = baseline.scenarios[name];
      if (!base) continue;
      const c = compare(
        name,
        { rps: base.rps, p99Ms: base.latencyMs.p99 },
        { rps: cur.rps, p99Ms: cur.latencyMs.p99 },
        { baselineRps: baseline.calibration.rps, currentRps: calibration.rps },
        { ...DEFAULT_TOLERANCE, ...SCENARIOS.find((x) => x.name === name)?.tolerance },
      );
      say(
        `${name.padEnd(24)} ${String(Math.round(base.rps)).padStart(10)} ${String(Math.round(cur.rps)).padStart(11)}  ${c.rpsRatio.toFixed(2)}  ${String(base.latencyMs.p99).padStart(9)} ${String(cur.latencyMs.p99).padStart(8)}  ${c.p99Ratio.toFixed(2)}${c.regressed ? `  REGRESSED: ${c.reasons.join('; ')}` : ''}`,
      );
      if (c.regressed) exitCode = 1;
    }
  }
} finally {
  await service.stop();
  await upstream?.stop();
  await db.stop();
}
process.exit(exitCode);
