// `npm run bench:compare`: the peers side by side in one run, same load generator, same routes,
// same data. Prints a markdown table, writes it to bench/results/, and with --readme replaces
// the README's compare section (between the compare:start and compare:end markers).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '../src/db/embedded.ts';
import { LAB_ENV, loadScenario, seed } from './lib/drive.ts';
import type { LoadResult } from './lib/load.ts';
import { type Peer, startGoPeer, startNginx, waitOk } from './lib/peers.ts';
import { rssBytes } from './lib/proc.ts';
import { SCENARIOS } from './lib/scenarios.ts';
import { benchDatabase, ROOT, startCalibration, startService } from './lib/service.ts';

const { values } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, readme: { type: 'boolean', default: false } },
});
const duration = values.quick ? 3 : 10;
const compared = SCENARIOS.filter((s) => ['health', 'stats', 'blocks', 'login'].includes(s.name));
const say = (line: string) => process.stdout.write(`${line}\n`);
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
const extra: Peer[] = [];
const table: Record<string, Record<string, LoadResult | string>> = {};
const beforeFacts: { startupMs?: number; idleRssMb?: number } = {};
try {
  const token = await seed(ferrite.origin, db.url);
  const beforePort = await freePort();
  const spawned = performance.now();
  before = spawn(process.execPath, [path.join(ROOT, 'bench/peers/before.ts')], {
    env: { ...process.env, PORT: String(beforePort), DATABASE_URL: db.url, JWT_SECRET: secret },
    stdio: 'ignore',
  });
  const beforeOrigin = `http://127.0.0.1:${beforePort}`;
  await waitOk(`${beforeOrigin}/api/health`);
  beforeFacts.startupMs = Math.round(performance.now() - spawned);
  await new Promise((r) => setTimeout(r, 1000));
  beforeFacts.idleRssMb = Math.round(rssBytes(before.pid as number) / 2 ** 20);

  // The Go peer serves the very bytes ferrite's /api/stats answers, behind the same token.
  const stats = await fetch(`${ferrite.origin}/api/stats`, { headers: { authorization: `Bearer ${token}` } });
  const go = await startGoPeer(secret, Buffer.from(await stats.arrayBuffer()));
  const health = await (await fetch(`${ferrite.origin}/api/health`)).text();
  const nginx = await startNginx(health);
  for (const p of [go, nginx]) if (typeof p !== 'string') extra.push(p);
  const noDriver = "n/a: no Postgres driver in Go's standard library";
  const noArgon = "n/a: no argon2 in Go's standard library";

  const peers: {
    name: string;
    origin?: string;
    only?: string[];
    root?: boolean;
    skip?: string;
    na?: Record<string, string>;
  }[] = [
    { name: `ferrite (cluster, ${availableParallelism()} workers)`, origin: ferrite.origin },
    { name: 'before (one express process, JS hot paths)', origin: beforeOrigin },
    { name: 'calibration (bare node:http cluster)', origin: cal.origin, only: ['health'], root: true },
    typeof nginx === 'string'
      ? { name: 'nginx (same JSON, from memory)', skip: nginx }
      : { name: 'nginx (same JSON, from memory)', origin: nginx.origin, only: ['health'], root: true },
    typeof go === 'string'
      ? { name: 'Go net/http (standard library)', skip: go }
      : {
          name: 'Go net/http (standard library)',
          origin: go.origin,
          only: ['health', 'stats'],
          na: { blocks: noDriver, login: noArgon },
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
        row[s.name] = peer.na?.[s.name] ?? '–';
        continue;
      }
      const origin = peer.origin as string;
      const target = peer.root ? { ...s, path: '/' } : s;
      await loadScenario(target, origin, token, 1);
      const r = await loadScenario(target, origin, token, duration);
      row[s.name] =
        r.errors + r.non2xx + r.timeouts > 0 ? `failed: ${r.errors} errors, ${r.non2xx} non-2xx` : r;
      say(`${peer.name} · ${s.name}: ${Math.round(r.rps)} req/s, p99 ${r.latencyMs.p99} ms`);
    }
  }
} finally {
  for (const p of extra) await p.stop();
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
  '',
  `The \`before\` peer itself: ${beforeFacts.startupMs} ms from spawn to the first 200, ${beforeFacts.idleRssMb} MB RSS idle (one process).`,
].join('\n');
say(`\n${markdown}`);
await writeFile(
  path.join(ROOT, `bench/results/compare-${stamp}.json`),
  `${JSON.stringify(table, null, 2)}\n`,
);
if (values.readme) {
  // The committed record the README's seeds table reads the "Node before (measured)" column from.
  const record = {
    date: new Date().toISOString().slice(0, 10),
    cores: availableParallelism(),
    node: process.version,
    durationSec: duration,
    before: beforeFacts,
    table,
  };
  await writeFile(path.join(ROOT, 'bench/baselines/compare.json'), `${JSON.stringify(record, null, 2)}\n`);
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
