// `npm run bench:readme`: regenerates the tables of docs/performance.md (once the README's) from
// the committed records: the seeds' targets from bench/baselines/baseline.json (between the
// bench:start and bench:end markers) and the side-by-side table from bench/baselines/compare.json
// (compare:start/compare:end), so the numbers there are never typed by hand. Measures nothing.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { compareSection, isCompareRecord } from './lib/compare-table.ts';
import { PERFORMANCE_DOC, writeSections } from './lib/doc-section.ts';
import { ROOT } from './lib/service.ts';

interface Baseline {
  meta: { date: string; cores: number; cpu: string; node: string; quick: boolean };
  once: {
    startupMs: number;
    idleCpuPercent: number;
    idleRssBytes: Record<string, number>;
    installBytes: number;
  };
  calibration: { rps: number; latencyMs: { p50: number; p99: number } };
  scenarios: Record<
    string,
    { rps: number; latencyMs: { p50: number; p99: number }; eventLoopLagP99Ms?: number }
  >;
  extra?: {
    export?: { rows: number; rowsPerSec: number; wireMBps: number; workerRssGrowthMB: number };
    wsFanout?: {
      clients: number;
      connected: number;
      deliveryMs: { p50: number; p99: number };
      spreadMs: number;
    };
    taskProxy?: {
      direct: { latencyMs: { p50: number; p99: number } };
      nginx: { latencyMs: { p50: number; p99: number } } | string;
      addedMs: { p50: number; p99: number };
      nginxAddedMs?: { p50: number; p99: number };
    };
    sseFanout?: {
      clients: number;
      connected: number;
      deliveryMs: { p50: number; p99: number };
      missed: number;
    };
    workflow?: {
      runsPerSec: number;
      runs: number;
      failed: number;
      concurrency: number;
      runMs: { p50: number; p99: number };
    };
    connections?: {
      wanted: number;
      held: number;
      workerRssGrowthMB: number;
      healthWhileHeld: { rps: number; p50: number; p99: number };
    };
  };
}

/** What bench:compare --readme records about the `before` peer (bench/baselines/compare.json). */
export interface CompareRecord {
  date: string;
  before: { startupMs?: number; idleRssMb?: number };
}

const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MB`;

function extraLines(b: Baseline): string {
  const lines: string[] = [];
  const e = b.extra?.export;
  if (e) {
    lines.push(
      `- \`export\`: ${e.rows.toLocaleString('en')} rows as gzip CSV at ${e.rowsPerSec.toLocaleString('en')} rows/s (${e.wireMBps} MB/s on the wire); worker RSS grew by ${e.workerRssGrowthMB} MB.`,
    );
  }
  const w = b.extra?.wsFanout;
  if (w) {
    lines.push(
      `- \`ws-fanout\`: ${w.connected} of ${w.clients} WebSocket clients held; a miner change reaches them p50 ${w.deliveryMs.p50} ms, p99 ${w.deliveryMs.p99} ms after the API request (first-to-last spread ${w.spreadMs} ms).`,
    );
  }
  const t = b.extra?.taskProxy;
  if (t) {
    lines.push(
      `- \`task-proxy\`: the upstream alone answers p50 ${t.direct.latencyMs.p50} / p99 ${t.direct.latencyMs.p99} ms under the same load; the gateway adds p50 ${t.addedMs.p50} / p99 ${t.addedMs.p99} ms${typeof t.nginx === 'string' ? ` (nginx: ${t.nginx})` : `, nginx \`proxy_pass\` adds p50 ${t.nginxAddedMs?.p50} / p99 ${t.nginxAddedMs?.p99} ms`}.`,
    );
  }
  const f = b.extra?.sseFanout;
  if (f) {
    lines.push(
      `- \`sse-fanout\`: ${f.connected} of ${f.clients} event streams on one project; a file write reaches them p50 ${f.deliveryMs.p50} ms, p99 ${f.deliveryMs.p99} ms after the PUT is sent; ${f.missed} missed.`,
    );
  }
  const wf = b.extra?.workflow;
  if (wf) {
    lines.push(
      `- \`workflow\`: ${wf.runsPerSec} runs/s of a 5-step plan (${wf.concurrency} clients submitting and waiting; ${wf.runs} runs, ${wf.failed} failed); submit-to-finished p50 ${wf.runMs.p50} ms, p99 ${wf.runMs.p99} ms.`,
    );
  }
  const c = b.extra?.connections;
  if (c) {
    lines.push(
      `- \`connections\`: ${c.held.toLocaleString('en')} of ${c.wanted.toLocaleString('en')} idle keep-alive connections held (+${c.workerRssGrowthMB} MB over all workers); beside them \`/api/health\` answered ${c.healthWhileHeld.rps} req/s, p99 ${c.healthWhileHeld.p99} ms.`,
    );
  }
  return lines.length ? `\n\n${lines.join('\n')}` : '';
}

