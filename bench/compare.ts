// `npm run bench:compare`: the peers side by side in one run, same load generator, same routes,
// same data. HTTP/1.1 with wrk (a C load generator: it does not saturate a core before the
// servers do), h2 with h2load over TLS, `login` with autocannon (it needs a request body).
// Runs are interleaved (each peer once, then each again, …) and each cell is the median of the
// runs. Prints the table, writes the record to bench/results/, and with --readme to
// bench/baselines/compare.json and the compare section of docs/performance.md
// (compare:start/compare:end; the flag's name is from when that table was in the README).
//
//   --duration S     seconds per run (5; --quick: 2)
//   --connections N  wrk connections (64)      --threads N  wrk threads (1)
//   --runs N         interleaved runs per cell (3; at least 3 for a median worth reading)
//   --scenario NAME  repeatable: health stats blocks 404 401 304 h2-health login
//   --peer ID        repeatable: ferrite express calibration go before nginx
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { freePort } from '../src/db/embedded.ts';
import { type CompareCell, type CompareRecord, compareSection } from './lib/compare-table.ts';
import { PERFORMANCE_DOC, writeSections } from './lib/doc-section.ts';
import { LAB_ENV, LOGIN_BODY, loadScenario, seed } from './lib/drive.ts';
import { h2loadRun, type LoadResult, medianResult, unexpectedResponses } from './lib/load.ts';
import { type Peer, startExpressPeer, startGoPeer, startNginx, waitOk } from './lib/peers.ts';
import { rssBytes } from './lib/proc.ts';
import { SCENARIOS } from './lib/scenarios.ts';
import { benchDatabase, ROOT, startCalibration, startService } from './lib/service.ts';
import { ensureDebianTool, wrkRun, wrkUnexpected } from './lib/wrk.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    readme: { type: 'boolean', default: false },
    duration: { type: 'string' },
    connections: { type: 'string', default: '64' },
    threads: { type: 'string', default: '1' },
    runs: { type: 'string', default: '3' },
    scenario: { type: 'string', multiple: true },
    peer: { type: 'string', multiple: true },
  },
});
const duration = Number(values.duration ?? (values.quick ? 2 : 5));
const connections = Number(values.connections);
const threads = Number(values.threads);
const runs = Number(values.runs);
const say = (line: string) => process.stdout.write(`${line}\n`);
if (![duration, connections, threads, runs].every((n) => Number.isInteger(n) && n > 0)) {
  throw new Error('--duration, --connections, --threads and --runs take positive integers');
}
if (runs < 3) say(`note: --runs ${runs}: fewer than three runs, the "median" is not one`);

type PeerId = 'ferrite' | 'express' | 'calibration' | 'go' | 'before' | 'nginx';
const workers = availableParallelism();
const PEERS: { id: PeerId; label: string }[] = [
  { id: 'ferrite', label: `ferrite (cluster, ${workers} workers)` },
  { id: 'express', label: `express 5 (cluster, ${workers} workers)` },
  { id: 'calibration', label: 'node:http (bare cluster)' },
  { id: 'go', label: 'Go net/http' },
  { id: 'before', label: 'before (one express process)' },
  { id: 'nginx', label: 'nginx (from memory)' },
];

