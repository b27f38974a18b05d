import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { bearer, type H1Client, H2Client, type Reply } from './helpers/clients.ts';
import { type RunningCluster, useCluster, WORKER_LABEL } from './helpers/cluster.ts';
import { JWT_SECRET, metricValue, mint, rawRequest, scrape } from './helpers/gateway.ts';
import { until } from './helpers/until.ts';
import { echo, streamBytes, UpstreamDouble } from './helpers/upstream-double.ts';

const LARGE = { items: Array.from({ length: 500 }, (_, i) => `item-${i}`) };
const task = new UpstreamDouble();
const trade = new UpstreamDouble();
const legacy = new UpstreamDouble();
const shadow = new UpstreamDouble();
let cluster: RunningCluster;
let h1: H1Client;
let reader: string;
let writer: string;
let writerId: string;

interface Echoed {
  method: string;
  url: string;
  headers: Record<string, string>;
  bytes: number;
  sha256: string;
}

const get = (path: string, token = reader, headers: Record<string, string> = {}) =>
  h1.request(`${cluster.http}${path}`, { headers: { ...bearer(token), ...headers } });

function assertProblem(res: Reply, status: number, code: string): Record<string, unknown> {
  assert.equal(res.status, status, res.text());
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  const body = res.json();
  assert.equal(body.code, code);
  return body;
}

// Answers the shadow holds back until the test releases them.
let holdShadow = false;
const heldShadow: (() => void)[] = [];
const releaseShadow = () => {
  holdShadow = false;
  for (const release of heldShadow.splice(0)) release();
};
function shadowAnswer(status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}) {
  return (_req: http.IncomingMessage, res: http.ServerResponse) => {
    const answer = () =>
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    if (holdShadow) heldShadow.push(answer);
    else answer();
  };
}

// The doubles' answers.
task
  .on('/hop', (req, res) =>
    echo(req, res, {
      connection: 'X-Up-Drop',
      'x-up-drop': '1',
      'keep-alive': 'timeout=9',
      'proxy-authenticate': 'Basic realm="x"',
      trailer: 'X-Trail',
      upgrade: 'foo/2',
      'x-up-keep': 'yes',
    }),
  )
  .on('/big', (req, res) => {
    const size = Number(new URL(req.url ?? '', 'http://x').searchParams.get('mb')) * 1024 * 1024;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
    streamBytes(res, size, Buffer.alloc(64 * 1024, 'ferrite!'));
  })
  .on('/gzip', (_req, res) => {
    res
      .writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' })
      .end(zlib.gzipSync(JSON.stringify({ items: Array.from({ length: 500 }, (_, i) => i) })));
  })
  .on('/large-json', (_req, res) => {
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ items: Array.from({ length: 2000 }, (_, i) => `item-${i}`) }));
  })
  .on('/drip', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    const timer = setInterval(() => res.write('tick\n'), 20);
    res.once('close', () => clearInterval(timer));
  })
  .on('/hang', () => undefined)
  .on('/shadow/', (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: 1, name: 'x', nested: { v: 1 } }));
  })
  .on('/shadow/header', (_req, res) => {
    res.writeHead(200, {
      'content-type': 'application/json',
      'x-api-version': '2',
      date: 'Tue, 01 Dec 2026 00:00:00 GMT',
    });
    res.end(JSON.stringify({ id: 1 }));
  })
  .on('/shadow/same', (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: 1, name: 'x', tags: ['a', 'b'], at: Date.now() }));
  })
  .on('/shadow/large', (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(LARGE));
  });
shadow
  .on('/v1/task/shadow/large', shadowAnswer(200, LARGE))
  .on('/v1/task/shadow/same', shadowAnswer(200, { tags: ['a', 'b'], at: 'later', name: 'x', id: 1 }))
  .on('/v1/task/shadow/differs', shadowAnswer(200, { id: 1, name: 'y', nested: { v: 2 } }))
  .on('/v1/task/shadow/header', shadowAnswer(200, { id: 1 }, { 'x-api-version': '1' }))
  .on('/v1/task/shadow/fails', shadowAnswer(500, { error: 'boom' }))
  .on('/api/health', shadowAnswer(200, { status: 'ok', version: 'other', uptimeSeconds: 1, worker: 'x' }));
