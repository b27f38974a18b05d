import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { H1Client, h2once, type Reply } from './helpers/clients.ts';
import { killOnExit, ROOT, type RunningCluster, startCluster } from './helpers/cluster.ts';
import { useTestDatabase } from './helpers/database.ts';
import { until } from './helpers/until.ts';

const SIM_MINER = path.join(ROOT, 'src/miner/sim-miner.ts');

interface Status {
  state: string;
  pid: number | null;
  restarts: number;
  lastExit: { code: number | null } | null;
  recentLog: string[];
}

function simMinerPids(): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.includes(SIM_MINER))
    .map((l) => Number.parseInt(l.trim(), 10));
}

async function tokenFor(h1: H1Client, origin: string, scopes: string): Promise<string> {
  const email = `rig-${randomBytes(4).toString('hex')}@example.com`;
  const password = 'rig test password';
  // Accounts are registered with the cluster's DEFAULT_SCOPES; scopes are granted per cluster.
  const reg = await h1.request(`${origin}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  assert.equal(reg.status, 201, reg.text());
  assert.deepEqual(reg.json().scopes, scopes.split(','));
  const login = await h1.request(`${origin}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  return login.json().accessToken as string;
}

const base = (db: { url: string }) => ({
  DATABASE_URL: db.url,
  ARGON2_MEMORY_KIB: '1024',
  ARGON2_TIME_COST: '1',
  MINER_CMD: process.execPath,
  MINER_ARGS: SIM_MINER,
  MINER_STOP_TIMEOUT_MS: '2000',
});

const db = useTestDatabase();

describe('the miner, supervised once per host', () => {
  let cluster: RunningCluster;
  let h1: H1Client;
  let control: string;
  // Each fresh connection lands on the next worker, so these requests span both workers.
  const fresh = (
    p: string,
    token: string,
    init: { method?: string; headers?: Record<string, string> } = {},
  ) => h2once(cluster.http, p, { ...init, headers: { authorization: `Bearer ${token}`, ...init.headers } });

  before(async () => {
    cluster = await startCluster({
      env: { ...base(db), DEFAULT_SCOPES: 'miner:read,miner:control', SIM_MINER_INTERVAL_MS: '100' },
    });
    killOnExit(cluster);
    h1 = new H1Client();
    control = await tokenFor(h1, cluster.http, 'miner:read,miner:control');
  });
  after(async () => {
    await h1.close();
    assert.equal(await cluster.stop(), 0);
    assert.deepEqual(simMinerPids(), [], 'the miner stops with the service');
  });

  it('requires a token with miner:read to read and miner:control to act', async () => {
    assert.equal((await h2once(cluster.http, '/api/miner/status')).status, 401);
    assert.equal((await h2once(cluster.http, '/api/stats')).status, 401);
    const res = await fresh('/api/miner/start', 'not.a.token', { method: 'POST' });
    assert.equal(res.status, 401);
  });

  it('starts one miner from one request, and every worker then reports the same process', async () => {
    const first = await fresh('/api/miner/status', control);
    assert.equal(first.json().state, 'stopped');

    const started = await fresh('/api/miner/start', control, { method: 'POST' });
    assert.equal(started.status, 202, started.text());
    const running = await until('the miner to run', async () => {
      const s = (await fresh('/api/miner/status', control)).json<Status>();
      return s.state === 'running' ? s : undefined;
    });
    const again = await fresh('/api/miner/start', control, { method: 'POST' });
    assert.equal(again.status, 200, 'already running');

    const replies: Reply[] = [];
    for (let i = 0; i < 8; i++) replies.push(await fresh('/api/miner/status', control));
    for (const r of replies) {
      assert.equal(r.json().state, 'running');
      assert.equal(r.json().pid, running.pid);
    }
    assert.deepEqual(simMinerPids(), [running.pid]);
  });

  it('serves stats from memory with GPUs, shares and hashrate averages, and 304 for a matching ETag', async () => {
    const stats = await until('stats with a hashrate', async () => {
      const r = await fresh('/api/stats', control);
      return r.json<{ hashrate: { current: number } }>().hashrate.current > 0 ? r : undefined;
    });
    const body = stats.json<{
      hashrate: { current: number; avg1m: number; avg15m: number; unit: string };
      shares: { accepted: number };
      gpus: { temperatureC: number; hashrate: number }[];
      miner: { state: string };
      updatedAt: string;
    }>();
    assert.equal(body.hashrate.unit, 'H/s');
    assert.ok(body.hashrate.avg1m > 0 && body.hashrate.avg15m > 0);
    assert.equal(body.gpus.length, 4);
    assert.ok(body.gpus.every((g) => g.hashrate > 0 && g.temperatureC > 0));
    assert.equal(body.miner.state, 'running');
    const etag = String(stats.headers.etag);
    // The same worker answers 304 while the snapshot is unchanged; a newer one gets 200.
    const client = new H1Client();
    try {
      const a = await client.request(`${cluster.http}/api/stats`, {
        headers: { authorization: `Bearer ${control}` },
      });
      const b = await client.request(`${cluster.http}/api/stats`, {
        headers: { authorization: `Bearer ${control}`, 'if-none-match': String(a.headers.etag) },
      });
      assert.ok(b.status === 304 || b.headers.etag !== a.headers.etag, `got ${b.status}`);
      if (b.status === 304) {
        assert.equal(b.body.length, 0);
        assert.equal(b.headers.vary, a.headers.vary, 'a 304 varies as its 200 does');
      }
    } finally {
      await client.close();
    }
    assert.match(etag, /^"[\w-]+"$/);
  });

  it('stops the miner, idempotently, from any worker', async () => {
    const stopped = await fresh('/api/miner/stop', control, { method: 'POST' });
    assert.equal(stopped.status, 200);
    assert.equal(stopped.json().state, 'stopped');
    assert.equal(stopped.json<Status>().lastExit?.code, 0);
    const twice = await fresh('/api/miner/stop', control, { method: 'POST' });
    assert.equal(twice.status, 200);
    assert.equal(twice.json().state, 'stopped');
    assert.deepEqual(simMinerPids(), []);
    const status = await fresh('/api/miner/status', control);
    assert.equal(status.json().state, 'stopped');
    assert.ok(status.json<Status>().recentLog.some((l) => l.includes('sim-miner')));
  });
});

describe('scopes on miner control', () => {
  it('answers 403 to a token without miner:control', async () => {
    const cluster = await startCluster({ env: { ...base(db), DEFAULT_SCOPES: 'miner:read' } });
    killOnExit(cluster);
    const h1 = new H1Client();
    try {
      const token = await tokenFor(h1, cluster.http, 'miner:read');
      const res = await h1.request(`${cluster.http}/api/miner/start`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(res.status, 403);
      assert.equal(res.json().code, 'FORBIDDEN');
      assert.deepEqual(simMinerPids(), []);
      const status = await h1.request(`${cluster.http}/api/miner/status`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(status.status, 200);
    } finally {
      await h1.close();
      assert.equal(await cluster.stop(), 0);
    }
  });
});

describe('when the miner crashes', () => {
  it('marks it crashed and restarts it with backoff', async () => {
    const cluster = await startCluster({
      env: {
        ...base(db),
        DEFAULT_SCOPES: 'miner:read,miner:control',
        SIM_MINER_CRASH_AFTER_MS: '300',
        MINER_RESTART: 'on-failure',
        MINER_RESTART_BACKOFF_MAX_MS: '300',
      },
    });
    killOnExit(cluster);
    const h1 = new H1Client();
    try {
      const token = await tokenFor(h1, cluster.http, 'miner:read,miner:control');
      const auth = { authorization: `Bearer ${token}` };
      assert.equal(
        (await h1.request(`${cluster.http}/api/miner/start`, { method: 'POST', headers: auth })).status,
        202,
      );
      const status = await until('two restarts', async () => {
        const s = (await h1.request(`${cluster.http}/api/miner/status`, { headers: auth })).json<Status>();
        return s.restarts >= 2 ? s : undefined;
      });
      assert.equal(status.lastExit?.code, 1);
      assert.ok(status.recentLog.some((l) => l.includes('simulated crash')));
      const stopped = await h1.request(`${cluster.http}/api/miner/stop`, { method: 'POST', headers: auth });
      assert.equal(stopped.json().state, 'stopped');
    } finally {
      await h1.close();
      assert.equal(await cluster.stop(), 0);
    }
  });
});
