// `npm run bench:compare`: the peers side by side in one run, same load generator, same routes,
// same data. Prints a markdown table, writes it to bench/results/, and with --readme replaces
// the README's compare section (between the compare:start and compare:end markers).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { freePort } from '../src/db/embedded.ts';
import { LAB_ENV, loadScenario, seed } from './lib/drive.ts';
import type { LoadResult } from './lib/load.ts';
import { SCENARIOS } from './lib/scenarios.ts';
import { benchDatabase, ROOT, startCalibration, startService } from './lib/service.ts';

const { values } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, readme: { type: 'boolean', default: false } },
});
const duration = values.quick ? 3 : 10;
const compared = SCENARIOS.filter((s) => ['health', 'stats', 'blocks', 'login'].includes(s.name));
const say = (line: string) => process.stdout.write(`${line}\n`);
const has = (cmd: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

async function waitOk(url: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(url)).status === 200) return;
    } catch {
      // not yet
    }
    await sleep(50);
  }
  throw new Error(`${url} never answered 200`);
}

const secret = randomBytes(48).toString('base64url');
const db = await benchDatabase();
const stamp = new Date().toISOString().replaceAll(':', '-');
await mkdir(path.join(ROOT, 'bench/results'), { recursive: true });
const ferrite = await startService(db.url, path.join(ROOT, `bench/results/compare-${stamp}.service.log`), {
  ...LAB_ENV,
  JWT_SECRET: secret,
  STATS_PERSIST_INTERVAL_MS: '500',
});
let before: ChildProcess | undefined;
const cal = await startCalibration();
const table: Record<string, Record<string, LoadResult | string>> = {};
try {
  const token = await seed(ferrite.origin, db.url);
  const beforePort = await freePort();
  before = spawn(process.execPath, [path.join(ROOT, 'bench/peers/before.ts')], {
    env: { ...process.env, PORT: String(beforePort), DATABASE_URL: db.url, JWT_SECRET: secret },
    stdio: 'ignore',
  });
  const beforeOrigin = `http://127.0.0.1:${beforePort}`;
  await waitOk(`${beforeOrigin}/api/health`);

  const peers: { name: string; origin?: string; only?: string[]; skip?: string }[] = [
    { name: `ferrite (cluster, ${availableParallelism()} workers)`, origin: ferrite.origin },
    { name: 'before (one express process, JS hot paths)', origin: beforeOrigin },
    { name: 'calibration (bare node:http cluster)', origin: cal.origin, only: ['health'] },
    { name: 'nginx', skip: has('nginx') ? 'not wired into the lab yet' : 'nginx is not installed' },
    {
      name: 'Go net/http',
      skip: has('go') ? 'not wired into the lab yet' : 'go is not installed (Debian golang-go)',
    },
  ];
  for (const peer of peers) {
    table[peer.name] = {};
    for (const s of compared) {
      const row = table[peer.name] as Record<string, LoadResult | string>;
      if (peer.skip) {
        row[s.name] = `skipped: ${peer.skip}`;
        continue;
      }
      if (peer.only && !peer.only.includes(s.name)) {
        row[s.name] = '–';
        continue;
      }
      const origin = peer.origin as string;
      const target = peer.only ? { ...s, path: '/' } : s;
      await loadScenario(target, origin, token, 1);
      const r = await loadScenario(target, origin, token, duration);
      row[s.name] =
        r.errors + r.non2xx + r.timeouts > 0 ? `failed: ${r.errors} errors, ${r.non2xx} non-2xx` : r;
      say(`${peer.name} · ${s.name}: ${Math.round(r.rps)} req/s, p99 ${r.latencyMs.p99} ms`);
    }
  }
} finally {
  before?.kill('SIGTERM');
  if (before) await once(before, 'exit');
  await cal.stop();
  await ferrite.stop();
  await db.stop();
}

const cell = (v: LoadResult | string | undefined) =>
  typeof v === 'object' ? `${Math.round(v.rps)} req/s · p99 ${v.latencyMs.p99} ms` : (v ?? '–');
const markdown = [
  `Measured ${new Date().toISOString().slice(0, 10)} on ${availableParallelism()} cores, Node ${process.version}, by \`npm run bench:compare\` (${duration} s per cell, autocannon with each scenario's connections).`,
  '',
  `| peer | ${compared.map((s) => `\`${s.name}\``).join(' | ')} |`,
  `|---|${compared.map(() => '---').join('|')}|`,
  ...Object.entries(table).map(
    ([peer, row]) => `| ${peer} | ${compared.map((s) => cell(row[s.name])).join(' | ')} |`,
  ),
].join('\n');
say(`\n${markdown}`);
await writeFile(
  path.join(ROOT, `bench/results/compare-${stamp}.json`),
  `${JSON.stringify(table, null, 2)}\n`,
);
if (values.readme) {
  const readmePath = path.join(ROOT, 'README.md');
  const readme = await readFile(readmePath, 'utf8');
  const [start, end] = ['<!-- compare:start -->', '<!-- compare:end -->'];
  const i = readme.indexOf(start);
  const j = readme.indexOf(end);
  if (i < 0 || j < i) throw new Error('README.md lacks the compare:start/compare:end markers');
  await writeFile(readmePath, `${readme.slice(0, i + start.length)}\n${markdown}\n${readme.slice(j)}`);
  say('README compare section updated');
}
process.exit(0);
