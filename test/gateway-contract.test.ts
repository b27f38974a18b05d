// Issue 15: the existing service's OpenAPI document (LEGACY_OPENAPI_FILE) is the contract at the
// gateway. Requests on legacy and gateway routes are checked against it before they are
// forwarded; the shadow and the replay check answers against it; /api/openapi.json lists its
// operations beside ferrite's, and the whole document passes Redocly's recommended rules.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { runCli } from './helpers/cli.ts';
import { bearer, h2once, type Reply, type RequestInit } from './helpers/clients.ts';
import { killOnExit, ROOT, startCluster, useCluster } from './helpers/cluster.ts';
import { FuzzClients, operations, requestArb } from './helpers/fuzz.ts';
import { JWT_SECRET, metricValue, mint, scrape } from './helpers/gateway.ts';
import { until } from './helpers/until.ts';
import { UpstreamDouble } from './helpers/upstream-double.ts';

const LEGACY_DOC = `
openapi: 3.0.3
info: { title: legacy shop, version: '1.0' }
security: [{ legacyKey: [] }]
paths:
  /shop/items:
    get:
      operationId: listItems
      summary: List the items
      parameters:
        - { name: limit, in: query, schema: { type: integer, minimum: 1, maximum: 100 } }
        - { name: x-shop, in: header, required: false, schema: { type: string, enum: [main, outlet] } }
      responses:
        '200':
          description: the items
          content:
            application/json:
              schema: { type: array, items: { $ref: '#/components/schemas/Item' } }
    post:
      operationId: createItem
      summary: Add an item
      requestBody:
        required: true
        content:
          application/json:
            schema: { $ref: '#/components/schemas/NewItem' }
      responses:
        '201':
          description: the item
          content:
            application/json: { schema: { $ref: '#/components/schemas/Item' } }
        '400':
          description: the shop's own refusal
          content:
            application/json: { schema: { $ref: '#/components/schemas/Problem' } }
  /shop/items/{id}:
    parameters:
      - { name: id, in: path, required: true, schema: { type: integer, minimum: 1 } }
    get:
      operationId: getItem
      summary: One item
      responses:
        '200':
          description: the item
          content:
            application/json: { schema: { $ref: '#/components/schemas/Item' } }
        '404': { description: no such item }
  /v1/task/jobs:
    post:
      operationId: createJob
      summary: Queue a job
      security: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [kind]
              properties: { kind: { type: string, enum: [build, test] } }
      responses:
        '202': { description: queued }
  /api/health:
    get:
      operationId: legacyHealth
      summary: The old health check
      responses:
        '200': { description: up }
components:
  securitySchemes:
    legacyKey: { type: apiKey, in: header, name: X-Api-Key }
  schemas:
    NewItem:
      type: object
      required: [name]
      additionalProperties: false
      properties:
        name: { type: string, maxLength: 200, pattern: '^([a-z]+ ?)+$' }
        note: { type: string, nullable: true }
    Item:
      type: object
      required: [id, name]
      properties:
        id: { type: integer, format: int32 }
        name: { type: string }
        note: { type: string, nullable: true }
    Problem:
      type: object
      properties: { message: { type: string } }
    Unused:
      type: object
`;

const legacy = new UpstreamDouble();
const task = new UpstreamDouble();
const shadow = new UpstreamDouble();
const item = (id: unknown) => (_req: IncomingMessage, res: ServerResponse) =>
  res
    .writeHead(200, { 'content-type': 'application/json' })
    .end(JSON.stringify({ id, name: 'spoon', note: null }));
legacy
  .on('/shop/items/7', item(7))
  .on('/shop/items/8', item('eight'))
  .on('/shop/items?', (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('[]'));
// The shadow answers /shop/items/7 in a way the contract does not allow.
shadow.on('/shop/items/7', item('seven'));

let dir: string;
let docFile: string;
const service = useCluster({
  doubles: [legacy, task, shadow],
  env: async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ferrite-contract-'));
    docFile = path.join(dir, 'legacy.yaml');
    await writeFile(docFile, LEGACY_DOC);
    return {
      JWT_SECRET,
      LEGACY_UPSTREAM_URL: legacy.url,
      TASK_UPSTREAM_URL: task.url,
      LEGACY_OPENAPI_FILE: docFile,
      SHADOW_UPSTREAM_URL: shadow.url,
      SHADOW_PERCENT: '100',
      SHADOW_PATHS: '/shop/items',
      BODY_LIMIT_BYTES: '4096',
    };
  },
});