/** An HTTP/1.1 scenario (wrk). `/` for peers in `root` (they answer every path the same). */
interface WrkScenario {
  name: string;
  label: string;
  path: string;
  auth: boolean;
  /** If-None-Match with the peer's own current ETag of `path`. */
  conditional?: boolean;
  expect: number;
  peers: PeerId[];
  root?: PeerId[];
  na?: Partial<Record<PeerId, string>>;
}
const noDriver = "n/a: no Postgres driver in Go's standard library";
const HTTP1: WrkScenario[] = [
  {
    name: 'health',
    label: '`health` GET /api/health',
    path: '/api/health',
    auth: false,
    expect: 200,
    peers: ['ferrite', 'express', 'calibration', 'go', 'before', 'nginx'],
    root: ['calibration', 'nginx'],
  },
  {
    name: 'stats',
    label: '`stats` GET /api/stats (bearer)',
    path: '/api/stats',
    auth: true,
    expect: 200,
    peers: ['ferrite', 'express', 'go', 'before'],
  },
  {
    name: 'blocks',
    label: '`blocks` keyset page (Postgres)',
    path: '/api/blocks/validated?limit=50',
    auth: true,
    expect: 200,
    peers: ['ferrite', 'express', 'before'],
    na: { go: noDriver },
  },
  {
    name: '404',
    label: '`404` unknown /api path',
    path: '/api/no-such-route',
    auth: false,
    expect: 404,
    peers: ['ferrite', 'express', 'go'],
  },
  {
    name: '401',
    label: '`401` /api/stats without a token',
    path: '/api/stats',
    auth: false,
    expect: 401,
    peers: ['ferrite', 'express', 'go'],
  },
  {
    name: '304',
    label: '`304` /api/stats, If-None-Match',
    path: '/api/stats',
    auth: true,
    conditional: true,
    expect: 304,
    peers: ['ferrite', 'express', 'go'],
  },
];
const EXTRA = ['h2-health', 'login'] as const;
const known = [...HTTP1.map((s) => s.name), ...EXTRA];
for (const n of values.scenario ?? [])
  if (!known.includes(n)) throw new Error(`unknown scenario ${n} (${known.join(', ')})`);
for (const p of values.peer ?? [])
  if (!PEERS.some((x) => x.id === p))
    throw new Error(`unknown peer ${p} (${PEERS.map((x) => x.id).join(', ')})`);
const wantScenario = (n: string) => !values.scenario || values.scenario.includes(n);
const wantPeer = (p: PeerId) => !values.peer || values.peer.includes(p);

// Load generators: wrk is required; h2load and Go are installed when missing and running as root.
const noWrk = ensureDebianTool('wrk', 'wrk', say);
if (noWrk) {
  say(`bench:compare needs wrk. ${noWrk}`);
  process.exit(1);
}
const noH2load = wantScenario('h2-health')
  ? ensureDebianTool('h2load', 'nghttp2-client', say)
  : 'not asked for';
const noGo = wantPeer('go') ? ensureDebianTool('go', 'golang-go', say) : undefined;

/** One GET with node:http (fetch adds `Cache-Control: no-cache` to conditional requests). */
function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      })
      .on('error', reject);
  });
}

