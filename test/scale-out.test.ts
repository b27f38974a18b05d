// Issue 17: ferrite as several hosts. Two whole services (primary and workers, DATA_DIR of their
// own) in network namespaces of their own (loopback addresses where the machine allows none),
// one shared Postgres, Debian's HAProxy in front with health checks on /api/ready, and clients
// that only know the balancer: what an operator adding a second host needs to trust.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { Balancer } from './helpers/balancer.ts';
import { runCli } from './helpers/cli.ts';
import { H1Client } from './helpers/clients.ts';
import { clusterOnly, ROOT } from './helpers/cluster.ts';
import { createTestDatabase, releasePostgresServer, type TestDatabase } from './helpers/database.ts';
import { GeminiStub } from './helpers/gemini-stub.ts';
import { FerriteHost } from './helpers/hosts.ts';
import { HttpDouble } from './helpers/http-double.ts';
import { idsOf, SseStream } from './helpers/sse.ts';
import { SteadyLoad } from './helpers/steady-load.ts';
import { until } from './helpers/until.ts';
import { WorkflowUser } from './helpers/workflow.ts';
import { Api, newUser } from './helpers/workspace.ts';

const REGISTER_MAX = 4;
const LOGIN_FAILURES_MAX = 5;
const PROJECTS_MAX = 5;

/** Each test is its own client address, so per-address limits of one do not reach another. */
let nextAddress = 20;
const clientAddress = () => `127.0.0.${nextAddress++}`;