legacy.on('/', (req, res) => echo(req, res, { 'x-served-by': 'legacy' }));
// A write's answer that names its body, from the task upstream and the shadow alike.
const bodyDigest = (req: http.IncomingMessage, res: http.ServerResponse) => {
  const hash = createHash('sha256');
  req.on('data', (chunk: Buffer) => hash.update(chunk));
  req.on('end', () =>
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ method: req.method, sha256: hash.digest('hex') })),
  );
};
task.on('/writes/', bodyDigest);
shadow.on('/v1/task/writes/', bodyDigest);

const service = useCluster(
  {
    doubles: [task, trade, legacy, shadow],
    env: () => ({
      JWT_SECRET,
      TASK_UPSTREAM_URL: task.url,
      TRADE_UPSTREAM_URL: `${trade.url}/base/`,
      GATEWAY_ROUTES: `/v1/reports=task:${task.url}/reports`,
      LEGACY_UPSTREAM_URL: legacy.url,
      SHADOW_UPSTREAM_URL: shadow.url,
      SHADOW_PERCENT: '100',
      SHADOW_PATHS: '/v1/task/shadow,/api/health',
      SHADOW_IGNORE_FIELDS: 'at,uptimeSeconds,worker',
      SHADOW_MAX_CONCURRENCY: '2',
      SHADOW_IDEMPOTENT: 'PUT /v1/task/writes/:id,DELETE /v1/task/writes/*',
    }),
  },
  async () => {
    ({ cluster, h1 } = service);
    reader = (await mint('task:read', 'trade:read')).token;
    const w = await mint('task:write');
    writer = w.token;
    writerId = w.userId;
  },
);

describe('GET /v1/task/* and /v1/trade/*', () => {
  it('forwards the path and query below the prefix unchanged, onto the upstream base path', async () => {
    const res = await get('/v1/task/items/7?b=2&a=%20x&a=y');
    assert.equal(res.status, 200, res.text());
    assert.equal(res.json<Echoed>().url, '/items/7?b=2&a=%20x&a=y');
    assert.equal((await get('/v1/task')).json<Echoed>().url, '/');
    assert.equal((await get('/v1/task?q=1')).json<Echoed>().url, '/?q=1');
    assert.equal((await get('/v1/trade/orders/x%20y?q=%2F')).json<Echoed>().url, '/base/orders/x%20y?q=%2F');
    assert.equal((await get('/v1/reports/daily')).json<Echoed>().url, '/reports/daily');
  });

  it('matches prefixes on whole segments only: /v1/taskforce is not the task route', async () => {
    const res = await get('/v1/taskforce');
    assert.equal(res.headers['x-served-by'], 'legacy');
    assert.equal(res.json<Echoed>().url, '/v1/taskforce');
  });

  it('needs task:read for GET and HEAD and task:write for other methods, checked before forwarding', async () => {
    const before = task.received.length;
    const anonymous = await h1.request(`${cluster.http}/v1/task/x`);
    assertProblem(anonymous, 401, 'UNAUTHORIZED');
    const post = (token: string) =>
      h1.request(`${cluster.http}/v1/task/x`, { method: 'POST', headers: bearer(token), body: '{}' });
    const denied = assertProblem(await post(reader), 403, 'FORBIDDEN');
    assert.deepEqual(denied.requiredScopes, ['task:write']);
    assertProblem(await get('/v1/task/x', writer), 403, 'FORBIDDEN');
    assertProblem(await get('/v1/task/x', (await mint('trade:read', 'trade:write')).token), 403, 'FORBIDDEN');
    assert.equal(task.received.length, before, 'nothing denied reached the upstream');

    assert.equal((await post(writer)).status, 200);
    const head = await h1.request(`${cluster.http}/v1/task/x`, { method: 'HEAD', headers: bearer(reader) });
    assert.equal(head.status, 200);
    assert.equal((await get('/v1/task/x', (await mint('admin')).token)).status, 200);
    assertProblem(await get('/v1/reports/x', (await mint('trade:read')).token), 403, 'FORBIDDEN');
  });

  it('refuses paths with dot segments or encoded slashes instead of forwarding them', async () => {
    const before = task.received.length;
    for (const path of [
      '/v1/task/a/../../admin',
      '/v1/task/%2e%2e/admin',
      '/v1/task/a%2F..%2Fb',
      '/v1/task/a%2Fb',
    ]) {
      const res = await rawRequest(`${cluster.http}${path}`, { headers: bearer(reader) });
      assert.equal(res.status, 400, path);
      assert.equal(JSON.parse(res.body.toString()).code, 'BAD_REQUEST');
    }
    assert.equal(task.received.length, before);
  });
});

