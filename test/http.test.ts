import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import express from 'express';
import pg from 'pg';
import { requestContext } from '../src/http/context.ts';
import { errorHandler } from '../src/http/problem.ts';
import { createLogger } from '../src/log.ts';
import type { WorkerMetrics } from '../src/metrics/worker.metrics.ts';
import { bearer, type H1Client, H2Client, h2once, type Reply } from './helpers/clients.ts';
import { clusterOnly, type RunningCluster, useCluster, WORKER_ID, withCluster } from './helpers/cluster.ts';
import { JWT_SECRET, mint } from './helpers/gateway.ts';
import { until } from './helpers/until.ts';
import { newUser } from './helpers/workspace.ts';

const service = useCluster({ env: { JWT_SECRET } }, () => {
  ({ cluster, h1 } = service);
});
let cluster: RunningCluster;
let h1: H1Client;

type Send = (
  path: string,
  init?: { method?: string; headers?: Record<string, string>; body?: string },
) => Promise<Reply>;

// The same behaviour is required of every protocol the service speaks.
const protocols: Record<string, () => Send> = {
  'HTTP/1.1 cleartext': () => (p, i) => h1.request(`${cluster.http}${p}`, i),
  'HTTP/1.1 over TLS': () => (p, i) => h1.request(`${cluster.https}${p}`, i),
  'h2c (prior knowledge)': () => (p, i) => h2once(cluster.http, p, i),
  'HTTP/2 over TLS (ALPN h2)': () => (p, i) => h2once(cluster.https, p, i, cluster.ca),
};

function assertProblem(res: Reply, status: number, code: string) {
  assert.equal(res.status, status, res.text());
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  const body = res.json();
  assert.equal(body.status, status);
  assert.equal(body.code, code);
  assert.equal(body.type, `https://ferrite.dev/problems/${code}`);
  assert.equal(typeof body.title, 'string');
  assert.equal(typeof body.detail, 'string');
  assert.equal(typeof body.instance, 'string');
  assert.equal(body.requestId, res.headers['x-request-id']);
  return body;
}