/** 1, 2, …, n */
const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe('two hosts behind a load balancer', clusterOnly, () => {
  let db: TestDatabase;
  let hosts: FerriteHost[];
  let host1: FerriteHost;
  let host2: FerriteHost;
  // The configuration docs/scaling.md recommends (retries on refused connections)…
  const lb = new Balancer({ checkIntervalMs: 250, fall: 2, rise: 2 });
  // …and one that retries nothing, where only the hosts' own shutdown keeps a restart lossless.
  const strict = new Balancer({ checkIntervalMs: 250, fall: 2, rise: 2, retries: false });
  const gemini = new GeminiStub();
  const legacy = new HttpDouble((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ servedBy: 'legacy', path: req.url }));
  });
  let routesFile: string;
  const clients: H1Client[] = [];

  /** An HTTP/1.1 client of the balancer connecting from an address of its own. */
  const client = () => {
    const c = new H1Client(undefined, { localAddress: clientAddress() });
    clients.push(c);
    return c;
  };
  /** Pins a request to one host (the balancer passes over a host that is down). */
  const on = (host: FerriteHost, headers: Record<string, string> = {}) => ({
    ...headers,
    'x-test-host': host.name,
  });
  const json = { 'content-type': 'application/json' };

  /** Both hosts up and seen up by the balancer (a test that stopped one starts it again). */
  async function bothUp(): Promise<void> {
    for (const h of hosts) {
      if (!h.running) await h.start();
      await lb.waitFor(h.name, 'UP');
      await strict.waitFor(h.name, 'UP');
    }
  }

  before(async () => {
    // GET /api/projects is ferrite's (a canary at 100 %) until an operator rolls it back.
    routesFile = path.join(await mkdtemp(path.join(tmpdir(), 'ferrite-routes-')), 'routes.json');
    await writeFile(
      routesFile,
      JSON.stringify({
        routes: [
          {
            name: 'project-list',
            match: 'GET /api/projects',
            serve: 'canary',
            percent: 100,
            rollback: { minSamples: 1000000 },
          },
        ],
      }),
    );
    db = await createTestDatabase();
    await Promise.all([gemini.start(), legacy.start()]);
    hosts = await Promise.all(
      [1, 2].map((i) =>
        FerriteHost.create(i, {
          databaseUrl: db.url,
          reachEnv: { GEMINI_BASE_URL: gemini.url, LEGACY_UPSTREAM_URL: legacy.url },
          env: {
            JWT_SECRET: 'scale-out test secret that is long enough for HS256',
            // A stopping host answers /api/ready 503 for longer than the balancer's
            // inter × fall (250 ms × 2) before it stops accepting.
            SHUTDOWN_DELAY_MS: '1500',
            SSE_HEARTBEAT_MS: '200',
            SSE_RETRY_MS: '250',
            REGISTER_MAX_PER_IP: String(REGISTER_MAX),
            PROJECTS_MAX_PER_USER: String(PROJECTS_MAX),
            LOGIN_MAX_FAILURES_PER_CLIENT: String(LOGIN_FAILURES_MAX),
            GEMINI_API_KEY: 'test-key',
            GEMINI_MODEL: 'gemini-stub',
            WORKFLOW_PLANNER: 'rules',
            WORKFLOW_LEASE_MS: '2000',
            WORKFLOW_HEARTBEAT_MS: '400',
            WORKFLOW_SWEEP_INTERVAL_MS: '400',
            ROUTES_FILE: routesFile,
          },
        }),
      ),
    );
    [host1, host2] = hosts as [FerriteHost, FerriteHost];
    await Promise.all(hosts.map((h) => h.start()));
    const backends = hosts.map((h) => ({ name: h.name, address: h.net.address, port: h.port }));
    await Promise.all([lb.start(backends), strict.start(backends)]);
    await bothUp();
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    const codes = await Promise.all(hosts?.map((h) => h.stop()) ?? []);
    await Promise.all([lb.stop(), strict.stop()]);
    await Promise.all(hosts?.map((h) => h.close()) ?? []);
    await Promise.all([gemini.close(), legacy.close()]);
    await db?.drop();
    await releasePostgresServer();
    assert.deepEqual(codes, [0, 0], 'both hosts exit 0 when stopped');
  });

  it('balances round-robin over both hosts, over HTTP/1.1 and h2 (TLS), and reports where the client is', async () => {
    const c = client();
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const res = await c.request(lb.url('/api/ready'));
      assert.equal(res.status, 200);
    }
    // Each host counts the requests it served: both served some.
    for (const h of hosts) {
      const metrics = await (await fetch(h.cluster.metrics)).text();
      if (/http_requests_total\{[^}]*route="\/api\/ready"[^}]*\} [1-9]/.test(metrics)) seen.add(h.name);
    }
    assert.deepEqual([...seen].sort(), ['host1', 'host2']);
    const { h2once } = await import('./helpers/clients.ts');
    const h2 = await h2once(lb.secureUrl(), '/api/health', {}, lb.ca);
    assert.equal(h2.status, 200);
  });

  it('counts registrations and failed logins across hosts: the limit is the same whichever host answers', async () => {
    const c = client();
    const email = `limits-${randomBytes(4).toString('hex')}@example.com`;
    const register = (host: FerriteHost, mail: string) =>
      c.request(lb.url('/api/auth/register'), {
        method: 'POST',
        headers: on(host, json),
        body: JSON.stringify({ email: mail, password: 'a long enough password' }),
      });
    // Registrations from one client address, alternating hosts: the limit counts them all.
    const statuses: number[] = [];
    for (let i = 0; i < REGISTER_MAX; i++) {
      const mail = i === 0 ? email : `other-${i}-${email}`;
      statuses.push((await register(i % 2 ? host2 : host1, mail)).status);
    }
    assert.deepEqual(statuses, Array(REGISTER_MAX).fill(201));
    for (const h of hosts) {
      const over = await register(h, `over-${h.name}-${email}`);
      assert.equal(over.status, 429, `${h.name}: ${over.text()}`);
      assert.equal(over.json().code, 'TOO_MANY_REQUESTS');
    }

    const login = (host: FerriteHost, password: string) =>
      c.request(lb.url('/api/auth/login'), {
        method: 'POST',
        headers: on(host, json),
        body: JSON.stringify({ email, password }),
      });
    for (let i = 0; i < LOGIN_FAILURES_MAX; i++) {
      const res = await login(i % 2 ? host2 : host1, 'the wrong password');
      assert.equal(res.status, 401, res.text());
    }
    for (const h of hosts) {
      const res = await login(h, 'a long enough password');
      assert.equal(res.status, 429, `${h.name} refuses even the right password now: ${res.text()}`);
    }
  });

  it("names the client from the balancer's X-Forwarded-For, not from what the client claims", async () => {
    const c = client();
    const email = `xff-${randomBytes(4).toString('hex')}@example.com`;
    // A client that forges X-Forwarded-For gets a new address with every request, it hopes.
    const statuses: number[] = [];
    for (let i = 0; i <= REGISTER_MAX; i++) {
      const res = await c.request(lb.url('/api/auth/register'), {
        method: 'POST',
        headers: { ...json, 'x-forwarded-for': `198.51.100.${i}` },
        body: JSON.stringify({ email: `${i}-${email}`, password: 'a long enough password' }),
      });
      statuses.push(res.status);
    }
    assert.deepEqual(statuses, [...Array(REGISTER_MAX).fill(201), 429]);
  });

  it('revokes the whole family when a refresh token rotated on one host is replayed on the other', async () => {
    const c = client();
    const user = await newUser(c, lb.url());
    const refresh = (host: FerriteHost, refreshToken: string) =>
      c.request(lb.url('/api/auth/refresh'), {
        method: 'POST',
        headers: on(host, json),
        body: JSON.stringify({ refreshToken }),
      });
    const login = await c.request(lb.url('/api/auth/login'), {
      method: 'POST',
      headers: on(host1, json),
      body: JSON.stringify({ email: user.email, password: user.password }),
    });
    const first = login.json().refreshToken as string;
    const rotated = await refresh(host1, first);
    assert.equal(rotated.status, 200, rotated.text());
    const second = rotated.json().refreshToken as string;

    const replayed = await refresh(host2, first);
    assert.equal(replayed.status, 401, replayed.text());
    // The thief's replay revoked the family: the legitimate newest token is dead on both hosts.
    for (const h of hosts) {
      const res = await refresh(h, second);
      assert.equal(res.status, 401, `${h.name}: ${res.text()}`);
    }
  });

  it('loses no update when writers on both hosts change one file with If-Match', async () => {
    const c = client();
    const user = await newUser(c, lb.url());
    const api = new Api(c, lb.url(), user.token);
    const id = await api.createProject();
    assert.equal((await api.put(id, 'shared.txt', '')).status, 201);
    const perWriter = 15;
    let conflicts = 0;
    const writer = async (host: FerriteHost) => {
      for (let i = 0; i < perWriter; i++) {
        for (;;) {
          const cur = await api.get(id, 'shared.txt', on(host));
          assert.equal(cur.status, 200);
          const next = `${cur.text()}${host.name} ${i}\n`;
          const put = await api.put(
            id,
            'shared.txt',
            next,
            on(host, { 'if-match': cur.headers.etag as string }),
          );
          if (put.status === 200) break;
          assert.equal(put.status, 412, put.text());
          conflicts++;
        }
      }
    };
    await Promise.all([writer(host1), writer(host2)]);
    const lines = (await api.get(id, 'shared.txt')).text().trim().split('\n').sort();
    const expected = hosts
      .flatMap((h) => Array.from({ length: perWriter }, (_, i) => `${h.name} ${i}`))
      .sort();
    assert.deepEqual(lines, expected, `every update is there once (${conflicts} conflicts retried)`);
  });

  it('holds a per-user quota across hosts when both race to pass it', async () => {
    const c = client();
    const user = await newUser(c, lb.url());
    const create = (host: FerriteHost, i: number) =>
      c.request(lb.url('/api/projects'), {
        method: 'POST',
        headers: on(host, { ...json, authorization: `Bearer ${user.token}` }),
        body: JSON.stringify({ name: `race ${i}` }),
      });
    const answers = await Promise.all(
      Array.from({ length: PROJECTS_MAX * 2 }, (_, i) => create(i % 2 ? host2 : host1, i)),
    );
    const statuses = answers.map((r) => r.status).sort();
    assert.deepEqual(statuses, [...Array(PROJECTS_MAX).fill(201), ...Array(PROJECTS_MAX).fill(413)]);
    for (const r of answers.filter((a) => a.status === 413)) assert.equal(r.json().code, 'QUOTA_EXCEEDED');
    const list = await c.request(lb.url('/api/projects'), {
      headers: { authorization: `Bearer ${user.token}` },
    });
    assert.equal((list.json() as { items: unknown[] }).items.length, PROJECTS_MAX);
  });

  it('shares the cut-over state: a rollback ordered against the database holds on both hosts at once', async () => {
    const c = client();
    const user = await newUser(c, lb.url());
    const who = async (host: FerriteHost) => {
      const res = await c.request(lb.url('/api/projects'), {
        headers: on(host, { authorization: `Bearer ${user.token}` }),
      });
      return res.status === 200 && (res.json() as { servedBy?: string }).servedBy === 'legacy'
        ? 'legacy'
        : `ferrite ${res.status}`;
    };
    const routes = (...args: string[]) =>
      runCli(path.join(ROOT, 'src/cli/routes.ts'), args, {
        DATABASE_URL: db.url,
        ROUTES_FILE: routesFile,
        LEGACY_UPSTREAM_URL: legacy.url,
      });
    assert.deepEqual([await who(host1), await who(host2)], ['ferrite 200', 'ferrite 200']);
    assert.equal((await routes('rollback', 'project-list')).code, 0);
    await until('both hosts to serve the route from the legacy service', async () =>
      (await who(host1)) === 'legacy' && (await who(host2)) === 'legacy' ? true : undefined,
    );
    assert.equal((await routes('reset', 'project-list')).code, 0);
    await until('both hosts to serve it again', async () =>
      (await who(host1)) === 'ferrite 200' && (await who(host2)) === 'ferrite 200' ? true : undefined,
    );
  });

  it('resumes an event stream on the other host when its host stops: nothing missed or repeated while both hosts take writes', async () => {
    await bothUp();
    const c = client();
    const user = await newUser(c, lb.url());
    const api = new Api(c, lb.url(), user.token);
    const id = await api.createProject();
    const seen: number[] = [];
    let streams = 0;
    let last = '0';
    let current: SseStream | undefined;
    let following = true;
    // The follower's first stream is on host1; a reconnect goes wherever the balancer sends it.
    const follower = (async () => {
      while (following) {
        const stream = await SseStream.h1(lb.url(`/api/sse/projects/${id}`), {
          authorization: `Bearer ${user.token}`,
          'last-event-id': last,
          ...on(host1),
        }).catch(() => undefined);
        if (stream?.status !== 200) {
          await sleep(50);
          continue;
        }
        current = stream;
        streams++;
        await Promise.race([stream.ended, until('stop', () => (following ? undefined : true), 600)]);
        stream.close();
        seen.push(...idsOf(stream.events));
        last = stream.lastEventId ?? last;
      }
    })();
    // Writers on each host and one through the balancer, until told to stop.
    let written = 0;
    let writing = true;
    const writer = async (target: FerriteHost | undefined, name: string) => {
      for (let i = 0; writing; i++) {
        const headers = target ? on(target) : {};
        const res = await api.put(id, `${name}/${i}.txt`, 'x', headers).catch(() => undefined);
        if (res && (res.status === 200 || res.status === 201)) written++;
        await sleep(15);
      }
    };
    const writers = [writer(host1, 'w1'), writer(host2, 'w2'), writer(undefined, 'lb')];
    await until('events before the stop', () => (current && current.events.length >= 10 ? true : undefined));
    const streamBefore = current;
    assert.equal(await host1.stop(), 0);
    await streamBefore?.ended;
    await until('the follower on the other host', () =>
      current !== streamBefore && current ? true : undefined,
    );
    await sleep(500);
    writing = false;
    await Promise.all(writers);
    await until('the follower to catch up', () =>
      (current?.lastEventId ?? last) === String(written) ? true : undefined,
    );
    following = false;
    await follower;
    // The second stream opened once host1 had stopped: on host2.
    assert.ok(streams >= 2, `the stream was resumed (${streams} streams)`);
    assert.deepEqual(seen, upTo(written), `every event once, in order (${written} written)`);
    await bothUp();
  });

  it('fails a run whose host is killed mid-step on the other host within its lease, running no step twice', async () => {
    await bothUp();
    const c = client();
    const u = new WorkflowUser(c, lb.url());
    u.token = (await newUser(c, lb.url())).token;
    const projectId = await u.project();
    const start = await c.request(lb.url('/api/workflow/run'), {
      method: 'POST',
      headers: on(host1, { ...json, authorization: `Bearer ${u.token}` }),
      body: JSON.stringify({
        projectId,
        plan: {
          steps: [
            { id: 'note', tool: 'vfs.write', args: { path: 'note.md', content: 'written once' } },
            {
              id: 'gen',
              tool: 'ai.generate',
              args: { prompt: '[hold:HOST] long answer', path: 'gen.md' },
              dependsOn: ['note'],
            },
            { id: 'after', tool: 'vfs.read', args: { path: 'gen.md' }, dependsOn: ['gen'] },
          ],
        },
      }),
    });
    assert.equal(start.status, 202, start.text());
    const runId = start.json().runId as string;
    await gemini.waitForHeld('HOST');
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    const owner = await sql.query<{ owner: string }>('SELECT owner FROM workflow_runs WHERE id = $1', [
      runId,
    ]);
    await sql.end();
    const ownerPid = Number(owner.rows[0]?.owner.split('/')[1]);
    assert.ok(host1.cluster.descendantPids('ferrite-worker').includes(ownerPid), 'the run executes on host1');

    await host1.kill();
    const run = await u.finished(runId);
    assert.equal(run.status, 'failed');
    assert.match(run.reason ?? '', /^worker lost: .* stopped renewing the run's lease$/);
    assert.deepEqual(
      run.steps.map((s) => [s.id, s.status]),
      [
        ['note', 'succeeded'],
        ['gen', 'failed'],
        ['after', 'skipped'],
      ],
    );
    gemini.release('HOST');
    await sleep(1000);
    // The model was asked once, and the file written before the kill was not written again.
    assert.equal(gemini.requests.filter((r) => r.prompt.includes('[hold:HOST]')).length, 1);
    const note = await c.request(lb.url(`/api/projects/${projectId}/files/note.md`), {
      headers: { authorization: `Bearer ${u.token}` },
    });
    assert.equal(note.status, 200);
    assert.equal(note.headers['x-file-version'], '1');
    await bothUp();
  });

  describe('under a steady load through the balancer', () => {
    let load: SteadyLoad;
    let projectId: string;
    let token: string;

    before(async () => {
      await bothUp();
      const c = client();
      const user = await newUser(c, lb.url());
      token = user.token;
      projectId = await new Api(c, lb.url(), token).createProject();
    });

    const startLoad = (via: Balancer) =>
      new SteadyLoad({ origin: via.url(), secureOrigin: via.secureUrl(), ca: via.ca, token, projectId });

    it('restarts both hosts, one after the other, with no failed request, even through a balancer that retries nothing', async () => {
      // Each host answers /api/ready 503 for SHUTDOWN_DELAY_MS before it stops accepting, so the
      // balancer has taken it out before the first refused connection (with SHUTDOWN_DELAY_MS=0
      // this load saw ~120 failed requests).
      load = startLoad(strict);
      await until('some load', () => (load.ok > 50 ? true : undefined));
      for (const h of hosts) {
        assert.equal(await h.stop(), 0);
        await strict.waitFor(h.name, 'DOWN');
        await h.start();
        await strict.waitFor(h.name, 'UP');
        // The restarted host takes its share before the next one goes.
        const before = load.ok;
        await until('traffic after the restart', () => (load.ok > before + 100 ? true : undefined));
      }
      const result = await load.stop();
      assert.ok(result.ok > 300, `requests served: ${result.ok}`);
      assert.deepEqual(result.failures, [], 'no request failed');
    });

    it('fails only requests that were on a host killed with SIGKILL, and none once the balancer marks it down', async () => {
      await bothUp();
      load = startLoad(lb);
      await until('some load', () => (load.ok > 50 ? true : undefined));
      const killedAt = load.now();
      await host2.kill();
      await lb.waitFor('host2', 'DOWN');
      const downAt = load.now();
      const before = load.ok;
      await until('traffic on the other host', () => (load.ok > before + 200 ? true : undefined));
      const result = await load.stop();
      const late = result.failures.filter((f) => f.sentAt > downAt);
      assert.deepEqual(late, [], 'nothing sent after the balancer marked the host down failed');
      // Only what was in flight on the killed host: at most one request per connection of the load.
      assert.ok(result.failures.length <= 10, `failures: ${JSON.stringify(result.failures)}`);
      for (const f of result.failures)
        assert.ok(f.sentAt <= downAt, `${f.what} sent at ${f.sentAt}, killed at ${killedAt}`);
      await bothUp();
    });
  });
});
