// `npm run bench -- footprint` (issue 14): what ferrite costs a small host while it does nothing.
// Starts the production cluster STARTS times on one database (the first start creates the schema
// and the data dir; the rest find them, as a restart does), reports the median spawn → first 200,
// then lets the last one settle (SETTLE seconds: validators compile, JIT warms) and leaves it idle
// (no traffic, no miner) for IDLE seconds: each process's RSS at the end, the total, and the whole
// cluster's CPU over the idle window; the `before` peer (one plain express process) is measured
// the same way beside it.
//
//   --starts N   starts to take the median of (5)     --idle S     idle seconds measured (60)
//   --settle S   seconds before the idle window (10)
//   --heap       also a heap snapshot of one idle worker, summed per constructor
//   --workers N  WORKERS for the service (all cores)
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { freePort } from '../src/db/embedded.ts';
import { heapSummary } from './lib/heap-summary.ts';
import { waitOk } from './lib/peers.ts';
import { clusterPids, rssBytes, sampleWhile } from './lib/proc.ts';
import { benchDatabase, ROOT, type Service, startService } from './lib/service.ts';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== 'footprint'),
  options: {
    starts: { type: 'string', default: '5' },
    idle: { type: 'string', default: '60' },
    settle: { type: 'string', default: '10' },
    workers: { type: 'string' },
    heap: { type: 'boolean', default: false },
  },
});
const starts = Number(values.starts);
const idleSec = Number(values.idle);
const settleSec = Number(values.settle);
if (!(starts >= 1 && idleSec >= 1)) throw new Error('--starts and --idle take positive numbers');
const say = (line: string) => process.stdout.write(`${line}\n`);
const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : Math.round(((s[m - 1] as number) + (s[m] as number)) / 2);
};

const db = await benchDatabase();
const env: Record<string, string> = {
  // info: the start-up time line is in the 'start-up steps' and 'worker ready' lines.
  LOG_LEVEL: 'info',
  MINER_AUTOSTART: 'false',
  ...(values.workers ? { WORKERS: values.workers } : {}),
};
const dataDirEarly = await mkdtemp(path.join(tmpdir(), 'ferrite-footprint-heap-'));
// With --heap a worker writes a snapshot on SIGUSR2 (node's own flag, inherited by the workers).
if (values.heap) env.NODE_OPTIONS = `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dataDirEarly}`;
const dataDir = await mkdtemp(path.join(tmpdir(), 'ferrite-footprint-'));
const logFile = path.join(dataDir, 'service.log');
try {
  const startup: number[] = [];
  let service: Service | undefined;
  for (let i = 0; i < starts; i++) {
    service = await startService(db.url, logFile, { ...env, DATA_DIR: dataDir });
    startup.push(Math.round(service.startupMs));
    say(`start ${i + 1}/${starts}: ${startup.at(-1)} ms from spawn to the first 200`);
    if (i < starts - 1) await service.stop();
  }
  if (!service) throw new Error('no start');
  const pids = clusterPids(service.child.pid as number);
  say(`settling for ${settleSec} s, then idle for ${idleSec} s (no traffic, no miner)…`);
  await sleep(settleSec * 1000);
  const idle = await sampleWhile(pids, () => sleep(idleSec * 1000));
  const rss = pids.map((p) => ({ role: p.role, mb: mb(rssBytes(p.pid)) }));
  const cpu = Math.round(idle.samples.reduce((a, p) => a + p.cpuPercent, 0) * 100) / 100;
  // Read after the idle window: every worker has logged its ready line by then.
  const timeline = await startupTimeline(logFile);
  const heap = values.heap ? await snapshotWorker(pids.find((p) => p.role !== 'primary')?.pid) : undefined;
  await service.stop();

  // The `before` peer, as bench:compare starts it: one express process on the same database.
  const port = await freePort();
  const spawned = performance.now();
  const before = spawn(process.execPath, [path.join(ROOT, 'bench/peers/before.ts')], {
    env: { ...process.env, PORT: String(port), DATABASE_URL: db.url, JWT_SECRET: 'x'.repeat(48) },
    stdio: 'ignore',
  });
  await waitOk(`http://127.0.0.1:${port}/api/health`);
  const beforeStartup = Math.round(performance.now() - spawned);
  await sleep(settleSec * 1000);
  const beforeIdle = await sampleWhile([{ role: 'before', pid: before.pid as number }], () =>
    sleep(idleSec * 1000),
  );
  const beforeRss = mb(rssBytes(before.pid as number));
  before.kill('SIGTERM');

  say('');
  say('| process | RSS, idle |');
  say('|---|---|');
  for (const r of rss) say(`| ferrite ${r.role} | ${r.mb} MB |`);
  say(`| ferrite, all ${rss.length} processes | ${rss.reduce((a, r) => a + r.mb, 0)} MB |`);
  say(`| before peer (one express process) | ${beforeRss} MB |`);
  say('');
  say(
    `spawn → first 200: ferrite median ${median(startup)} ms of ${starts} (${startup.join(', ')}); before peer ${beforeStartup} ms`,
  );
  if (heap) {
    say('');
    say("one idle worker's heap, self size per constructor (objects) or kind (the rest):");
    for (const h of heap) say(`  ${String(h.mb).padStart(6)} MB  ${h.name} (${h.count})`);
  }
  say(`the last start's time line, ms since each process started: ${timeline}`);
  say(
    `idle CPU over ${idleSec} s: ferrite ${cpu} % of one core (${idle.samples.map((s) => `${s.role} ${s.cpuPercent} %`).join(', ')}); before peer ${beforeIdle.samples[0]?.cpuPercent} %`,
  );
} finally {
  await db.stop();
}

/** The primary's steps and each worker's, from the service's log (ms since that process started). */
async function startupTimeline(file: string): Promise<string> {
  const lines = (await readFile(file, 'utf8'))
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg?: string; worker?: string; steps?: object; startup?: object });
  const fmt = (o: object | undefined) =>
    Object.entries(o ?? {})
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  const primary = lines.find((l) => l.msg?.startsWith('start-up steps'));
  const workers = lines.filter((l) => l.msg === 'worker ready');
  return [
    `primary: ${fmt(primary?.steps)}`,
    ...workers.map((w) => `worker ${w.worker}: ${fmt(w.startup)}`),
  ].join('; ');
}

/** Asks worker `pid` for a heap snapshot (SIGUSR2) and sums it; V8 writes it into --diagnostic-dir. */
async function snapshotWorker(pid: number | undefined) {
  if (!pid) return undefined;
  process.kill(pid, 'SIGUSR2');
  for (let waited = 0; waited < 60_000; waited += 500) {
    await sleep(500);
    const files = (await readdir(dataDirEarly)).filter((f) => f.endsWith('.heapsnapshot'));
    // Written in one go once complete: a file that parses is done.
    for (const f of files) {
      try {
        return await heapSummary(path.join(dataDirEarly, f));
      } catch {
        // still being written
      }
    }
  }
  throw new Error('the worker wrote no heap snapshot within 60 s');
}