for (const [name, make] of Object.entries(protocols)) {
  describe(`over ${name}`, () => {
    it('GET /api/health answers 200 with status, version, uptime and worker', async () => {
      const res = await make()('/api/health');
      assert.equal(res.status, 200);
      const body = res.json();
      assert.equal(body.status, 'ok');
      assert.equal(body.version, '0.1.0');
      assert.equal(typeof body.uptimeSeconds, 'number');
      assert.match(String(body.worker), WORKER_ID);
      assert.equal(res.headers['x-powered-by'], undefined);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
    });

    it('GET /api/ready answers 200 when Postgres answers', async () => {
      const res = await make()('/api/ready');
      assert.equal(res.status, 200, res.text());
      const body = res.json<{ status: string; checks: { database: { ok: boolean } } }>();
      assert.equal(body.status, 'ready');
      assert.equal(body.checks.database.ok, true);
    });

    it('answers an unknown route with 404 problem+json', async () => {
      const res = await make()('/api/nope?x=1');
      const body = assertProblem(res, 404, 'NOT_FOUND');
      assert.equal(body.instance, '/api/nope?x=1');
    });

    it('matches paths as express does: any case, a trailing slash; 404 in a known group and for HEAD', async () => {
      const send = make();
      assert.equal((await send('/API/Health')).json().status, 'ok');
      assert.equal((await send('/api/health/')).json().status, 'ok');
      assert.equal((await send('/api/health?verbose=1')).json().status, 'ok');
      // A known first segment (`stats`, `projects`) with no route under it is still a 404.
      assertProblem(await send('/api/stats/nope'), 404, 'NOT_FOUND');
      assertProblem(await send('/api/projects/a/b/c/d/e'), 404, 'NOT_FOUND');
      assertProblem(await send('/api/'), 404, 'NOT_FOUND');
      const head = await send('/api/nope', { method: 'HEAD' });
      assert.equal(head.status, 404);
      assert.equal(head.body.length, 0);
      assert.ok(Number(head.headers['content-length']) > 0, 'HEAD gets the length GET would');
      assert.equal(head.headers['x-content-type-options'], 'nosniff');
    });

    it('answers another method on a known path with 405 and Allow, and OPTIONS with 204 and Allow', async () => {
      const send = make();
      const wrong = await send('/api/health', { method: 'DELETE' });
      assertProblem(wrong, 405, 'METHOD_NOT_ALLOWED');
      assert.equal(wrong.headers.allow, 'GET, HEAD, OPTIONS');
      // The path as the routes match it: any case, a trailing slash, a parameter.
      assertProblem(await send('/API/Health/', { method: 'PUT' }), 405, 'METHOD_NOT_ALLOWED');
      const project = await send('/api/projects/0b8e3f0e-7a51-4d8b-9a55-1c1c1c1c1c1c', { method: 'POST' });
      assertProblem(project, 405, 'METHOD_NOT_ALLOWED');
      assert.equal(project.headers.allow, 'DELETE, GET, HEAD, OPTIONS, PATCH');
      // A POST-only route: HEAD is another method there, and its 405 has no body.
      const head = await send('/api/auth/login', { method: 'HEAD' });
      assert.equal(head.status, 405);
      assert.equal(head.headers.allow, 'OPTIONS, POST');
      assert.equal(head.body.length, 0);

      const options = await send('/api/workflow/runs/some-id', { method: 'OPTIONS' });
      assert.equal(options.status, 204, options.text());
      assert.equal(options.headers.allow, 'GET, HEAD, OPTIONS');
      assert.equal(options.body.length, 0);
      assert.equal((await send('/', { method: 'OPTIONS' })).headers.allow, 'GET, HEAD, OPTIONS');
      // A path no route serves stays a 404, whatever the method.
      assertProblem(await send('/api/nope', { method: 'OPTIONS' }), 404, 'NOT_FOUND');
      assertProblem(await send('/api/nope', { method: 'DELETE' }), 404, 'NOT_FOUND');
    });

    it('answers malformed JSON with 400 problem+json', async () => {
      const res = await make()('/api/health', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"email": ',
      });
      assertProblem(res, 400, 'MALFORMED_JSON');
    });

    it('answers a JSON body over 1 MB with 413 problem+json', async () => {
      const body = JSON.stringify({ blob: 'x'.repeat(1_100_000) });
      const res = await make()('/api/health', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      assertProblem(res, 413, 'PAYLOAD_TOO_LARGE');
    });

    for (const [encoding, decode] of [
      ['br', zlib.brotliDecompressSync],
      ['gzip', zlib.gunzipSync],
    ] as const) {
      it(`compresses a large response with ${encoding}`, async () => {
        const res = await make()('/api/openapi.json', { headers: { 'accept-encoding': encoding } });
        assert.equal(res.status, 200);
        assert.equal(res.headers['content-encoding'], encoding);
        const doc = JSON.parse(decode(res.body).toString('utf8'));
        assert.equal(doc.openapi, '3.1.0');
        assert.ok(res.body.length < decode(res.body).length);
      });
    }

    it('leaves a small response uncompressed', async () => {
      const res = await make()('/api/health', { headers: { 'accept-encoding': 'br, gzip' } });
      assert.equal(res.headers['content-encoding'], undefined);
      assert.equal(res.json().status, 'ok');
      // As compression would answer it: caches must still key the answer on Accept-Encoding.
      assert.equal(res.headers.vary, 'Accept-Encoding');
      const problem = await make()('/api/nope', { headers: { 'accept-encoding': 'gzip' } });
      assert.equal(problem.headers['content-encoding'], undefined);
      assert.equal(problem.headers.vary, 'Accept-Encoding');
    });

    it('echoes a well-formed X-Request-Id and replaces a malformed one', async () => {
      const send = make();
      const ok = await send('/api/health', { headers: { 'x-request-id': 'client-abc.123' } });
      assert.equal(ok.headers['x-request-id'], 'client-abc.123');
      const bad = await send('/api/health', { headers: { 'x-request-id': 'bad id with spaces' } });
      assert.notEqual(bad.headers['x-request-id'], 'bad id with spaces');
      assert.match(String(bad.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    });
  });
}

describe('the cluster', () => {
  it('serves from both workers', clusterOnly, async () => {
    const seen = new Set<string>();
    // Each fresh connection goes to the next worker in the primary's round robin.
    for (let i = 0; i < 20 && seen.size < 2; i++) {
      const res = await h2once(cluster.http, '/api/health');
      seen.add(String(res.json().worker));
    }
    assert.equal(seen.size, 2);
  });

  it('serves many concurrent streams on one HTTP/2 session', async () => {
    const client = new H2Client(cluster.https, cluster.ca);
    try {
      const replies = await Promise.all(Array.from({ length: 50 }, () => client.request('/api/health')));
      assert.deepEqual(new Set(replies.map((r) => r.status)), new Set([200]));
    } finally {
      await client.close();
    }
  });

  it('logs one line per request with id, route, status, duration and worker', async () => {
    const res = await h1.request(`${cluster.http}/api/health`, {
      headers: { 'x-request-id': 'log-check-1' },
    });
    assert.equal(res.status, 200);
    const line = await cluster.waitForLog((l) => l.msg === 'request' && l.requestId === 'log-check-1');
    assert.equal(line.method, 'GET');
    assert.equal(line.route, '/api/health');
    assert.equal(line.status, 200);
    assert.equal(typeof line.durationMs, 'number');
    assert.match(String(line.worker), WORKER_ID);
  });

  it('keeps the trace id of an incoming traceparent', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await h1.request(`${cluster.http}/api/health`, {
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, 'x-request-id': 'trace-check-1' },
    });
    const line = await cluster.waitForLog((l) => l.requestId === 'trace-check-1');
    assert.equal(line.traceId, traceId);
  });

  it('redacts Authorization, cookies and credential query parameters from logs', async () => {
    await h1.request(`${cluster.http}/api/nope?token=secret-query-token&x=1`, {
      headers: { authorization: 'Bearer secret-token-xyz', cookie: 'sid=secret', 'x-request-id': 'redact-1' },
    });
    await cluster.waitForLog((l) => l.requestId === 'redact-1');
    const all = JSON.stringify(cluster.logs);
    assert.ok(!all.includes('secret-token-xyz'));
    assert.ok(!all.includes('sid=secret'));
    assert.ok(!all.includes('secret-query-token'));
    const line = cluster.logs.find((l) => l.requestId === 'redact-1');
    assert.equal(line?.url, '/api/nope?token=[redacted]&x=1');
  });

  it('serves the OpenAPI 3.1 contract listing its routes', async () => {
    const res = await h1.request(`${cluster.http}/api/openapi.json`);
    const doc = res.json<{ openapi: string; paths: Record<string, unknown> }>();
    assert.equal(doc.openapi, '3.1.0');
    assert.ok(doc.paths['/api/health']);
    assert.ok(doc.paths['/api/ready']);
  });

  it('exposes aggregated metrics from the primary', clusterOnly, async () => {
    await h1.request(`${cluster.http}/api/health`);
    const res = await fetch(cluster.metrics);
    assert.equal(res.status, 200);
    const text = await res.text();
    for (const name of [
      'http_request_duration_seconds_bucket',
      'http_requests_total',
      'nodejs_eventloop_lag_seconds',
      'pg_pool_connections',
      'process_resident_memory_bytes',
      'ferrite_workers',
    ]) {
      assert.ok(text.includes(name), `missing ${name}`);
    }
    const workers = new Set(
      [...text.matchAll(/process_resident_memory_bytes\{worker="(\d+)"\}/g)].map((m) => m[1]),
    );
    assert.equal(workers.size, 2, 'memory is reported per worker');
    assert.match(text, /http_requests_total\{[^}]*route="\/api\/health"[^}]*\} \d+/);
  });
});

