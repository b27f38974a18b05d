import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { freePort } from '../src/db/embedded.ts';
import { bearer, type H1Client, type Reply } from './helpers/clients.ts';
import { type RunningCluster, useCluster } from './helpers/cluster.ts';
import { JWT_SECRET, metricValue, mint, rawRequest, scrape } from './helpers/gateway.ts';
import { until } from './helpers/until.ts';
import { echo, UpstreamDouble } from './helpers/upstream-double.ts';

// One worker, so every request meets the same breaker and retry budget (both are per worker).
const up = new UpstreamDouble();
let cluster: RunningCluster;
let h1: H1Client;
let token: string;
/** 503 answers still to give, per path. */
const failures = new Map<string, number>();
let breakerFailing = true;

const auth = () => bearer(token);
const call = (path: string, method = 'GET') =>
  h1.request(`${cluster.http}${path}`, { method, headers: auth() });
const metric = async (name: string, labels: Record<string, string>) =>
  metricValue(await scrape(cluster.metrics), name, labels);

function assertProblem(res: Reply, status: number, code: string): Record<string, unknown> {
  assert.equal(res.status, status, res.text());
  const body = res.json();
  assert.equal(body.code, code);
  return body;
}

async function breakerState(upstream: string): Promise<string> {
  // Upstream names and breaker counts are shown to admins only.
  const admin = (await mint('admin')).token;
  const ready = await h1.request(`${cluster.http}/api/ready`, {
    headers: bearer(admin),
  });
  assert.equal(ready.status, 200, 'an open breaker does not make the worker unready');
  return (ready.json().checks as { upstreams: Record<string, { state: string }> }).upstreams[upstream]
    ?.state as string;
}

up.on('/slow', (req, res) => {
  const timer = setTimeout(() => echo(req, res), 2000);
  res.once('close', () => clearTimeout(timer));
})
  .on('/flaky', (req, res) => {
    const left = failures.get(req.url ?? '') ?? 0;
    if (left === 0) {
      echo(req, res);
      return;
    }
    failures.set(req.url ?? '', left - 1);
    res.writeHead(503, { 'content-type': 'application/json' }).end('{"upstream":"busy"}');
  })
  .on('/partial', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 1000 });
    res.write('0123456789', () => res.socket?.destroy());
  })
  .on('/breaker', (req, res) => {
    if (!breakerFailing) echo(req, res);
    else res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"down"}');
  });

const service = useCluster(
  {
    workers: 1,
    doubles: [up],
    env: async () => ({
      JWT_SECRET,
      TASK_UPSTREAM_URL: up.url,
      GATEWAY_ROUTES: [
        // A port nothing listens on.
        `/v1/closed=task:http://127.0.0.1:${await freePort()}`,
        '/v1/nowhere=task:http://nowhere.invalid',
        `/v1/slow=task:${up.url}/slow`,
        `/v1/retry=task:${up.url}/flaky`,
        `/v1/partial=task:${up.url}/partial`,
        `/v1/breaker=task:${up.url}/breaker`,
      ].join(','),
      GATEWAY_FORWARD_AUTHORIZATION: 'true',
      GATEWAY_HEADERS_TIMEOUT_MS: '300',
      GATEWAY_RETRY_BACKOFF_MS: '5',
      GATEWAY_RETRY_BACKOFF_MAX_MS: '20',
      GATEWAY_BREAKER_MIN_REQUESTS: '10',
      GATEWAY_BREAKER_ERROR_PERCENT: '50',
      GATEWAY_BREAKER_WINDOW_MS: '60000',
      GATEWAY_BREAKER_OPEN_MS: '1500',
    }),
  },
  async () => {
    ({ cluster, h1 } = service);
    token = (await mint('task:read', 'task:write', 'trade:read')).token;
  },
);

describe('upstream failures', () => {
  it('answers 502 UPSTREAM_UNAVAILABLE for a closed port, after retrying a GET twice and a POST never', async () => {
    const got = assertProblem(await call('/v1/closed/x'), 502, 'UPSTREAM_UNAVAILABLE');
    assert.equal(got.upstream, '/v1/closed');
    const labels = { upstream: '/v1/closed' };
    assert.equal(await metric('router_upstream_retries_total', { ...labels, reason: 'unavailable' }), 2);
    assert.equal(await metric('router_upstream_requests_total', { ...labels, outcome: 'unavailable' }), 3);
    assertProblem(await call('/v1/closed/x', 'POST'), 502, 'UPSTREAM_UNAVAILABLE');
    assert.equal(await metric('router_upstream_retries_total', labels), 2);
    assert.equal(await metric('router_upstream_requests_total', labels), 4);
  });

  it('answers 502 UPSTREAM_UNAVAILABLE when the upstream host does not resolve', async () => {
    assertProblem(await call('/v1/nowhere/x'), 502, 'UPSTREAM_UNAVAILABLE');
  });

  it('answers 504 UPSTREAM_TIMEOUT when the upstream is too slow, retrying a GET but not a POST', async () => {
    assertProblem(await call('/v1/slow/a'), 504, 'UPSTREAM_TIMEOUT');
    assert.equal(up.count('/slow/a'), 3);
    assertProblem(await call('/v1/slow/b', 'POST'), 504, 'UPSTREAM_TIMEOUT');
    assert.equal(up.count('/slow/b'), 1);
    assert.equal(
      await metric('router_upstream_retries_total', { upstream: '/v1/slow', reason: 'timeout' }),
      2,
    );
  });
});

