// Issue 15: the routes file's split between ferrite and the legacy service, canaries sticky per
// caller, the automatic rollback of a failing canary across every worker, and the operator's
// `npm run routes`. A real legacy stub, a real task upstream made to fail, the real cluster.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseConfig } from '../src/config.ts';
import { AccessTokens } from '../src/modules/auth/auth.tokens.ts';
import { findRule, loadRoutesFile, RoutesFileError } from '../src/modules/cutover/cutover.file.ts';
import { CanaryJudge } from '../src/modules/cutover/cutover.judge.ts';
import { runCli } from './helpers/cli.ts';
import { bearer, h2once } from './helpers/clients.ts';
import {
  killOnExit,
  PROCESS_MODEL,
  ROOT,
  startCluster,
  useCluster,
  WORKER_LABEL,
} from './helpers/cluster.ts';
import { JWT_SECRET, metricValue, scrape } from './helpers/gateway.ts';
import { until } from './helpers/until.ts';
import { UpstreamDouble } from './helpers/upstream-double.ts';

const CLI = path.join(ROOT, 'src/cli/routes.ts');
const tmpFile = (name: string) =>
  path.join(tmpdir(), `cutover-${process.pid}-${Math.random().toString(36).slice(2)}-${name}`);

async function routesFile(doc: unknown, name = 'routes.json'): Promise<string> {
  const file = tmpFile(name);
  await writeFile(file, typeof doc === 'string' ? doc : JSON.stringify(doc));
  return file;
}

describe('the routes file', () => {
  it('reads JSON and YAML, matching methods, :params, a final * and HEAD for GET', async () => {
    const yaml = await routesFile(
      `routes:
  - match: GET /api/things/:id
    serve: legacy
  - name: orders
    match: POST,PUT /v1/orders/*
    serve: canary
    percent: 12.5
    rollback: { minSamples: 5, windowSeconds: 10 }
  - match: "* /old/*"
    serve: ferrite
`,
      'routes.yaml',
    );
    const rules = loadRoutesFile(yaml);
    assert.deepEqual(
      rules.map((r) => [r.name, r.serve, r.percent]),
      [
        ['GET /api/things/:id', 'legacy', 0],
        ['orders', 'canary', 12.5],
        ['* /old/*', 'ferrite', 0],
      ],
    );
    assert.equal(rules[1]?.rollback.minSamples, 5);
    assert.equal(rules[1]?.rollback.errorRatio, 0.01, 'defaults fill the rest');
    const name = (method: string, p: string) => findRule(rules, method, p)?.name;
    assert.equal(name('GET', '/api/things/42'), 'GET /api/things/:id');
    assert.equal(name('HEAD', '/api/things/42'), 'GET /api/things/:id');
    assert.equal(name('GET', '/api/things/'), undefined, 'a :param needs a segment');
    assert.equal(name('GET', '/api/things/42/more'), undefined);
    assert.equal(name('POST', '/api/things/42'), undefined);
    assert.equal(name('PUT', '/v1/orders'), 'orders', '* matches nothing too');
    assert.equal(name('POST', '/v1/orders/a/b'), 'orders');
    assert.equal(name('GET', '/v1/orders/a'), undefined);
    assert.equal(name('DELETE', '/old/x'), '* /old/*');
    assert.equal(name('GET', '/OLD/x'), undefined, 'paths match as sent');
  });

  it('names every mistake at once', async () => {
    const bad = await routesFile({
      routes: [
        { match: 'GET api/x', serve: 'legacy' },
        { match: 'GET /a', serve: 'canary' },
        { match: 'GET /b', serve: 'somewhere' },
        { match: 'GET /c/*/d', serve: 'ferrite', extra: 1 },
        { match: 'GET /e', serve: 'canary', percent: 101, rollback: { minSamples: 0, bogus: 1 } },
        { name: 'dup', match: 'GET /f', serve: 'ferrite' },
        { name: 'dup', match: 'GET /g', serve: 'ferrite' },
      ],
      other: true,
    });
    assert.throws(
      () => loadRoutesFile(bad),
      (err: Error) => {
        assert.ok(err instanceof RoutesFileError);
        for (const expected of [
          'other: unknown key',
          'routes[0].match',
          'routes[1].percent: a canary needs',
          'routes[2].serve',
          'routes[3].extra: unknown key',
          'routes[3].match: "*" only as the last segment',
          'routes[4].percent',
          'routes[4].rollback.minSamples',
          'routes[4].rollback.bogus: unknown key',
          'routes[6]: a second route named "dup"',
        ]) {
          assert.ok(err.message.includes(expected), `${expected} in ${err.message}`);
        }
        return true;
      },
    );
    assert.throws(() => loadRoutesFile(tmpFile('missing.json')), RoutesFileError);
    const broken = await routesFile('{"routes": [', 'broken.json');
    assert.throws(() => loadRoutesFile(broken), /not valid JSON/);
    const brokenYaml = await routesFile('routes: [\n  - {', 'broken.yml');
    assert.throws(() => loadRoutesFile(brokenYaml), /not valid YAML/);
  });

  it('judges a canary by its 5xx ratio and p99 against the legacy, only past the minimum sample', () => {
    const budget = {
      errorRatio: 0.05,
      latencyFactor: 2,
      latencyMarginMs: 5,
      windowSeconds: 10,
      minSamples: 20,
    };
    const errors = new CanaryJudge(budget);
    const t = 1_000_000;
    for (let i = 0; i < 19; i++) errors.record('ferrite', 500, 1, t);
    assert.equal(errors.judge(t), undefined, 'under the minimum sample');
    errors.record('ferrite', 200, 1, t);
    assert.match(String(errors.judge(t)?.reason), /5xx ratio 95\.0 %/);
    assert.equal(errors.judge(t + 11_000), undefined, 'out of the window');

    const slow = new CanaryJudge(budget);
    for (let i = 0; i < 200; i++) {
      slow.record('legacy', 200, 3, t);
      slow.record('ferrite', 200, i === 0 ? 100 : 3, t);
    }
    assert.equal(slow.judge(t), undefined, '1 slow of 200 is under the p99');
    for (let i = 0; i < 3; i++) slow.record('ferrite', 200, 100, t);
    assert.match(String(slow.judge(t)?.reason), /p99 ≤ 128 ms/);

    const sameAsLegacy = new CanaryJudge(budget);
    for (let i = 0; i < 40; i++) {
      sameAsLegacy.record('legacy', i % 10 === 0 ? 503 : 200, 3, t);
      sameAsLegacy.record('ferrite', i % 10 === 0 ? 500 : 200, 3, t);
    }
    assert.equal(sameAsLegacy.judge(t), undefined, 'ferrite failing as often as the legacy is no breach');
  });
});