describe('error bodies', () => {
  // The error middleware on a bare express app over real HTTP: one route per kind of failure.
  async function serve(exposeErrors: boolean) {
    const app = express();
    app.use(
      requestContext(createLogger('silent', {}), {
        observeRequest: () => undefined,
      } as unknown as WorkerMetrics),
    );
    app.get('/bug', () => {
      throw new Error('secret internal detail: SELECT * FROM users');
    });
    app.get('/sql', () => {
      // What pg raises for `'2024-99-99 99:99:99+00'::timestamptz`.
      throw Object.assign(new Error('date/time field value out of range: "2024-99-99 99:99:99+00"'), {
        code: '22008',
        severity: 'ERROR',
        where: 'unnamed portal parameter $3',
      });
    });
    app.use(errorHandler(exposeErrors));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
  }

  it('when a handler fails unexpectedly, then the 500 says only "Internal server error" and the request id', async () => {
    const { origin, server } = await serve(false);
    try {
      const res = await h1.request(`${origin}/bug`);
      const body = assertProblem(res, 500, 'INTERNAL');
      assert.equal(body.detail, 'Internal server error');
      assert.equal(body.stack, undefined);
      assert.ok(!res.text().includes('secret internal detail'), res.text());
    } finally {
      server.close();
    }
  });

  it('when EXPOSE_ERRORS is on, then (and only then) the 500 carries the message and stack', async () => {
    const { origin, server } = await serve(true);
    try {
      const body = assertProblem(await h1.request(`${origin}/bug`), 500, 'INTERNAL');
      assert.match(String(body.stack), /secret internal detail/);
    } finally {
      server.close();
    }
  });

  it('when Postgres refuses a value (SQLSTATE class 22), then it is a 400 without the SQL text', async () => {
    const { origin, server } = await serve(true);
    try {
      const res = await h1.request(`${origin}/sql`);
      const body = assertProblem(res, 400, 'BAD_REQUEST');
      assert.equal(body.stack, undefined);
      assert.ok(!/date\/time|portal|\$3/.test(res.text()), res.text());
    } finally {
      server.close();
    }
  });

  it('when NODE_ENV is development and EXPOSE_ERRORS unset, then the service sends no stacks', async () => {
    await withCluster({ workers: 1, env: { JWT_SECRET, NODE_ENV: undefined } }, async (dev) => {
      const admin = (await mint('admin')).token;
      // A bad project cursor used to reach Postgres: 500 with the cast error and a stack.
      const cursor = Buffer.from(JSON.stringify(['2024-99-99 99:99:99+00', crypto.randomUUID()])).toString(
        'base64url',
      );
      const res = await h1.request(`${dev.http}/api/projects?cursor=${cursor}`, { headers: bearer(admin) });
      const body = assertProblem(res, 400, 'VALIDATION_FAILED');
      assert.equal(body.stack, undefined);
    });
  });
});

