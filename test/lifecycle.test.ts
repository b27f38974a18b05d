import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { alive } from '../src/db/embedded.ts';
import { H1Client, H2Client, type Reply } from './helpers/clients.ts';
import { clusterOnly, killOnExit, type RunningCluster, startCluster, useCluster } from './helpers/cluster.ts';
import { useTestDatabase } from './helpers/database.ts';
import { until } from './helpers/until.ts';

const db = useTestDatabase();

/**
 * Sends the headers, waits for the worker's 100 Continue (so a worker holds the request), then
 * half a JSON body: a request that is in flight. `closed` resolves with the final answer.
 */
async function openSlowRequest(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  let raw = '';
  let continued: () => void;
  const interim = new Promise<void>((resolve) => {
    continued = resolve;
  });
  socket.on('data', (d) => {
    raw += d;
    const end = raw.indexOf('\r\n\r\n');
    if (raw.startsWith('HTTP/1.1 100 ') && end !== -1) {
      raw = raw.slice(end + 4);
      continued();
    }
  });
  // A reset is how this request ends when the service exits at once (second signal); what the
  // tests assert is what arrived before the close.
  socket.on('error', () => undefined);
  const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(raw)));
  const body = '{"slow": "request body"}';
  socket.write(
    'POST /api/nope HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n' +
      `Content-Length: ${body.length}\r\nX-Request-Id: slow-1\r\nExpect: 100-continue\r\n\r\n`,
  );
  await interim;
  socket.write(body.slice(0, 10));
  return { finish: () => socket.write(body.slice(10)), closed, socket };
}

describe('worker supervision', clusterOnly, () => {
  const service = useCluster({}, () => {
    ({ cluster, h1 } = service);
  });
  let cluster: RunningCluster;
  let h1: H1Client;

  it('replaces a worker killed with SIGKILL and keeps answering', async () => {
    const before = cluster.workerPids();
    assert.equal(before.length, 2);
    const victim = before[0] as number;
    process.kill(victim, 'SIGKILL');
    // Once the primary has seen the death (a connection it hands to a worker in that instant
    // is lost with it), the surviving worker answers while the replacement starts.
    await cluster.waitForLog((l) => l.msg === 'worker died; replacing it');
    for (let i = 0; i < 10; i++) {
      const res = await h1.request(`${cluster.http}/api/health`, { headers: { connection: 'close' } });
      assert.equal(res.status, 200);
    }
    const after = await until('a replacement worker', () => {
      const pids = cluster.workerPids();
      return pids.length === 2 && !pids.includes(victim) ? pids : undefined;
    });
    assert.ok(after.includes(before[1] as number));
    await cluster.waitForLog((l) => l.msg === 'worker ready' && !before.includes(l.pid as number));
    const metrics = await (await fetch(cluster.metrics)).text();
    assert.match(metrics, /ferrite_worker_restarts_total\{[^}]*reason="signal:SIGKILL"[^}]*\} 1/);
  });

  it('restarts every worker on SIGHUP with zero failed requests under a steady load', async () => {
    const before = cluster.workerPids();
    const failures: string[] = [];
    let ok = 0;
    let running = true;

    const h1Loop = async () => {
      while (running) {
        try {
          const res = await h1.request(`${cluster.http}/api/health`);
          if (res.status === 200) ok++;
          else failures.push(`h1 status ${res.status}`);
        } catch (err) {
          failures.push(`h1 ${(err as Error).message}`);
        }
      }
    };
    // An HTTP/2 client moves to a new connection when its session receives GOAWAY. Node's
    // client refuses (REFUSED_STREAM) a request it queued in the same tick as the GOAWAY
    // arrived, before sending it; RFC 9113 §8.7 makes such a request safe to retry, as
    // browsers and curl do, so this client retries it once on the new connection.
    const h2Loop = async () => {
      let client = new H2Client(cluster.http);
      const fresh = () => {
        if (client.goaway || client.session.closed || client.session.destroyed) {
          client = new H2Client(cluster.http);
        }
        return client;
      };
      while (running) {
        let res: Reply;
        try {
          try {
            res = await fresh().request('/api/health');
          } catch (err) {
            if (!/NGHTTP2_REFUSED_STREAM/.test((err as Error).message)) throw err;
            res = await fresh().request('/api/health');
          }
          if (res.status === 200) ok++;
          else failures.push(`h2 status ${res.status}`);
        } catch (err) {
          failures.push(`h2 ${(err as Error).message}`);
        }
      }
      await client.close();
    };

    const loops = [h1Loop(), h1Loop(), h1Loop(), h2Loop(), h2Loop()];
    try {
      await until('requests to flow', () => (ok >= 20 ? true : undefined));
      const rollStart = cluster.logs.length;
      process.kill(cluster.pid, 'SIGHUP');
      await cluster.waitForLog(
        (l) => l.msg === 'rolling restart finished' && cluster.logs.indexOf(l) >= rollStart,
        60_000,
      );
      const rolled = ok;
      await until('requests to the new workers', () => (ok >= rolled + 20 ? true : undefined));
    } finally {
      running = false;
      await Promise.all(loops);
    }

    assert.deepEqual(failures, []);
    const afterPids = cluster.workerPids();
    assert.equal(afterPids.length, 2);
    for (const pid of before) assert.ok(!afterPids.includes(pid), `worker ${pid} was replaced`);
  });
});