const json = { 'content-type': 'application/json' };
type Send = (p: string, init?: RequestInit) => Promise<Reply>;
const clients: [string, Send][] = [
  ['HTTP/1.1', (p, init) => service.h1.request(service.url(p), init)],
  ['HTTP/2', (p, init) => h2once(service.cluster.http, p, init)],
];

function assertRefused(reply: Reply, status: number, code: string, naming: RegExp) {
  assert.equal(reply.status, status, reply.text());
  assert.match(String(reply.headers['content-type']), /^application\/problem\+json/);
  const problem = reply.json<{ code: string; detail: string }>();
  assert.equal(problem.code, code);
  assert.match(problem.detail, naming);
}

describe('requests on legacy routes are checked against its OpenAPI document', () => {
  for (const [protocol, send] of clients) {
    it(`refuses what breaks it before the legacy service sees it (${protocol})`, async () => {
      const before = legacy.received.length;
      assertRefused(
        await send('/shop/items?limit=500'),
        400,
        'VALIDATION_FAILED',
        /query \/limit: must be <= 100/,
      );
      assertRefused(
        await send('/shop/items', { headers: { 'x-shop': 'cellar' } }),
        400,
        'VALIDATION_FAILED',
        /header \/x-shop: must be equal to one of the allowed values/,
      );
      assertRefused(await send('/shop/items/0'), 400, 'VALIDATION_FAILED', /path \/id: must be >= 1/);
      assertRefused(await send('/shop/items/seven'), 400, 'VALIDATION_FAILED', /path \/id: must be integer/);
      const post = (body: string, headers: Record<string, string> = json) =>
        send('/shop/items', { method: 'POST', headers, body });
      const wrong = await post(JSON.stringify({ name: 'spoon', colour: 'red', note: 3 }));
      assertRefused(wrong, 400, 'VALIDATION_FAILED', /body \/colour: must NOT have additional properties/);
      assert.match(
        wrong.json<{ detail: string }>().detail,
        /body \/note: must be string,null|body \/note: must be string/,
      );
      assert.deepEqual(
        wrong
          .json<{ errors: { in: string; path: string }[] }>()
          .errors.map((e) => `${e.in} ${e.path}`)
          .sort(),
        ['body /colour', 'body /note'],
      );
      assertRefused(await post('{"name": '), 400, 'MALFORMED_JSON', /not valid JSON/);
      assertRefused(
        await post('name=spoon', { 'content-type': 'application/x-www-form-urlencoded' }),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        /takes application\/json/,
      );
      assertRefused(await post(JSON.stringify({ name: 'a'.repeat(5000) })), 413, 'PAYLOAD_TOO_LARGE', /4096/);
      assertRefused(
        await send('/shop/items', { method: 'POST' }),
        400,
        'VALIDATION_FAILED',
        /body \/: a body is required/,
      );
      // A near match of a backtracking pattern (`^([a-z]+ ?)+$`) is refused at once: the
      // document's patterns run on a linear-time engine, so this cannot hold the worker.
      assertRefused(
        await post(JSON.stringify({ name: `${'a'.repeat(120)}!` })),
        400,
        'VALIDATION_FAILED',
        /body \/name: must match pattern/,
      );
      assert.equal(legacy.received.length, before, 'nothing refused reached the legacy service');
    });

    it(`forwards what keeps it as sent (${protocol})`, async () => {
      const body = JSON.stringify({ name: 'soup spoon', note: null });
      const echoed = await send('/shop/items', { method: 'POST', headers: json, body });
      assert.equal(echoed.status, 200, echoed.text());
      const seen = echoed.json<{ bytes: number; headers: Record<string, string> }>();
      assert.equal(seen.bytes, Buffer.byteLength(body));
      assert.equal(seen.headers['content-length'], String(Buffer.byteLength(body)));
      assert.equal(
        (await send('/shop/items?limit=5&unlisted=1')).status,
        200,
        'undeclared query members pass',
      );
      assert.equal((await send('/shop/items/7')).json<{ id: number }>().id, 7);
      // A path the document does not describe is the legacy service's business alone.
      assert.equal((await send('/shop/other?limit=500', { method: 'PUT', body: 'x' })).status, 200);
    });
  }

  it('forwards a compressed body decoded, with its own length', async () => {
    const body = JSON.stringify({ name: 'fork' });
    const reply = await service.h1.request(service.url('/shop/items'), {
      method: 'POST',
      headers: { ...json, 'content-encoding': 'gzip' },
      body: gzipSync(body),
    });
    assert.equal(reply.status, 200, reply.text());
    const seen = reply.json<{ bytes: number; headers: Record<string, string> }>();
    assert.equal(seen.bytes, Buffer.byteLength(body));
    assert.equal(seen.headers['content-encoding'], undefined);
    assert.equal(seen.headers['content-length'], String(Buffer.byteLength(body)));
  });

  it('checks gateway routes too, after their token', async () => {
    const { token } = await mint('task:write');
    const before = task.received.length;
    const jobs = (body: unknown, headers: Record<string, string> = bearer(token)) =>
      service.h1.request(service.url('/v1/task/jobs'), {
        method: 'POST',
        headers: { ...json, ...headers },
        body: JSON.stringify(body),
      });
    assert.equal((await jobs({ kind: 'deploy' }, {})).status, 401, 'no token: refused before the contract');
    assertRefused(
      await jobs({ kind: 'deploy' }),
      400,
      'VALIDATION_FAILED',
      /body \/kind: must be equal to one of/,
    );
    assert.equal(task.received.length, before);
    const ok = await jobs({ kind: 'build' });
    assert.equal(ok.status, 200, ok.text());
    assert.equal(ok.json<{ url: string }>().url, '/jobs');
  });
});