describe('GET /api/ready', () => {
  it('when asked anonymously, then it answers ready or not, without latencies, upstreams or errors', async () => {
    const res = await h1.request(`${cluster.http}/api/ready`);
    assert.equal(res.status, 200, res.text());
    assert.deepEqual(res.json().checks, { database: { ok: true }, draining: false });
  });

  it('when asked with a token that is not admin, then it answers as to anyone', async () => {
    const user = (await mint('projects:read')).token;
    const res = await h1.request(`${cluster.http}/api/ready`, {
      headers: bearer(user),
    });
    assert.deepEqual(res.json().checks, { database: { ok: true }, draining: false });
  });

  it('when asked with an admin token, then it shows the details', async () => {
    const admin = (await mint('admin')).token;
    const res = await h1.request(`${cluster.http}/api/ready`, {
      headers: bearer(admin),
    });
    assert.equal(res.status, 200);
    assert.equal(
      typeof (res.json().checks as { database: { latencyMs: unknown } }).database.latencyMs,
      'number',
    );
  });
});

describe('a worker whose every pooled connection is in use', () => {
  it('when /api/ready is asked, then it stays ready and requests get DATABASE_BUSY, not an outage', async () => {
    // One worker with two pooled clients; two project creations wait on a row lock held from
    // outside, so both clients are taken while the database itself answers.
    const env = { JWT_SECRET, PG_POOL_TOTAL: '2', PG_CONNECT_TIMEOUT_MS: '2000' };
    await withCluster({ workers: 1, env }, async (busy, _h1, db) => {
      const locker = new pg.Client({ connectionString: db?.url });
      const watcher = new pg.Client({ connectionString: db?.url });
      await locker.connect();
      await watcher.connect();
      try {
        const user = await newUser(h1, busy.http);
        await locker.query('BEGIN');
        await locker.query('SELECT id FROM users WHERE id = $1 FOR UPDATE', [user.id]);
        const h2 = new H2Client(busy.http);
        const create = (name: string) =>
          h2.request('/api/projects', {
            method: 'POST',
            headers: { ...bearer(user.token), 'content-type': 'application/json' },
            body: JSON.stringify({ name }),
          });
        const held = [create('held-1'), create('held-2')];
        // Asked outside the locker's transaction: pg_stat_activity is one snapshot per transaction.
        await until('both pooled clients to wait on the lock', async () => {
          const res = await watcher.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
          );
          return res.rows[0]?.n === 2 ? true : undefined;
        });

        const ready = await h1.request(`${busy.http}/api/ready`);
        assert.equal(ready.status, 200, ready.text());
        assert.deepEqual(ready.json().checks, { database: { ok: true, busy: true }, draining: false });
        const me = await h1.request(`${busy.http}/api/projects`, { headers: bearer(user.token) });
        assertProblem(me, 503, 'DATABASE_BUSY');

        await locker.query('COMMIT');
        for (const res of await Promise.all(held)) assert.equal(res.status, 201, res.text());
        await h2.close();
        // Busy was never taken for down: the next request is served at once.
        const after = await h1.request(`${busy.http}/api/projects`, { headers: bearer(user.token) });
        assert.equal(after.status, 200, after.text());
      } finally {
        await locker.end();
        await watcher.end();
      }
    });
  });
});

describe('Cache-Control', () => {
  for (const [name, make] of Object.entries(protocols)) {
    it(`when a request carries credentials over ${name}, then the answer says no-store`, async () => {
      const { token } = await mint('projects:read');
      const res = await make()('/api/projects', { headers: bearer(token) });
      assert.equal(res.status, 200, res.text());
      assert.equal(res.headers['cache-control'], 'no-store');
      const denied = await make()('/api/projects', { headers: { authorization: 'Bearer nope' } });
      assert.equal(denied.status, 401);
      assert.equal(denied.headers['cache-control'], 'no-store');
    });
  }

  it('when a request is anonymous, then a public answer keeps its own caching', async () => {
    const res = await h1.request(`${cluster.http}/api/health`);
    assert.equal(res.headers['cache-control'], undefined);
  });
});