// ----------------------------------------------------------------------------------------------

const legacy = new UpstreamDouble();
legacy.on('/', (req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'x-served-by': 'legacy' });
  res.end(JSON.stringify({ legacy: true, url: req.url }));
});
let taskFails = false;
const tasks = new UpstreamDouble();
tasks.on('/', (req, res) => {
  res.writeHead(taskFails ? 500 : 200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ ferriteUpstream: true, url: req.url }));
});

const issuer = new AccessTokens(parseConfig({ JWT_SECRET }));
// Fixed users: the split is deterministic for them.
const userToken = (i: number) =>
  issuer.issue({
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    scopes: ['task:read', 'task:write'],
  });

describe('cut-over routes on the cluster', async () => {
  const file = await routesFile({
    routes: [
      { name: 'contract', match: 'GET /api/openapi.json', serve: 'legacy' },
      { name: 'project-list', match: 'GET /api/projects', serve: 'legacy' },
      {
        name: 'tasks',
        match: '* /v1/task/*',
        serve: 'canary',
        percent: 50,
        rollback: { windowSeconds: 60, minSamples: 10, errorRatio: 0.05 },
      },
    ],
  });
  const service = useCluster({
    doubles: [legacy, tasks],
    env: () => ({
      JWT_SECRET,
      LEGACY_UPSTREAM_URL: legacy.url,
      TASK_UPSTREAM_URL: tasks.url,
      GATEWAY_RETRIES: '0',
      // The task upstream's breaker stays out of it: ferrite's answers are the upstream's.
      GATEWAY_BREAKER_MIN_REQUESTS: '1000000',
      ROUTES_FILE: file,
    }),
  });
  const tokens = await Promise.all(Array.from({ length: 40 }, (_, i) => userToken(i)));
  const who = async (token: string | undefined, p = '/v1/task/items') => {
    const res = await service.h1.request(service.url(p), { headers: token ? bearer(token) : {} });
    return res.headers['x-served-by'] === 'legacy' ? 'legacy' : `ferrite ${res.status}`;
  };
  const routes = async (...args: string[]) => {
    const { code, stdout, stderr } = await runCli(CLI, args, {
      DATABASE_URL: service.db.url,
      ROUTES_FILE: file,
      LEGACY_UPSTREAM_URL: legacy.url,
    });
    return { code, out: stdout ? JSON.parse(stdout) : undefined, stderr };
  };
  const serving = (status: { routes: { route: string; serving: string }[] }, route: string) =>
    status.routes.find((r) => r.route === route)?.serving;

  it('sends a legacy route to the legacy service over HTTP/1.1 and HTTP/2; a method the rule leaves out stays with ferrite', async () => {
    assert.equal(await who(undefined, '/api/openapi.json'), 'legacy');
    const h2 = await h2once(service.cluster.http, '/api/openapi.json');
    assert.equal(h2.headers['x-served-by'], 'legacy');
    assert.equal(await who(undefined, '/api/projects'), 'legacy');
    // POST /api/projects is not in the rule: ferrite's route answers (401 without a token).
    const post = await service.h1.request(service.url('/api/projects'), { method: 'POST' });
    assert.equal(post.status, 401);
    assert.equal(post.json().code, 'UNAUTHORIZED');
    assert.equal(post.headers['x-served-by'], undefined);
  });

  it('splits a canary by caller, each caller always on the same side', async () => {
    const sides = new Map<number, string>();
    for (let round = 0; round < 3; round++) {
      for (const [i, token] of tokens.entries()) {
        const side = await who(token);
        if (round === 0) sides.set(i, side);
        else assert.equal(side, sides.get(i), `user ${i} stays on one side`);
      }
    }
    const onFerrite = [...sides.values()].filter((s) => s === 'ferrite 200').length;
    assert.ok(onFerrite > 5 && onFerrite < 35, `about half on ferrite: ${onFerrite} of 40`);
    assert.equal([...sides.values()].filter((s) => s === 'legacy').length, 40 - onFerrite);
    // Without a token the client address decides, the same every time.
    const anonymous = new Set(await Promise.all(Array.from({ length: 6 }, () => who(undefined))));
    assert.equal(anonymous.size, 1);
  });

  it('rolls a failing canary back to the legacy on every worker, records why, and the operator can reset it', async () => {
    taskFails = true;
    try {
      // Traffic until ferrite's answers break the budget and the route goes back to the legacy.
      await until(
        'the automatic rollback',
        async () => {
          for (const token of tokens) await who(token);
          return service.cluster.logs.find((l) => l.msg === 'canary route rolled back to the legacy service');
        },
        300,
      );
      const line = service.cluster.logs.find(
        (l) => l.msg === 'canary route rolled back to the legacy service',
      );
      assert.equal(line?.route, 'tasks');
      assert.match(String(line?.reason), /5xx ratio/);
      // Every worker, every user: the legacy serves (the notification reaches the other worker).
      await until('every caller on the legacy', async () => {
        const sides = await Promise.all(tokens.map((t) => who(t)));
        return sides.every((s) => s === 'legacy') || undefined;
      });
      const status = await routes('status');
      assert.equal(status.code, 0, status.stderr);
      assert.equal(serving(status.out, 'tasks'), 'legacy');
      const tasksStatus = status.out.routes.find((r: { route: string }) => r.route === 'tasks');
      assert.match(tasksStatus.override.by, new RegExp(`automatic rollback \\(worker ${WORKER_LABEL} on `));
      assert.match(tasksStatus.override.reason, /5xx ratio/);
      const metrics = await scrape(service.cluster.metrics);
      assert.equal(
        metricValue(metrics, 'router_split_rollbacks_total', { route: 'tasks' }),
        1,
        'one worker made it',
      );
      assert.ok(
        metricValue(metrics, 'router_split_requests_total', {
          route: 'tasks',
          target: 'ferrite',
          status_class: '5xx',
        }) >= 10,
      );
      assert.ok(metricValue(metrics, 'router_split_route_state', { route: 'tasks' }) >= 1);
    } finally {
      taskFails = false;
    }
    // The operator resets it: the canary again, judged afresh.
    const reset = await routes('reset', 'tasks');
    assert.equal(reset.code, 0, reset.stderr);
    assert.equal(serving(reset.out, 'tasks'), 'canary 50 %');
    await until('the canary back', async () => {
      const sides = await Promise.all(tokens.map((t) => who(t)));
      return sides.includes('ferrite 200') || undefined;
    });
  });

  it('promote and rollback by hand move every caller; a route not in the file is refused', async () => {
    const promoted = await routes('promote', 'tasks');
    assert.equal(serving(promoted.out, 'tasks'), 'ferrite');
    await until('every caller on ferrite', async () => {
      const sides = await Promise.all(tokens.map((t) => who(t)));
      return sides.every((s) => s === 'ferrite 200') || undefined;
    });
    const rolled = await routes('rollback', 'tasks');
    assert.equal(serving(rolled.out, 'tasks'), 'legacy');
    await until('every caller on the legacy', async () => {
      const sides = await Promise.all(tokens.map((t) => who(t)));
      return sides.every((s) => s === 'legacy') || undefined;
    });
    assert.equal((await routes('reset', 'tasks')).code, 0);

    const unknown = await routes('promote', 'nope');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /No route "nope".*tasks/);
    const usage = await routes('launch');
    assert.equal(usage.code, 1);
    assert.match(usage.stderr, /usage/);
  });
});