/** A cluster with a request in flight, sent SIGTERM and now draining. */
async function drainingWithSlowRequest(env: Record<string, string> = {}) {
  const cluster = await startCluster({ env: { DATABASE_URL: db.url, ...env } });
  killOnExit(cluster);
  const workers = cluster.workerPids();
  const slow = await openSlowRequest(cluster.ports.http);
  cluster.process.kill('SIGTERM');
  await cluster.waitForLog((l) => l.msg === 'worker draining');
  return { cluster, workers, slow };
}

describe('shutdown', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`stops the whole service started by \`npm start\` on ${signal} to npm, and exits 0`, async () => {
      // The embedded Postgres too: every process below npm has to go.
      const cluster = await startCluster({ via: 'npm', env: { DATABASE_URL: undefined } });
      killOnExit(cluster);
      const below = cluster.descendantPids('');
      assert.ok(
        cluster.descendantPids('ferrite-primary').length + cluster.descendantPids('ferrite-single').length >=
          1,
        'the service runs below npm',
      );
      assert.ok(cluster.descendantPids('postgres').length >= 1, 'and its embedded Postgres');
      assert.equal(await cluster.stop(signal), 0);
      await until('every process that ran below npm to exit', () =>
        below.every((pid) => !alive(pid)) ? true : undefined,
      );
    });
  }

  it('finishes an in-flight request on SIGTERM, then exits 0 leaving no worker behind', async () => {
    const { cluster, workers, slow } = await drainingWithSlowRequest();
    // New connections are refused once the listeners close…
    await until('the listener to close', async () => {
      const refused = await new Promise<boolean>((resolve) => {
        const s = net.connect(cluster.ports.http, '127.0.0.1');
        s.on('connect', () => {
          s.destroy();
          resolve(false);
        });
        s.on('error', () => resolve(true));
      });
      return refused || undefined;
    });
    // …while the request already in flight still gets its answer.
    slow.finish();
    const raw = await slow.closed;
    assert.match(raw, /^HTTP\/1\.1 404 /);
    assert.match(raw, /connection: close/i);
    assert.match(raw, /"requestId":"slow-1"/);

    assert.equal(await cluster.exited, 0);
    for (const pid of workers) assert.equal(alive(pid), false, `worker ${pid} exited`);
  });

  it('with SHUTDOWN_DELAY_MS, reports not ready but keeps serving (HTTP/1.1 and h2) before it drains, so a balancer can take it out first', async () => {
    const cluster = await startCluster({ env: { DATABASE_URL: db.url, SHUTDOWN_DELAY_MS: '60000' } });
    killOnExit(cluster);
    const h1 = new H1Client();
    try {
      assert.equal((await h1.request(`${cluster.http}/api/ready`)).status, 200);
      cluster.process.kill('SIGTERM');
      await cluster.waitForLog((l) => l.msg === 'worker leaving: not ready, still serving');
      // Every serving process says so before it answers 503 (the cluster's each worker).
      await until('every worker not ready', async () => {
        const answers = await Promise.all([1, 2, 3, 4].map(() => h1.request(`${cluster.http}/api/ready`)));
        return answers.every((r) => r.status === 503) ? answers : undefined;
      });
      const ready = await h1.request(`${cluster.http}/api/ready`);
      assert.equal(ready.status, 503);
      assert.equal(ready.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.match(ready.text(), /draining/);
      // New connections are still accepted and served, over HTTP/1.1 and h2.
      assert.equal((await h1.request(`${cluster.http}/api/health`)).status, 200);
      const h2 = new H2Client(cluster.http);
      assert.equal((await h2.request('/api/health')).status, 200);
      assert.equal((await h2.request('/api/ready')).status, 503);
      await h2.close();
      assert.ok(!cluster.logs.some((l) => l.msg === 'worker draining'), 'not draining yet');
      // A second signal ends the wait (and the service) at once.
      cluster.process.kill('SIGTERM');
      assert.equal(await cluster.exited, 1);
    } finally {
      await h1.close();
    }
  });

  it('sends GOAWAY to HTTP/2 sessions on SIGTERM', async () => {
    const cluster = await startCluster({ env: { DATABASE_URL: db.url } });
    killOnExit(cluster);
    const client = new H2Client(cluster.http);
    assert.equal((await client.request('/api/health')).status, 200);
    const goaway = new Promise<number>((resolve) => client.session.once('goaway', (code) => resolve(code)));
    cluster.process.kill('SIGTERM');
    assert.equal(await goaway, 0, 'GOAWAY with NO_ERROR');
    assert.equal(await cluster.exited, 0);
  });

  it('exits at once on a second signal', async () => {
    const { cluster, workers, slow } = await drainingWithSlowRequest({ SHUTDOWN_TIMEOUT_MS: '60000' });
    cluster.process.kill('SIGTERM');
    assert.equal(await cluster.exited, 1);
    assert.ok(cluster.logs.some((l) => l.msg === 'second signal; exiting now'));
    slow.socket.destroy();
    await until('workers to be gone', () => (workers.every((p) => !alive(p)) ? true : undefined));
  });

  it('gives up with a non-zero exit when workers crash in a loop', clusterOnly, async () => {
    const cluster = await startCluster({
      workers: 1,
      env: { DATABASE_URL: db.url, CRASH_LOOP_MAX: '3', CRASH_LOOP_WINDOW_MS: '60000' },
    });
    killOnExit(cluster);
    const killed = new Set<number>();
    for (let i = 0; i < 3; i++) {
      const pid = await until('a live worker', () => cluster.workerPids().find((p) => !killed.has(p)));
      killed.add(pid);
      process.kill(pid, 'SIGKILL');
    }
    assert.equal(await cluster.exited, 1);
    const fatal = cluster.logs.find((l) => l.level === 'fatal');
    assert.match(String(fatal?.msg), /crash-looping/);
  });
});