export function performanceSection(b: Baseline, cmp?: CompareRecord): string {
  const workers = Object.entries(b.once.idleRssBytes).filter(([role]) => role !== 'primary');
  const workerRss = workers.map(([, v]) => v);
  const rows = Object.entries(b.scenarios)
    .map(
      ([name, s]) =>
        `| \`${name}\` | ${Math.round(s.rps)} | ${s.latencyMs.p50} | ${s.latencyMs.p99} | ${(s.rps / b.calibration.rps).toFixed(2)} |`,
    )
    .join('\n');
  return `Measured ${b.meta.date.slice(0, 10)} on ${b.meta.cores} cores (${b.meta.cpu}), Node ${b.meta.node}, by \`npm run bench:baseline\`${
    b.meta.quick ? ' (quick run)' : ''
  }; load generator on the same cores. Regenerate with \`npm run bench:readme\`.

| metric (seed 001) | Node before (measured) | Go target (seeds) | ferrite (measured) |
|---|---|---|---|
| Memory | ${cmp?.before.idleRssMb ? `${cmp.before.idleRssMb} MB RSS idle, one process (\`before\` peer, ${cmp.date}); 100–200 MB (seeds' report)` : "100–200 MB (seeds' report)"} | < 20 MB | primary ${mb(b.once.idleRssBytes.primary ?? 0)}, each worker ${workerRss.map(mb).join(' / ')} RSS idle |
| Startup | ${cmp?.before.startupMs ? `${cmp.before.startupMs} ms (\`before\` peer: one process, no migrations, no page build); 2–5 s (seeds' report)` : "2–5 s (seeds' report)"} | < 100 ms | ${b.once.startupMs} ms from spawn to the first 200 (external Postgres) |
| Latency | 15–30 ms (seeds' report) | 2–5 ms | \`stats\` p50 ${b.scenarios.stats?.latencyMs.p50 ?? '–'} ms, p99 ${b.scenarios.stats?.latencyMs.p99 ?? '–'} ms at 50 connections |
| Proxied p99 (seed 002) | n/a | < 100 ms | ${b.scenarios['task-proxy'] ? `\`task-proxy\` p99 ${b.scenarios['task-proxy'].latencyMs.p99} ms at 200 connections (upstream answers in 20 ms)` : 'not measured'} |
| Connections | ~1,000 (seeds' report) | ~10,000 | ${b.extra?.connections ? `${b.extra.connections.held.toLocaleString('en')} held, +${b.extra.connections.workerRssGrowthMB} MB` : 'not measured'} |
| CPU (idle) | 1–2 % (seeds' report) | < 0.5 % | ${b.once.idleCpuPercent} % of one core, whole cluster |
| Artifact size | n/a | < 15 MB binary | ${mb(b.once.installBytes)} production install (node_modules without dev, src, web) |

| scenario | req/s | p50 ms | p99 ms | req/s ÷ calibration |
|---|---|---|---|---|
${rows}

Calibration (bare \`node:http\` cluster, same bytes as \`/api/health\`): ${Math.round(b.calibration.rps)} req/s, p99 ${b.calibration.latencyMs.p99} ms.${extraLines(b)}`;
}

const isMain = import.meta.filename === path.resolve(process.argv[1] ?? '');
if (isMain) {
  const baseline = JSON.parse(
    await readFile(path.join(ROOT, 'bench/baselines/baseline.json'), 'utf8'),
  ) as Baseline;
  let cmp: CompareRecord | undefined;
  try {
    cmp = JSON.parse(await readFile(path.join(ROOT, 'bench/baselines/compare.json'), 'utf8'));
  } catch {
    cmp = undefined; // no bench:compare --readme run committed yet
  }
  const sections: Record<string, string> = { bench: performanceSection(baseline, cmp) };
  // Records from before bench:compare measured with wrk (no `format`) leave that table as it is.
  if (isCompareRecord(cmp)) sections.compare = compareSection(cmp);
  await writeSections(PERFORMANCE_DOC, sections);
  process.stdout.write(
    `${path.relative(ROOT, PERFORMANCE_DOC)}: ${Object.keys(sections).join(' and ')} sections regenerated from bench/baselines/\n`,
  );
}