const secret = randomBytes(48).toString('base64url');
const db = await benchDatabase();
const stamp = new Date().toISOString().replaceAll(':', '-');
await mkdir(path.join(ROOT, 'bench/results'), { recursive: true });
// One self-signed certificate for every TLS listener (ferrite's, Go's).
const tlsDir = await mkdtemp(path.join(tmpdir(), 'ferrite-compare-tls-'));
const tls = { cert: path.join(tlsDir, 'cert.pem'), key: path.join(tlsDir, 'key.pem') };
{
  const { generate } = await import('selfsigned');
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
  } as Parameters<typeof generate>[1]);
  await writeFile(tls.cert, pems.cert);
  await writeFile(tls.key, pems.private);
}
const httpsPort = await freePort();
const ferrite = await startService(db.url, path.join(ROOT, `bench/results/compare-${stamp}.service.log`), {
  ...LAB_ENV,
  JWT_SECRET: secret,
  STATS_PERSIST_INTERVAL_MS: '500',
  HTTPS_PORT: String(httpsPort),
  TLS_CERT: tls.cert,
  TLS_KEY: tls.key,
});
let before: ChildProcess | undefined;
const stoppers: (() => Promise<void>)[] = [];
const origins: Partial<Record<PeerId, string>> = { ferrite: ferrite.origin };
const skipped: Partial<Record<PeerId, string>> = {};
const cells: CompareRecord['cells'] = {};
const notes: string[] = [];
const beforeFacts: CompareRecord['before'] = {};
let goTls: string | undefined;
try {
  let token = await seed(ferrite.origin, db.url);
  /** A fresh access token (they live 15 minutes; a long run outlives one). */
  const mint = async () => {
    const res = await fetch(`${ferrite.origin}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: LOGIN_BODY,
    });
    if (res.status !== 200) throw new Error(`login answered ${res.status}`);
    token = ((await res.json()) as { accessToken: string }).accessToken;
  };
  const statsBody = (await get(`${ferrite.origin}/api/stats`, { authorization: `Bearer ${token}` })).body;

  if (wantPeer('calibration')) {
    const cal = await startCalibration();
    stoppers.push(cal.stop);
    origins.calibration = cal.origin;
  }
  if (wantPeer('express')) {
    const express = await startExpressPeer(secret, statsBody, db.url, workers);
    stoppers.push(express.stop);
    origins.express = express.origin;
  }
  if (wantPeer('go')) {
    const go = noGo ?? (await startGoPeer(secret, statsBody, tls));
    if (typeof go === 'string') skipped.go = go;
    else {
      stoppers.push(go.stop);
      origins.go = go.origin;
      goTls = go.tlsOrigin;
    }
  }
  if (wantPeer('nginx')) {
    const nginx: Peer | string = await startNginx(
      (await get(`${ferrite.origin}/api/health`)).body.toString(),
    );
    if (typeof nginx === 'string') skipped.nginx = nginx;
    else {
      stoppers.push(nginx.stop);
      origins.nginx = nginx.origin;
    }
  }
  if (wantPeer('before')) {
    const beforePort = await freePort();
    const spawned = performance.now();
    before = spawn(process.execPath, [path.join(ROOT, 'bench/peers/before.ts')], {
      env: { ...process.env, PORT: String(beforePort), DATABASE_URL: db.url, JWT_SECRET: secret },
      stdio: 'ignore',
    });
    origins.before = `http://127.0.0.1:${beforePort}`;
    await waitOk(`${origins.before}/api/health`);
    beforeFacts.startupMs = Math.round(performance.now() - spawned);
    await sleep(1000);
    beforeFacts.idleRssMb = Math.round(rssBytes(before.pid as number) / 2 ** 20);
  }

  // The express peer copies ferrite's response headers by hand: say when they drift apart.
  const transport = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding']);
  const headerNames = (h: http.IncomingHttpHeaders) =>
    Object.keys(h)
      .filter((k) => !transport.has(k))
      .sort();

  const wrkOpts = { threads, connections };
  const http1Label = `wrk -t${threads} -c${connections} -d${duration}s --latency`;
  /** The median of a peer's runs, or why it failed: a wrong answer, or no answer at all. */
  const cellOf = (
    all: LoadResult[],
    bad: (r: LoadResult) => number,
    expect: number,
  ): CompareCell | string => {
    const median = medianResult(all);
    const n = bad(median);
    if (n > 0)
      return `failed: ${n} answers not ${expect} (${median.errors} socket errors, ${median.timeouts} timeouts, ${median.non2xx} non-2xx)`;
    if (all.some((r) => r.requests === 0)) return 'failed: a run completed no request';
    return { median, runsRps: all.map((r) => r.rps) };
  };

  for (const s of HTTP1) {
    if (!wantScenario(s.name)) continue;
    const row: Record<string, CompareCell | string> = {};
    cells[s.name] = row;
    await mint();
    if (s.conditional) {
      // The simulated miner changes the snapshot (and its ETag) every second; a revalidation
      // benchmark needs one that holds still, so the miner is stopped from here on.
      await fetch(`${ferrite.origin}/api/miner/stop`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      let last = '';
      for (let same = 0, i = 0; same < 8 && i < 100; i++) {
        await sleep(250);
        const tag = String(
          (await get(`${ferrite.origin}${s.path}`, { authorization: `Bearer ${token}` })).headers.etag,
        );
        same = tag === last ? same + 1 : 0;
        last = tag;
      }
      notes.push(
        '`304`: each peer revalidates its own ETag of `/api/stats`; measured with the simulated miner stopped (it changes the snapshot every second).',
      );
    }
    const targets: { id: PeerId; url: string; headers: Record<string, string> }[] = [];
    let reference: string[] | undefined;
    for (const p of PEERS) {
      if (!s.peers.includes(p.id)) {
        if (s.na?.[p.id]) row[p.id] = s.na[p.id] as string;
        continue;
      }
      if (skipped[p.id]) {
        row[p.id] = `skipped: ${skipped[p.id]}`;
        continue;
      }
      const origin = origins[p.id];
      if (!origin) continue;
      const url = `${origin}${s.root?.includes(p.id) ? '/' : s.path}`;
      const headers: Record<string, string> = s.auth ? { authorization: `Bearer ${token}` } : {};
      if (s.conditional) headers['if-none-match'] = String((await get(url, headers)).headers.etag ?? '');
      // The probe: one request's status and header names, then a short run counting every status.
      const probe = await get(url, headers);
      if (p.id === 'ferrite') reference = headerNames(probe.headers);
      if (p.id === 'express' && reference) {
        const names = headerNames(probe.headers);
        const missing = reference.filter((n) => !names.includes(n));
        const extra = names.filter((n) => !reference?.includes(n));
        if (missing.length || extra.length) {
          const line = `\`${s.name}\`: the express peer's headers differ from ferrite's (missing: ${missing.join(', ') || 'none'}; extra: ${extra.join(', ') || 'none'})`;
          say(`warning: ${line}`);
          notes.push(line);
        }
      }
      if (probe.status !== s.expect) {
        row[p.id] = `failed: answered ${probe.status}, expected ${s.expect}`;
        say(`${s.name} · ${p.id}: ${row[p.id]}`);
        continue;
      }
      const warm = await wrkRun({ ...wrkOpts, url, headers, durationSec: 1, countStatuses: true });
      const bad = wrkUnexpected(warm, [s.expect]);
      if (bad > 0) {
        row[p.id] =
          `failed: ${bad} of ${warm.requests} answers not ${s.expect} (${JSON.stringify(warm.statuses ?? {})})`;
        say(`${s.name} · ${p.id}: ${row[p.id]}`);
        continue;
      }
      targets.push({ id: p.id, url, headers });
    }
    const results = new Map<PeerId, LoadResult[]>();
    for (let run = 1; run <= runs; run++) {
      for (const t of targets) {
        const r = await wrkRun({ ...wrkOpts, url: t.url, headers: t.headers, durationSec: duration });
        results.set(t.id, [...(results.get(t.id) ?? []), r]);
        say(
          `${s.name} · ${t.id} · run ${run}/${runs}: ${Math.round(r.rps).toLocaleString('en')} req/s, p99 ${r.latencyMs.p99} ms${
            wrkUnexpected(r, [s.expect]) ? `, ${wrkUnexpected(r, [s.expect])} unexpected` : ''
          }`,
        );
      }
    }
    for (const t of targets)
      row[t.id] = cellOf(results.get(t.id) ?? [], (r) => wrkUnexpected(r, [s.expect]), s.expect);
  }

  // h2 over TLS, h2load: ferrite and Go (net/http negotiates h2 by ALPN).
  const h2Label = `h2load -D ${duration} -c10 -m10`;
  if (wantScenario('h2-health')) {
    const row: Record<string, CompareCell | string> = {};
    cells['h2-health'] = row;
    const targets: { id: PeerId; url: string }[] = [];
    if (noH2load) row.ferrite = `skipped: ${noH2load}`;
    else {
      targets.push({ id: 'ferrite', url: `https://127.0.0.1:${httpsPort}/api/health` });
      if (goTls) targets.push({ id: 'go', url: `${goTls}/api/health` });
      else if (skipped.go) row.go = `skipped: ${skipped.go}`;
    }
    const h2 = (url: string, sec: number) =>
      h2loadRun({ url, connections: 10, streams: 10, durationSec: sec });
    for (const t of targets) await h2(t.url, 1);
    const results = new Map<PeerId, LoadResult[]>();
    for (let run = 1; run <= runs; run++) {
      for (const t of targets) {
        const r = await h2(t.url, duration);
        results.set(t.id, [...(results.get(t.id) ?? []), r]);
        say(
          `h2-health · ${t.id} · run ${run}/${runs}: ${Math.round(r.rps).toLocaleString('en')} req/s, p99 ${r.latencyMs.p99} ms`,
        );
      }
    }
    for (const t of targets)
      row[t.id] = cellOf(results.get(t.id) ?? [], (r) => unexpectedResponses(r, [200]), 200);
  }

  // login needs a body per request: autocannon, with the lab scenario's connections.
  const login = SCENARIOS.find((s) => s.name === 'login');
  if (wantScenario('login') && login) {
    const row: Record<string, CompareCell | string> = {};
    cells.login = row;
    const targets = (['ferrite', 'before'] as const).filter((id) => origins[id]);
    for (const id of targets) await loadScenario(login, origins[id] as string, token, 1);
    const results = new Map<PeerId, LoadResult[]>();
    for (let run = 1; run <= runs; run++) {
      for (const id of targets) {
        const r = await loadScenario(login, origins[id] as string, token, duration);
        results.set(id, [...(results.get(id) ?? []), r]);
        say(`login · ${id} · run ${run}/${runs}: ${Math.round(r.rps)} req/s, p99 ${r.latencyMs.p99} ms`);
      }
    }
    for (const id of targets)
      row[id] = cellOf(results.get(id) ?? [], (r) => unexpectedResponses(r, login.expect), 200);
    row.go = "n/a: no argon2 in Go's standard library";
  }

  const record: CompareRecord = {
    format: 2,
    date: new Date().toISOString().slice(0, 10),
    cores: availableParallelism(),
    cpu: cpus()[0]?.model.trim(),
    node: process.version,
    load: {
      http1: http1Label,
      ...(cells['h2-health'] ? { h2: h2Label } : {}),
      ...(cells.login ? { login: `autocannon (${login?.connections} connections)` } : {}),
      runs,
    },
    before: beforeFacts,
    peers: PEERS.filter((p) => wantPeer(p.id)),
    scenarios: [
      ...HTTP1.filter((s) => cells[s.name]).map((s) => ({ name: s.name, label: s.label, tool: 'wrk' })),
      ...(cells['h2-health']
        ? [{ name: 'h2-health', label: '`h2-health` GET /api/health, TLS h2', tool: 'h2load' }]
        : []),
      ...(cells.login
        ? [{ name: 'login', label: '`login` POST /api/auth/login (argon2id)', tool: 'autocannon' }]
        : []),
    ],
    cells,
    notes: [
      ...notes,
      "Every peer sends ferrite's headers (X-Request-Id, the API security headers, Vary, ETag); the express peer copies them by hand, Go too. `calibration` and `nginx` answer `/` with the health bytes and nothing else.",
      ...(beforeFacts.startupMs
        ? [
            `The \`before\` peer itself: ${beforeFacts.startupMs} ms from spawn to the first 200, ${beforeFacts.idleRssMb} MB RSS idle (one process).`,
          ]
        : []),
    ],
  };
  const markdown = compareSection(record);
  say(`\n${markdown}`);
  await writeFile(
    path.join(ROOT, `bench/results/compare-${stamp}.json`),
    `${JSON.stringify(record, null, 2)}\n`,
  );
  if (values.readme) {
    await writeSections(PERFORMANCE_DOC, { compare: markdown });
    await writeFile(path.join(ROOT, 'bench/baselines/compare.json'), `${JSON.stringify(record, null, 2)}\n`);
    say(`${path.relative(ROOT, PERFORMANCE_DOC)} compare section and bench/baselines/compare.json updated`);
  }
} finally {
  for (const stop of stoppers) await stop();
  if (before && before.exitCode === null) {
    before.kill('SIGTERM');
    await once(before, 'exit');
  }
  await ferrite.stop();
  await db.stop();
  await rm(tlsDir, { recursive: true, force: true });
}
process.exit(0);