describe('retries', () => {
  it('retries a GET answered 503 and passes the answer through once two retries are spent', async () => {
    failures.set('/flaky/a', 2);
    const ok = await call('/v1/retry/a');
    assert.equal(ok.status, 200);
    assert.equal(up.count('/flaky/a'), 3);
    assert.equal(
      await metric('router_upstream_retries_total', { upstream: '/v1/retry', reason: 'status_503' }),
      2,
    );

    failures.set('/flaky/b', 5);
    const busy = await call('/v1/retry/b');
    assert.equal(busy.status, 503);
    assert.deepEqual(busy.json(), { upstream: 'busy' });
    assert.equal(up.count('/flaky/b'), 3, 'at most two retries');
  });

  it('never retries POST, nor methods outside GATEWAY_RETRY_METHODS', async () => {
    for (const [path, method] of [
      ['/flaky/c', 'POST'],
      ['/flaky/d', 'DELETE'],
      ['/flaky/e', 'PUT'],
    ] as const) {
      failures.set(path, 1);
      const res = await call(`/v1/retry/${path.slice('/flaky/'.length)}`, method);
      assert.equal(res.status, 503, method);
      assert.equal(up.count(path), 1, `${method} is sent once`);
    }
  });

  it('does not retry once part of the response reached the client', async () => {
    await assert.rejects(rawRequest(`${cluster.http}/v1/partial/x`, { headers: auth() }));
    await until('the outcome to be counted', async () =>
      (await metric('router_upstream_requests_total', { upstream: '/v1/partial' })) === 1 ? true : undefined,
    );
    assert.equal(up.count('/partial/x'), 1);
    assert.equal(await metric('router_upstream_retries_total', { upstream: '/v1/partial' }), 0);
  });
});

describe('the circuit breaker', () => {
  it('opens after enough failures, refuses at once with Retry-After, and closes after a successful half-open probe', async () => {
    const post = () => call('/v1/breaker/x', 'POST');
    const gauge = () => metric('router_circuit_breaker_state', { upstream: '/v1/breaker' });
    for (let i = 0; i < 10; i++) assert.equal((await post()).status, 500, 'upstream errors pass through');
    assert.equal(await breakerState('/v1/breaker'), 'open');
    assert.equal(await gauge(), 2);

    const refused = await post();
    assertProblem(refused, 503, 'UPSTREAM_CIRCUIT_OPEN');
    const retryAfter = Number(refused.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 2, `Retry-After ${retryAfter}`);
    assert.equal(up.count('/breaker'), 10, 'a refused request never reaches the upstream');
    assert.equal(
      await metric('router_upstream_requests_total', { upstream: '/v1/breaker', outcome: 'circuit_open' }),
      1,
    );
    assert.equal((await call('/v1/task/still-fine')).status, 200, 'other upstreams are unaffected');

    await until('half-open', async () =>
      (await breakerState('/v1/breaker')) === 'half-open' ? true : undefined,
    );
    assert.equal(await gauge(), 1);
    assert.equal((await post()).status, 500, 'the probe meets the failing upstream');
    assert.equal(await breakerState('/v1/breaker'), 'open', 'a failed probe opens it again');

    await until('half-open', async () =>
      (await breakerState('/v1/breaker')) === 'half-open' ? true : undefined,
    );
    breakerFailing = false;
    assert.equal((await post()).status, 200);
    assert.equal(await breakerState('/v1/breaker'), 'closed');
    assert.equal(await gauge(), 0);
    assert.equal((await post()).status, 200);
    assert.equal(up.count('/breaker'), 13);
  });
});

describe('gateway configuration', () => {
  it("forwards the client's Authorization when GATEWAY_FORWARD_AUTHORIZATION is on, identity headers beside it", async () => {
    const echoed = (await call('/v1/task/echo')).json<{ headers: Record<string, string> }>();
    assert.equal(echoed.headers.authorization, `Bearer ${token}`);
    assert.match(echoed.headers['x-user-id'] ?? '', /^[0-9a-f-]{36}$/);
  });

  it('answers 503 UPSTREAM_NOT_CONFIGURED for /v1/trade/* without TRADE_UPSTREAM_URL, after authentication', async () => {
    const got = assertProblem(await call('/v1/trade/orders'), 503, 'UPSTREAM_NOT_CONFIGURED');
    assert.match(String(got.detail), /TRADE_UPSTREAM_URL/);
    assertProblem(await h1.request(`${cluster.http}/v1/trade/orders`), 401, 'UNAUTHORIZED');
  });

  it('still answers 404 for unknown paths without a legacy service', async () => {
    assertProblem(await h1.request(`${cluster.http}/nope`), 404, 'NOT_FOUND');
  });
});