/**
 * A "Postgres" that accepts connections and never answers: start-up's migrations wait on it
 * (until `PG_CONNECT_TIMEOUT_MS`), which holds the start-up at its migration step.
 */
async function silentPostgres() {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/test`,
    sockets,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

describe('start-up', clusterOnly, () => {
  const held = async (pg: { url: string }) => {
    const cluster = await startCluster({
      waitReady: false,
      env: { PROCESS_MODEL: 'cluster', DATABASE_URL: pg.url, PG_CONNECT_TIMEOUT_MS: '120000' },
    });
    killOnExit(cluster);
    // The workers are forked and have loaded their modules (they set their title after that)
    // while the migrations still wait on the database.
    const workers = await until('both workers forked during start-up', () => {
      const pids = cluster.workerPids();
      return pids.length === 2 ? pids : undefined;
    });
    assert.ok(!cluster.logs.some((l) => l.msg === 'start-up steps done; releasing the workers'));
    assert.ok(!cluster.logs.some((l) => l.msg === 'worker ready'), 'no worker serves before the migrations');
    return { cluster, workers };
  };

  it('forks the workers while migrations run; when start-up fails, they leave with it', async () => {
    const pg = await silentPostgres();
    try {
      const { cluster, workers } = await held(pg);
      assert.ok(pg.sockets.size > 0, 'the migrations are waiting on the database');
      pg.close();
      assert.equal(await cluster.exited, 1);
      await until('the forked workers to be gone', () =>
        workers.every((p) => !alive(p)) ? true : undefined,
      );
    } finally {
      pg.close();
    }
  });

  it('stops with exit 0 on SIGTERM during start-up, taking the waiting workers along', async () => {
    const pg = await silentPostgres();
    try {
      const { cluster, workers } = await held(pg);
      cluster.process.kill('SIGTERM');
      assert.equal(await cluster.exited, 0);
      await until('the forked workers to be gone', () =>
        workers.every((p) => !alive(p)) ? true : undefined,
      );
    } finally {
      pg.close();
    }
  });
});