describe('headers through the gateway', () => {
  it('strips hop-by-hop request headers and sets forwarding, request id, trace and identity headers', async () => {
    const traceId = 'a'.repeat(32);
    const res = await rawRequest(`${cluster.http}/v1/task/echo`, {
      method: 'POST',
      body: Buffer.from('payload'),
      headers: {
        ...bearer(writer),
        'transfer-encoding': 'chunked',
        connection: 'keep-alive, X-Drop-Me',
        'x-drop-me': '1',
        'keep-alive': 'timeout=5',
        'proxy-authorization': 'Basic eDp5',
        te: 'trailers',
        trailer: 'X-Trail',
        'x-keep': 'yes',
        'x-request-id': 'req-gateway-1',
        traceparent: `00-${traceId}-${'b'.repeat(16)}-01`,
        'x-user-id': 'spoofed',
        'x-user-scopes': 'admin',
        'x-forwarded-for': '203.0.113.9',
        'x-forwarded-prefix': '/spoofed',
        cookie: 'a=1',
      },
    });
    assert.equal(res.status, 200);
    const got = (JSON.parse(res.body.toString()) as Echoed).headers;
    for (const name of ['x-drop-me', 'keep-alive', 'proxy-authorization', 'te', 'trailer', 'authorization']) {
      assert.equal(got[name], undefined, `${name} is not forwarded`);
    }
    assert.doesNotMatch(got.connection ?? '', /x-drop-me/i);
    assert.equal(got['x-keep'], 'yes');
    assert.equal(got.cookie, 'a=1');
    assert.equal(got['x-request-id'], 'req-gateway-1');
    assert.equal(res.headers['x-request-id'], 'req-gateway-1');
    const [, trace, span] = (got.traceparent ?? '').split('-');
    assert.equal(trace, traceId, 'the trace continues');
    assert.notEqual(span, 'b'.repeat(16), 'with ferrite as the parent span');
    assert.equal(got['x-user-id'], writerId);
    assert.equal(got['x-user-scopes'], 'task:write');
    // The test client is on loopback, which TRUST_PROXY trusts by default: its chain is kept.
    assert.equal(got['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
    assert.equal(got['x-forwarded-proto'], 'http');
    assert.equal(got['x-forwarded-host'], `127.0.0.1:${cluster.ports.http}`);
    assert.equal(got['x-forwarded-prefix'], '/v1/task');
    assert.equal(got.host, new URL(task.url).host);
  });

  it('strips hop-by-hop response headers, over HTTP/1.1 and HTTP/2', async () => {
    const h1res = await get('/v1/task/hop');
    const h2 = new H2Client(cluster.http);
    try {
      const h2res = await h2.request('/v1/task/hop', { headers: bearer(reader) });
      for (const res of [h1res, h2res]) {
        assert.equal(res.status, 200);
        assert.equal(res.headers['x-up-keep'], 'yes');
        for (const name of ['x-up-drop', 'proxy-authenticate', 'trailer', 'upgrade']) {
          assert.equal(res.headers[name], undefined, `${name} is not forwarded`);
        }
        assert.notEqual(res.headers['keep-alive'], 'timeout=9');
      }
      for (const name of ['connection', 'keep-alive', 'transfer-encoding']) {
        assert.equal(h2res.headers[name], undefined);
      }
    } finally {
      await h2.close();
    }
  });
});

describe('HTTP/2 clients and the HTTP/1.1 upstream', () => {
  for (const [name, origin] of [
    ['h2c', () => cluster.http],
    ['h2 over TLS', () => cluster.https],
  ] as const) {
    it(`proxies GET and a streamed POST body from an ${name} client`, async () => {
      const h2 = new H2Client(origin(), cluster.ca);
      try {
        const got = await h2.request('/v1/task/h2?x=1', { headers: bearer(reader) });
        assert.equal(got.status, 200);
        const echoed = got.json<Echoed>();
        assert.equal(echoed.url, '/h2?x=1');
        assert.equal(Object.keys(echoed.headers).filter((h) => h.startsWith(':')).length, 0);
        assert.equal(echoed.headers.host, new URL(task.url).host);

        const body = Buffer.alloc(300_000, 'h2-body ');
        const posted = await h2.request('/v1/task/upload', { method: 'POST', headers: bearer(writer), body });
        assert.equal(posted.status, 200);
        const received = posted.json<Echoed>();
        assert.equal(received.method, 'POST');
        assert.equal(received.bytes, body.length);
        assert.equal(received.sha256, createHash('sha256').update(body).digest('hex'));
      } finally {
        await h2.close();
      }
    });
  }
});

describe('response bodies', () => {
  it("passes an upstream's compressed body through untouched", async () => {
    const res = await get('/v1/task/gzip', reader, { 'accept-encoding': 'br, gzip' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-encoding'], 'gzip');
    assert.equal(JSON.parse(zlib.gunzipSync(res.body).toString()).items.length, 500);
  });

  it('compresses an identity answer for a client that accepts it', async () => {
    const res = await get('/v1/task/large-json', reader, { 'accept-encoding': 'br' });
    assert.equal(res.headers['content-encoding'], 'br');
    assert.equal(JSON.parse(zlib.brotliDecompressSync(res.body).toString()).items.length, 2000);
  });
});

describe('client aborts', () => {
  it('abort the upstream request when the client leaves mid-response', async () => {
    await new Promise<void>((resolve, reject) => {
      const req = http.get(
        `${cluster.http}/v1/task/drip`,
        { headers: bearer(reader), agent: false },
        (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        },
      );
      req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
    });
    await until('the upstream to see its request cut short', () =>
      task.cutShort.includes('/drip') ? true : undefined,
    );
  });

  it('abort the upstream request when the client leaves before the upstream answered', async () => {
    const req = http.get(`${cluster.http}/v1/task/hang`, { headers: bearer(reader), agent: false });
    req.on('error', () => undefined);
    await until('the upstream to receive the request', () => (task.count('/hang') > 0 ? true : undefined));
    req.destroy();
    await until('the upstream to see its request cut short', () =>
      task.cutShort.includes('/hang') ? true : undefined,
    );
  });
});

describe('strangler passthrough to LEGACY_UPSTREAM_URL', () => {
  it('sends what no ferrite route serves to the legacy service: method, path, query, body and credentials as sent', async () => {
    const body = '{"not json';
    const res = await h1.request(`${cluster.http}/api/legacy/orders?page=2`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer legacy-session' },
      body,
    });
    assert.equal(res.status, 200, res.text());
    assert.equal(res.headers['x-served-by'], 'legacy');
    const echoed = res.json<Echoed>();
    assert.equal(echoed.method, 'POST');
    assert.equal(echoed.url, '/api/legacy/orders?page=2');
    assert.equal(echoed.sha256, createHash('sha256').update(body).digest('hex'));
    assert.equal(echoed.headers.authorization, 'Bearer legacy-session');
    assert.equal((await h1.request(`${cluster.http}/old/page.html`)).headers['x-served-by'], 'legacy');
  });

  it('sends a method ferrite does not serve on one of its paths to the legacy service, not a 405', async () => {
    // The old service may still serve DELETE where ferrite serves only GET: the route is the
    // method and the path, and what ferrite does not serve is the legacy's.
    const res = await h1.request(`${cluster.http}/api/health`, { method: 'DELETE' });
    assert.equal(res.status, 200, res.text());
    assert.equal(res.headers['x-served-by'], 'legacy');
    assert.equal(res.json<Echoed>().method, 'DELETE');
  });

  it("keeps ferrite's own routes, and their body parsing, for ferrite", async () => {
    const before = legacy.received.length;
    const health = await h1.request(`${cluster.http}/api/health`);
    assert.equal(health.json().status, 'ok');
    const malformed = await h1.request(`${cluster.http}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"email": ',
    });
    assertProblem(malformed, 400, 'MALFORMED_JSON');
    assert.equal(legacy.received.length, before);
  });
});

// A body well over the compression threshold, for a shadowed answer the client gets compressed.

describe('shadow traffic (SHADOW_UPSTREAM_URL)', () => {
  const diffs = async (route: string) =>
    metricValue(await scrape(cluster.metrics), 'router_shadow_diffs_total', { route });
  const results = async (route: string, result: string) =>
    metricValue(await scrape(cluster.metrics), 'router_shadow_requests_total', { route, result });

  it('compares in the background: a differing answer is counted and logged, the client is not kept waiting', async () => {
    holdShadow = true;
    const res = await get('/v1/task/shadow/differs');
    // The client has its answer while the shadow still holds the mirrored request.
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), { id: 1, name: 'x', nested: { v: 1 } });
    await until('the shadow to receive the mirrored request', () =>
      heldShadow.length > 0 ? true : undefined,
    );
    assert.equal(await diffs('/v1/task/*'), 0);
    releaseShadow();
    await until('the difference to be counted', async () =>
      (await diffs('/v1/task/*')) === 1 ? true : undefined,
    );
    const line = await cluster.waitForLog(
      (l) => l.msg === 'shadow response differs' && l.route === '/v1/task/*',
    );
    assert.equal(line.requestId, res.headers['x-request-id']);
    assert.deepEqual(line.differences, ['/name', '/nested/v']);
    const mirrored = shadow.received.find((r) => r.url === '/v1/task/shadow/differs');
    assert.equal(mirrored?.headers['x-shadow-request'], '1');
    assert.equal(mirrored?.headers.authorization, `Bearer ${reader}`);
  });

  it('ignores key order and the configured fields', async () => {
    const res = await get('/v1/task/shadow/same');
    assert.equal(res.status, 200);
    await until('the match to be counted', async () =>
      (await results('/v1/task/*', 'match')) >= 1 ? true : undefined,
    );
    assert.equal(await diffs('/v1/task/*'), 1);
  });

  it('compares headers too, leaving out those that differ on every answer', async () => {
    const before = await diffs('/v1/task/*');
    const res = await get('/v1/task/shadow/header');
    assert.equal(res.status, 200);
    const line = await cluster.waitForLog(
      (l) => l.msg === 'shadow response differs' && String(l.differences).includes('x-api-version'),
    );
    assert.deepEqual(
      line.differences,
      ['header x-api-version: "2" vs "1"'],
      'date, server, … are not compared',
    );
    assert.equal(await diffs('/v1/task/*'), before + 1);
  });

  it("counts a failing shadow as a difference and still answers with the upstream's response", async () => {
    const before = await diffs('/v1/task/*');
    const res = await get('/v1/task/shadow/fails');
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), { id: 1, name: 'x', nested: { v: 1 } });
    await until('the status difference to be counted', async () =>
      (await diffs('/v1/task/*')) === before + 1 ? true : undefined,
    );
  });

  it('compares what handlers wrote, not what the compressor sent', async () => {
    const before = await results('/v1/task/*', 'match');
    const res = await get('/v1/task/shadow/large', reader, { 'accept-encoding': 'br' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-encoding'], 'br');
    await until('the match to be counted', async () =>
      (await results('/v1/task/*', 'match')) > before ? true : undefined,
    );
  });

  it("compares ferrite's own responses too", async () => {
    const before = await diffs('/api/health');
    const res = await h1.request(`${cluster.http}/api/health`);
    assert.equal(res.status, 200);
    await until('the health difference to be counted', async () =>
      (await diffs('/api/health')) > before ? true : undefined,
    );
  });

  for (const protocol of ['HTTP/1.1', 'HTTP/2'] as const) {
    it(`mirrors writes only on routes declared idempotent, with their body as sent (${protocol})`, async () => {
      const h2 = protocol === 'HTTP/2' ? new H2Client(cluster.http) : undefined;
      try {
        const send = (method: string, path: string, body: string) =>
          h2
            ? h2.request(path, {
                method,
                headers: { ...bearer(writer), 'content-type': 'application/json' },
                body,
              })
            : h1.request(`${cluster.http}${path}`, {
                method,
                headers: { ...bearer(writer), 'content-type': 'application/json' },
                body,
              });
        const id = protocol === 'HTTP/2' ? 'two' : 'one';
        const seen = (method: string, url: string) =>
          shadow.received.filter((r) => r.method === method && r.url === url).length;
        // Not declared: a POST on the route, a PUT on another path.
        assert.equal((await send('POST', `/v1/task/writes/${id}`, '{}')).status, 200);
        assert.equal((await send('PUT', `/v1/task/other/${id}`, '{}')).status, 200);
        const matches = await results('/v1/task/*', 'match');
        // Declared: a body of several chunks reaches the shadow as the client sent it.
        const body = JSON.stringify({ note: 'é'.repeat(40_000) });
        const res = await send('PUT', `/v1/task/writes/${id}`, body);
        assert.equal(res.status, 200);
        assert.equal(res.json<{ sha256: string }>().sha256, createHash('sha256').update(body).digest('hex'));
        await until('the mirrored write to match', async () =>
          (await results('/v1/task/*', 'match')) > matches ? true : undefined,
        );
        const mirrored = shadow.received.find((r) => r.method === 'PUT' && r.url === `/v1/task/writes/${id}`);
        assert.equal(mirrored?.headers['x-shadow-request'], '1');
        assert.equal(seen('POST', `/v1/task/writes/${id}`), 0);
        assert.equal(seen('PUT', `/v1/task/other/${id}`), 0);
      } finally {
        h2?.session.close();
      }
    });
  }

  it('drops sampled requests beyond its concurrency limit instead of queueing them', async () => {
    holdShadow = true;
    const mirroredBefore = shadow.count('/v1/task/shadow/same');
    const dropsBefore = await results('/v1/task/*', 'dropped');
    const answers = await Promise.all(Array.from({ length: 12 }, () => get('/v1/task/shadow/same')));
    assert.ok(answers.every((a) => a.status === 200));
    // Every sampled request was either mirrored or dropped, never queued for later.
    const mirrored = await until('each sampled request to be mirrored or dropped', async () => {
      const sent = shadow.count('/v1/task/shadow/same') - mirroredBefore;
      const dropped = (await results('/v1/task/*', 'dropped')) - dropsBefore;
      return sent + dropped === 12 ? sent : undefined;
    });
    // Two shadow requests at most per worker, held by the shadow all along.
    assert.ok(mirrored <= 4, `${mirrored} mirrored`);
    assert.equal(heldShadow.length, mirrored);
    releaseShadow();
  });
});

describe('upstream metrics', () => {
  it('count requests by upstream, method, status class and outcome, with durations and breaker states', async () => {
    await get('/v1/trade/metrics');
    const text = await scrape(cluster.metrics);
    const labels = { upstream: 'trade', method: 'GET', status_class: '2xx', outcome: 'success' };
    assert.ok(metricValue(text, 'router_upstream_requests_total', labels) >= 1);
    assert.ok(
      metricValue(text, 'router_upstream_request_duration_seconds_count', {
        upstream: 'trade',
        method: 'GET',
        outcome: 'success',
      }) >= 1,
    );
    for (const upstream of ['task', 'legacy']) {
      const series = new RegExp(
        `router_circuit_breaker_state\\{upstream="${upstream}",worker="${WORKER_LABEL}"\\} 0`,
      );
      assert.match(text, series);
    }
    assert.match(text, /# TYPE router_upstream_retries_total counter/);
    assert.match(text, /http_requests_total\{method="GET",route="\/v1\/trade\/\*",status_code="200"/);
  });
});