describe('answers are checked in the shadow', () => {
  it('counts and logs an answer that breaks the contract', async () => {
    const { cluster } = service;
    assert.equal((await service.h1.request(service.url('/shop/items/7'))).status, 200);
    const broken = 'contract (shadow): body /id: must be integer';
    const differencesOf = (l: unknown) => (l as { differences?: string[] }).differences ?? [];
    const line = await cluster.waitForLog(
      (l) => l.msg === 'shadow response differs' && differencesOf(l).includes(broken),
    );
    const differences = differencesOf(line);
    assert.ok(differences.includes('/id'), `the bodies differ at /id too: ${JSON.stringify(differences)}`);
    assert.ok(!differences.some((d) => d.startsWith('contract (ferrite)')), 'the legacy answer keeps it');
    await until('the breach counted', async () => {
      const text = await scrape(cluster.metrics);
      return metricValue(text, 'router_contract_breaches_total', { answer: 'shadow' }) >= 1
        ? true
        : undefined;
    });
  });
});

describe('/api/openapi.json', () => {
  it("lists the legacy operations beside ferrite's own", async () => {
    const doc = (await service.h1.request(service.url('/api/openapi.json'))).json<{
      paths: Record<string, Record<string, Record<string, unknown>>>;
      components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
    }>();
    const list = doc.paths['/shop/items']?.get;
    assert.equal(list?.operationId, 'listItems');
    assert.deepEqual(list?.security, [{ legacyKey: [] }]);
    assert.ok(doc.paths['/shop/items/{id}']?.get, 'the templated path');
    assert.ok(doc.paths['/v1/task/jobs']?.post, 'a gateway route');
    assert.equal(doc.paths['/api/health']?.get?.operationId, 'getHealth', "ferrite's own operation wins");
    // 3.0's nullable, in 3.1's terms; the legacy `Problem` renamed beside ferrite's own.
    assert.deepEqual((doc.components.schemas.Item as { properties: { note: unknown } }).properties.note, {
      type: ['string', 'null'],
    });
    assert.ok(doc.components.schemas.LegacyProblem);
    const created = doc.paths['/shop/items']?.post?.responses as Record<
      string,
      { content?: Record<string, unknown>; $ref?: string }
    >;
    assert.deepEqual(Object.keys(created['400']?.content ?? {}).sort(), [
      'application/json',
      'application/problem+json',
    ]);
    assert.equal(
      (created['400']?.content?.['application/json'] as { schema?: { $ref: string } } | undefined)?.schema
        ?.$ref,
      '#/components/schemas/LegacyProblem',
    );
    assert.equal(created['413']?.$ref, '#/components/responses/PayloadTooLarge');
    assert.equal(doc.components.schemas.Unused, undefined, 'schemas no operation uses are left out');
    assert.ok(doc.components.securitySchemes.legacyKey);
  });

  it("passes Redocly's recommended rules with no error and no warning", async () => {
    const file = path.join(dir, 'openapi.json');
    await writeFile(file, (await service.h1.request(service.url('/api/openapi.json'))).body);
    const redocly = path.join(ROOT, 'node_modules/.bin/redocly');
    const result = await promisify(execFile)(
      redocly,
      ['lint', '--extends', 'recommended', '--format', 'json', file],
      {
        env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
        maxBuffer: 64 << 20,
      },
    ).catch((err: { stdout?: string; stderr?: string }) => ({
      stdout: err.stdout ?? '',
      stderr: err.stderr ?? '',
    }));
    const report = JSON.parse(result.stdout) as {
      totals: { errors: number; warnings: number };
      problems: { ruleId: string; message: string; location: { pointer: string }[] }[];
    };
    const listed = report.problems.map((p) => `${p.ruleId} ${p.location[0]?.pointer}: ${p.message}`);
    assert.deepEqual(listed, []);
    assert.deepEqual(report.totals, { ...report.totals, errors: 0, warnings: 0 });
  });
});