describe('reloading the routes file on SIGHUP', async () => {
  const rules = (withContract: boolean) => ({
    routes: [
      ...(withContract ? [{ name: 'contract', match: 'GET /api/openapi.json', serve: 'legacy' }] : []),
      { name: 'project-list', match: 'GET /api/projects', serve: 'legacy' },
    ],
  });
  const file = await routesFile(rules(true));
  const service = useCluster({
    doubles: [legacy],
    env: () => ({ JWT_SECRET, LEGACY_UPSTREAM_URL: legacy.url, ROUTES_FILE: file }),
  });
  const servedBy = async (p: string) =>
    (await service.h1.request(service.url(p))).headers['x-served-by'] === 'legacy' ? 'legacy' : 'ferrite';
  // Cluster: a rolling restart, each new worker reading the file; single: re-read in place.
  const reloaded = PROCESS_MODEL === 'single' ? 'cut-over routes reloaded' : 'rolling restart finished';
  const refused =
    PROCESS_MODEL === 'single'
      ? 'reload failed; keeping the current cut-over routes'
      : 'rolling restart aborted: a new worker did not become ready';

  it('applies a changed file without failing a request, and keeps the current rules on a bad one', async () => {
    const { cluster } = service;
    assert.equal(await servedBy('/api/openapi.json'), 'legacy');
    await writeFile(file, JSON.stringify(rules(false)));
    const seen = cluster.logs.length;
    cluster.process.kill('SIGHUP');
    // Requests all through the reload: every one answered by the legacy, none failed.
    let failures = 0;
    let answered = 0;
    while (!cluster.logs.slice(seen).some((l) => l.msg === reloaded)) {
      const res = await service.h1.request(service.url('/api/projects')).catch(() => undefined);
      if (res?.status === 200 && res.headers['x-served-by'] === 'legacy') answered++;
      else failures++;
    }
    assert.equal(failures, 0);
    assert.ok(answered > 0);
    assert.equal(await servedBy('/api/openapi.json'), 'ferrite', 'the contract rule is gone');
    const contract = await service.h1.request(service.url('/api/openapi.json'));
    assert.match(String(contract.json().openapi), /^3\./);

    await writeFile(file, '{"routes": [{"match": "GET /x"}]}');
    const before = cluster.logs.length;
    cluster.process.kill('SIGHUP');
    await cluster.waitForLog((l) => l.msg === refused && cluster.logs.indexOf(l) >= before);
    assert.equal(await servedBy('/api/projects'), 'legacy', 'the rules in force stay');
    assert.equal(await servedBy('/api/openapi.json'), 'ferrite');
  });
});

describe('a bad routes file', () => {
  it('stops the start with exit 78, naming the problem', async () => {
    const file = await routesFile({ routes: [{ match: 'GET /x', serve: 'canary' }] });
    const legacyUrl = 'http://127.0.0.1:9';
    const cluster = await startCluster({
      waitReady: false,
      env: { ROUTES_FILE: file, LEGACY_UPSTREAM_URL: legacyUrl, DATABASE_URL: 'postgres://127.0.0.1:9/none' },
    });
    killOnExit(cluster);
    assert.equal(await cluster.exited, 78);
    assert.match(cluster.stderr, /ROUTES_FILE: .*routes\[0\]\.percent: a canary needs a number/);
  });
});
