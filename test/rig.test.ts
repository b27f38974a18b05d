import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { bearer, H1Client, h2once, type Reply } from './helpers/clients.ts';
import { type RunningCluster, SIM_MINER_ENV, useCluster, withCluster } from './helpers/cluster.ts';
import { until } from './helpers/until.ts';
import { newUser } from './helpers/workspace.ts';

interface Status {
  state: string;
  pid: number | null;
  restarts: number;
  lastExit: { code: number | null } | null;
  recentLog: string[];
}

/** The simulated miners running under this cluster (never another service's on the host). */
const simMinerPids = (cluster: RunningCluster) => cluster.descendantPids(SIM_MINER_ENV.MINER_ARGS);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** A fresh account's token; accounts get the cluster's DEFAULT_SCOPES, so scopes are granted per cluster. */
async function tokenFor(h1: H1Client, origin: string, scopes: string): Promise<string> {
  const user = await newUser(h1, origin);
  assert.deepEqual(user.scopes, scopes.split(','));
  return user.token;
}

const base = { ...SIM_MINER_ENV, MINER_STOP_TIMEOUT_MS: '2000' };

describe('the miner, supervised once per host', () => {
  const service = useCluster(
    {
      env: { ...base, DEFAULT_SCOPES: 'miner:read,miner:control', SIM_MINER_INTERVAL_MS: '100' },
    },
    async () => {
      cluster = service.cluster;
      control = await tokenFor(service.h1, cluster.http, 'miner:read,miner:control');
    },
  );
  let cluster: RunningCluster;
  let control: string;
  /** Every miner process seen under the cluster. */
  const seen = new Set<number>();
  // Each fresh connection lands on the next worker, so these requests span both workers.
  const fresh = (p: string, token: string, init: { method?: string } = {}) =>
    h2once(cluster.http, p, { ...init, headers: bearer(token) });

  after(() => {
    // useCluster's hook, registered first, has stopped the service by now.
    assert.ok(seen.size > 0, 'a miner ran');
    assert.deepEqual([...seen].filter(alive), [], 'the miner stops with the service');
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
    assert.ok(running.pid);
    seen.add(running.pid);
    assert.deepEqual(simMinerPids(cluster), [running.pid]);
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
    assert.match(String(stats.headers.etag), /^"[\w-]+"$/);

    // Each report of the miner makes a new snapshot; paused, the miner makes none. Two commands
    // through the primary then flush the reports it wrote before pausing: the primary has read
    // them before it answers the second, and a worker takes broadcasts and answers in order.
    // One connection, so one worker and its snapshot.
    const { pid } = (await fresh('/api/miner/status', control)).json<Status>();
    assert.ok(pid);
    const pinned = new H1Client(undefined, { connections: 1 });
    const onPinned = (p: string, init: { method?: string; headers?: Record<string, string> } = {}) =>
      pinned.request(`${cluster.http}${p}`, { ...init, headers: { ...bearer(control), ...init.headers } });
    process.kill(pid, 'SIGSTOP');
    try {
      for (let i = 0; i < 2; i++) {
        assert.equal((await onPinned('/api/miner/start', { method: 'POST' })).status, 200, 'already running');
      }
      const a = await onPinned('/api/stats');
      assert.equal(a.status, 200);
      const b = await onPinned('/api/stats', { headers: { 'if-none-match': String(a.headers.etag) } });
      assert.equal(b.status, 304, 'the snapshot is unchanged');
      assert.equal(b.body.length, 0);
      assert.equal(b.headers.etag, a.headers.etag);
      assert.equal(b.headers.vary, a.headers.vary, 'a 304 varies as its 200 does');
      const other = await onPinned('/api/stats', { headers: { 'if-none-match': '"another-snapshot"' } });
      assert.equal(other.status, 200, 'an ETag that does not match gets the snapshot');
      assert.equal(other.text(), a.text());
    } finally {
      process.kill(pid, 'SIGCONT');
      await pinned.close();
    }
  });

  it("reports the miner's latest log lines, not those of its last state change", async () => {
    // The simulated miner prints this once it runs, after its state became "running".
    const status = await until('the log line in the status', async () => {
      const r = await fresh('/api/miner/status', control);
      const body = r.json<{ state: string; recentLog: string[] }>();
      return body.recentLog.some((l) => /^sim-miner starting with \d+ GPUs$/.test(l)) ? body : undefined;
    });
    assert.equal(status.state, 'running');
  });

  it('stops the miner, idempotently, from any worker', async () => {
    const stopped = await fresh('/api/miner/stop', control, { method: 'POST' });
    assert.equal(stopped.status, 200);
    assert.equal(stopped.json().state, 'stopped');
    assert.equal(stopped.json<Status>().lastExit?.code, 0);
    const twice = await fresh('/api/miner/stop', control, { method: 'POST' });
    assert.equal(twice.status, 200);
    assert.equal(twice.json().state, 'stopped');
    assert.deepEqual(simMinerPids(cluster), []);
    const status = await fresh('/api/miner/status', control);
    assert.equal(status.json().state, 'stopped');
    assert.ok(status.json<Status>().recentLog.some((l) => l.includes('sim-miner')));
  });
});

describe('scopes on miner control', () => {
  it('answers 403 to a token without miner:control', async () => {
    await withCluster({ env: { ...base, DEFAULT_SCOPES: 'miner:read' } }, async (cluster, h1) => {
      const token = await tokenFor(h1, cluster.http, 'miner:read');
      const res = await h1.request(`${cluster.http}/api/miner/start`, {
        method: 'POST',
        headers: bearer(token),
      });
      assert.equal(res.status, 403);
      assert.equal(res.json().code, 'FORBIDDEN');
      assert.deepEqual(simMinerPids(cluster), []);
      const status = await h1.request(`${cluster.http}/api/miner/status`, { headers: bearer(token) });
      assert.equal(status.status, 200);
    });
  });
});

describe('when the miner crashes', () => {
  it('marks it crashed and restarts it with backoff', async () => {
    const env = {
      ...base,
      DEFAULT_SCOPES: 'miner:read,miner:control',
      SIM_MINER_CRASH_AFTER_MS: '300',
      MINER_RESTART: 'on-failure',
      MINER_RESTART_BACKOFF_MAX_MS: '300',
    };
    await withCluster({ env }, async (cluster, h1) => {
      const token = await tokenFor(h1, cluster.http, 'miner:read,miner:control');
      const send = (p: string, method = 'GET') =>
        h1.request(`${cluster.http}${p}`, { method, headers: bearer(token) });
      assert.equal((await send('/api/miner/start', 'POST')).status, 202);
      const status = await until('two restarts', async () => {
        const s = (await send('/api/miner/status')).json<Status>();
        return s.restarts >= 2 ? s : undefined;
      });
      assert.equal(status.lastExit?.code, 1);
      assert.ok(status.recentLog.some((l) => l.includes('simulated crash')));
      assert.equal((await send('/api/miner/stop', 'POST')).json().state, 'stopped');
    });
  });
});
