import { connect, type Socket } from 'node:net';
import pg from 'pg';
import { request } from 'undici';
import WebSocket from 'ws';
import { rssBytes } from './proc.ts';
import { percentile } from './stats.ts';

export interface ExportResult {
  rows: number;
  seconds: number;
  rowsPerSec: number;
  wireMBps: number;
  /** Largest growth of any worker's RSS during the download. */
  workerRssGrowthMB: number;
}

/** Streams `rows` stats samples as gzip CSV and watches every worker's RSS while it runs. */
export async function exportScenario(
  origin: string,
  token: string,
  databaseUrl: string,
  workerPids: number[],
  rows: number,
): Promise<ExportResult> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query(
    `INSERT INTO stats_samples (at, host, hashrate, accepted, rejected, stale, gpus)
     SELECT timestamptz '2020-01-01' + make_interval(secs => g), 'lab', 2.4e8, g, 0, 0, '[]'::jsonb
     FROM generate_series(1, $1) AS g ON CONFLICT DO NOTHING`,
    [rows],
  );
  await client.end();
  const before = new Map(workerPids.map((p) => [p, rssBytes(p)]));
  let growth = 0;
  const timer = setInterval(() => {
    for (const p of workerPids) growth = Math.max(growth, rssBytes(p) - (before.get(p) ?? 0));
  }, 100);
  const started = performance.now();
  let bytes = 0;
  try {
    const res = await request(`${origin}/api/export/stats?format=csv&to=2021-01-01T00:00:00Z`, {
      headers: { authorization: `Bearer ${token}`, 'accept-encoding': 'gzip' },
    });
    if (res.statusCode !== 200) throw new Error(`export answered ${res.statusCode}`);
    for await (const chunk of res.body) bytes += (chunk as Buffer).length;
  } finally {
    clearInterval(timer);
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    rows,
    seconds: Math.round(seconds * 100) / 100,
    rowsPerSec: Math.round(rows / seconds),
    wireMBps: Math.round((bytes / 1024 / 1024 / seconds) * 10) / 10,
    workerRssGrowthMB: Math.round(growth / 1024 / 1024),
  };
}

export interface FanoutResult {
  clients: number;
  connected: number;
  broadcasts: number;
  deliveryMs: { p50: number; p99: number; max: number };
  /** Fan-out spread: first to last receipt of one broadcast, worst over the run. */
  spreadMs: number;
}

/**
 * Opens `clients` WebSockets (spread over the workers by the primary's round robin), then
 * stops and starts the miner `rounds` times; each change is broadcast to every client. A sample
 * is the delay from sending the API request to one client receiving the change, so it includes
 * the miner's own start or stop and the IPC hop from the primary, then the fan-out.
 */
export async function wsFanout(
  origin: string,
  token: string,
  clients: number,
  rounds: number,
): Promise<FanoutResult> {
  const url = `${origin.replace('http', 'ws')}/ws?token=${token}`;
  const sockets: WebSocket[] = [];
  const waiters = new Set<(state: string, at: number) => void>();
  const opened = await Promise.allSettled(
    Array.from(
      { length: clients },
      () =>
        new Promise<void>((resolve, reject) => {
          const ws = new WebSocket(url);
          sockets.push(ws);
          ws.on('message', (data) => {
            const at = performance.now();
            const msg = JSON.parse(String(data)) as { type: string; data: { state?: string } };
            if (msg.type === 'miner' && msg.data.state) for (const w of waiters) w(msg.data.state, at);
          });
          ws.once('open', () => resolve());
          ws.once('error', reject);
        }),
    ),
  );
  const connected = opened.filter((o) => o.status === 'fulfilled').length;
  const samples: number[] = [];
  let spread = 0;
  const auth = { authorization: `Bearer ${token}` };
  try {
    for (let i = 0; i < rounds; i++) {
      for (const op of ['stop', 'start'] as const) {
        const wanted = op === 'stop' ? 'stopped' : 'running';
        let seen = 0;
        let sent = 0;
        let first = 0;
        const all = new Promise<void>((resolve) => {
          const w = (state: string, at: number) => {
            if (state !== wanted || sent === 0) return;
            samples.push(at - sent);
            first ||= at;
            if (++seen === connected) {
              spread = Math.max(spread, at - first);
              waiters.delete(w);
              resolve();
            }
          };
          waiters.add(w);
        });
        sent = performance.now();
        const res = await fetch(`${origin}/api/miner/${op}`, { method: 'POST', headers: auth });
        await res.arrayBuffer();
        await Promise.race([all, new Promise((r) => setTimeout(r, 5000))]);
      }
    }
  } finally {
    for (const ws of sockets) ws.terminate();
  }
  const p = (q: number) => Math.round((percentile(samples, q) ?? 0) * 100) / 100;
  return {
    clients,
    connected,
    broadcasts: rounds * 2,
    deliveryMs: { p50: p(50), p99: p(99), max: p(100) },
    spreadMs: Math.round(spread * 100) / 100,
  };
}

export interface ConnectionsResult {
  wanted: number;
  held: number;
  /** Worker RSS growth while the connections were held, summed over workers. */
  workerRssGrowthMB: number;
  /** /api/health measured (10 connections, autocannon) while the idle ones were held. */
  healthWhileHeld: { rps: number; p50: number; p99: number };
}

/**
 * The seeds' ~10,000 concurrent connections: opens `n` keep-alive HTTP/1.1 connections, each
 * answered once (so the service really holds it, parsed and idle), then measures /api/health
 * beside them and how much memory they cost the workers.
 */
export async function holdConnections(
  origin: string,
  n: number,
  workerPids: number[],
  measure: () => Promise<{ rps: number; latencyMs: { p50: number; p99: number } }>,
): Promise<ConnectionsResult> {
  const { port } = new URL(origin);
  const before = workerPids.reduce((sum, p) => sum + rssBytes(p), 0);
  const sockets: Socket[] = [];
  const openOne = () =>
    new Promise<void>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: Number(port) });
      socket.setTimeout(10_000, () => socket.destroy(new Error('timeout')));
      socket.once('error', reject);
      socket.once('data', () => {
        socket.setTimeout(0);
        resolve();
      });
      socket.write('GET /api/health HTTP/1.1\r\nHost: lab\r\nConnection: keep-alive\r\n\r\n');
      sockets.push(socket);
    });
  let held = 0;
  try {
    for (let i = 0; i < n; i += 500) {
      const batch = await Promise.allSettled(Array.from({ length: Math.min(500, n - i) }, openOne));
      held += batch.filter((b) => b.status === 'fulfilled').length;
    }
    const after = workerPids.reduce((sum, p) => sum + rssBytes(p), 0);
    const r = await measure();
    return {
      wanted: n,
      // Answered once and still open after the measurement: held, not merely accepted.
      held: Math.min(held, sockets.filter((s) => !s.destroyed).length),
      workerRssGrowthMB: Math.round((after - before) / 1024 / 1024),
      healthWhileHeld: { rps: Math.round(r.rps), p50: r.latencyMs.p50, p99: r.latencyMs.p99 },
    };
  } finally {
    for (const s of sockets) s.destroy();
  }
}