describe('fuzzing the legacy operations', () => {
  let clients: FuzzClients | undefined;
  after(() => clients?.close());
  for (const protocol of ['h1', 'h2'] as const) {
    it(`answers hostile input with the legacy's answer or a problem, never a 5xx (${protocol})`, async () => {
      const { cluster, h1 } = service;
      clients ??= new FuzzClients(cluster.http, cluster.https, cluster.ca);
      const doc = (await h1.request(service.url('/api/openapi.json'))).json();
      const legacyOps = operations(doc as never).filter((op) => /^\/(shop|v1)\//.test(op.path));
      assert.equal(legacyOps.length, 4);
      const { token } = await mint('task:write');
      const pids = cluster.workerPids();
      for (const [index, op] of legacyOps.entries()) {
        const property = fc.asyncProperty(
          requestArb(op, { ids: ['1', '7', '8', 'x'], paths: [] }, token),
          async (req) => {
            const res = await (clients as FuzzClients).send(protocol, req);
            const what = `${req.method} ${req.url.slice(0, 200)} → ${res.status} ${res.body.toString().slice(0, 300)}`;
            assert.ok(res.status < 500, what);
            if (res.status >= 400)
              assert.match(String(res.headers['content-type']), /^application\/problem\+json/, what);
          },
        );
        await fc.assert(property, { seed: 1_500_015 + index, numRuns: Number(process.env.FUZZ_RUNS ?? 40) });
      }
      assert.deepEqual(cluster.workerPids(), pids, 'no worker died');
    });
  }
});

describe('npm run replay -- --contract', () => {
  it('counts an answer that breaks the contract as drift', async () => {
    const records = path.join(dir, 'records.ndjson');
    await writeFile(
      records,
      [
        { method: 'GET', url: '/shop/items/7', headers: {} },
        { method: 'GET', url: '/shop/items/8', headers: {} },
      ]
        .map((r) => JSON.stringify(r))
        .join('\n'),
    );
    const cli = path.join(ROOT, 'src/cli/replay.ts');
    const args = [records, '--a', legacy.url, '--b', service.cluster.http];
    const plain = await runCli(cli, args);
    assert.equal(plain.code, 0, `both answer alike: ${plain.stdout}${plain.stderr}`);
    const checked = await runCli(cli, [...args, '--contract', docFile]);
    assert.equal(checked.code, 1, checked.stdout + checked.stderr);
    const drift = checked.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { url?: string; differences?: string[] });
    const eight = drift.find((d) => d.url === '/shop/items/8');
    assert.deepEqual(eight?.differences, [
      'contract (a): body /id: must be integer',
      'contract (b): body /id: must be integer',
    ]);
    assert.equal(
      drift.find((d) => d.url === '/shop/items/7'),
      undefined,
    );
    const missing = await runCli(cli, [...args, '--contract', path.join(dir, 'none.yaml')]);
    assert.equal(missing.code, 2);
  });
});

describe('a bad LEGACY_OPENAPI_FILE', () => {
  for (const [what, text, named] of [
    ['not OpenAPI', '{"swagger": "2.0", "paths": {}}', /not an OpenAPI 3\.0 or 3\.1 document/],
    [
      'a pattern that backtracks and cannot run in linear time',
      JSON.stringify({
        openapi: '3.1.0',
        info: { title: 't', version: '1' },
        paths: {
          '/x': {
            post: {
              requestBody: {
                content: {
                  'application/json': { schema: { type: 'string', pattern: '^(?=(a+)+b)' } },
                },
              },
              responses: { '200': { description: 'ok' } },
            },
          },
        },
      }),
      /POST \/x: the pattern .* repeats a repetition/,
    ],
  ] as const) {
    it(`stops the start with exit 78: ${what}`, async () => {
      const d = await mkdtemp(path.join(tmpdir(), 'ferrite-contract-bad-'));
      const file = path.join(d, 'legacy.json');
      await writeFile(file, text);
      const cluster = await startCluster({
        waitReady: false,
        env: { LEGACY_OPENAPI_FILE: file, DATABASE_URL: 'postgres://127.0.0.1:9/none' },
      });
      killOnExit(cluster);
      assert.equal(await cluster.exited, 78);
      assert.match(cluster.stderr, /LEGACY_OPENAPI_FILE: /);
      assert.match(cluster.stderr, named);
    });
  }
});
