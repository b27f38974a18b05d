// Issue 15: CAPTURE_SAMPLE records real requests and answers (secrets redacted) under DATA_DIR,
// and `npm run replay` sends them to two services and reports drift, exiting 1 on any.
import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from './helpers/cli.ts';
import { bearer, h2once } from './helpers/clients.ts';
import { ROOT, useCluster } from './helpers/cluster.ts';
import { JWT_SECRET } from './helpers/gateway.ts';
import { until } from './helpers/until.ts';
import { UpstreamDouble } from './helpers/upstream-double.ts';

const CLI = path.join(ROOT, 'src/cli/replay.ts');
const legacy = new UpstreamDouble();
legacy.on('/old/page', (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/html', 'x-legacy': 'yes' });
  res.end('<p>old page</p>');
});
// A service that answers like ferrite's /api/openapi.json but not quite.
const other = new UpstreamDouble();
let otherContract = '';
other.on('/api/openapi.json', (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'x-extra': '1' });
  res.end(otherContract);
});

async function replay(args: string[]) {
  const { code, stdout, stderr } = await runCli(CLI, args);
  const lines = stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  return { code, lines, summary: lines.at(-1)?.summary, stderr };
}

describe('capture and replay', () => {
  const service = useCluster({
    doubles: [legacy, other],
    env: () => ({
      JWT_SECRET,
      LEGACY_UPSTREAM_URL: legacy.url,
      CAPTURE_SAMPLE: '100',
      // The OpenAPI document is recorded whole (it is over the 64 KiB default).
      CAPTURE_MAX_BODY_BYTES: '4194304',
    }),
  });
  const captureDir = () => path.join(service.cluster.dataDir, 'capture');
  const captured = async () => {
    const files = (await readdir(captureDir())).filter((f) => f.endsWith('.ndjson'));
    const text = (await Promise.all(files.map((f) => readFile(path.join(captureDir(), f), 'utf8')))).join('');
    return {
      files,
      text,
      records: text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
    };
  };
  const json = { 'content-type': 'application/json' };
  const email = `capture-${Date.now()}@example.com`;
  const password = 'a capture test password';
  let accessToken = '';
  let refreshToken = '';

  it('records requests and answers over HTTP/1.1 and HTTP/2 with secrets redacted, readable by the service only', async () => {
    const { h1 } = service;
    assert.equal(
      (
        await h1.request(service.url('/api/auth/register'), {
          method: 'POST',
          headers: json,
          body: JSON.stringify({ email, password }),
        })
      ).status,
      201,
    );
    const login = await h1.request(service.url('/api/auth/login'), {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ email, password }),
    });
    ({ accessToken, refreshToken } = login.json<{ accessToken: string; refreshToken: string }>());
    assert.equal(
      (await h1.request(service.url('/api/projects?limit=5'), { headers: bearer(accessToken) })).status,
      200,
    );
    assert.equal((await h1.request(service.url('/old/page'))).status, 200);
    assert.equal(
      (await h2once(service.cluster.http, '/api/openapi.json', { headers: { 'accept-encoding': 'gzip' } }))
        .status,
      200,
    );

    const { files, text, records } = await until('five records', async () => {
      const c = await captured().catch(() => undefined);
      return c && c.records.length >= 5 ? c : undefined;
    });
    for (const secret of [password, accessToken, refreshToken])
      assert.ok(!text.includes(secret), 'no secret recorded');
    for (const f of files) assert.equal((await stat(path.join(captureDir(), f))).mode & 0o777, 0o600);

    const find = (method: string, url: string) =>
      records.find((r) => r.method === method && r.url.startsWith(url));
    const register = find('POST', '/api/auth/register');
    assert.deepEqual(register.body, { email, password: '[redacted]' });
    assert.equal(register.status, 201);
    const loginRecord = find('POST', '/api/auth/login');
    assert.equal(loginRecord.responseBody.accessToken, '[redacted]');
    assert.equal(loginRecord.responseBody.refreshToken, '[redacted]');
    assert.equal(loginRecord.responseBody.tokenType, 'Bearer');
    const list = find('GET', '/api/projects?limit=5');
    assert.equal(list.headers.authorization, '[redacted]');
    assert.deepEqual(list.responseBody, { items: [], nextCursor: null });
    const page = find('GET', '/old/page');
    assert.deepEqual(page.responseBody, { text: '<p>old page</p>' });
    assert.equal(page.responseHeaders['x-legacy'], 'yes');
    // Compressed on the wire (h2, gzip asked), recorded as parsed JSON.
    const contract = find('GET', '/api/openapi.json');
    assert.equal(contract.responseHeaders['content-encoding'], 'gzip');
    assert.match(String(contract.responseBody.openapi), /^3\./, JSON.stringify(contract).slice(0, 600));
  });

  it('replays a capture against two services: GETs match, writes are skipped unless named, drift exits 1', async () => {
    // Each worker writes its own file; one run replays them all.
    const all = (await captured()).records;
    const merged = path.join(tmpdir(), `capture-merged-${process.pid}.ndjson`);
    await writeFile(merged, `${all.map((r) => JSON.stringify(r)).join('\n')}\n`);

    const same = await replay([merged, '--a', service.cluster.http, '--b', service.cluster.http]);
    assert.equal(same.code, 0, JSON.stringify(same.lines) + same.stderr);
    assert.equal(same.summary.records, all.length);
    assert.equal(same.summary.skipped, 2, 'the two POSTs are not replayed');
    assert.equal(same.summary.drifted, 0);
    assert.ok(same.summary.matched >= 3);

    // The list was recorded with its token redacted: replayed bare, 401 on both (a match); with
    // --header it is the user's list again on both.
    const withToken = await replay([
      merged,
      '--a',
      service.cluster.http,
      '--b',
      service.cluster.http,
      '--header',
      `authorization: Bearer ${accessToken}`,
    ]);
    assert.equal(withToken.code, 0, JSON.stringify(withToken.lines));

    // Against a service whose contract differs: the drift, by request, with what differs.
    const ours = await service.h1.request(service.url('/api/openapi.json'));
    const changed = ours.json<{ info: { title: string } }>();
    changed.info.title = 'not ferrite';
    otherContract = JSON.stringify(changed);
    const contractOnly = path.join(tmpdir(), `capture-contract-${process.pid}.ndjson`);
    await writeFile(contractOnly, `${JSON.stringify(all.find((r) => r.url === '/api/openapi.json'))}\n`);
    const drift = await replay([contractOnly, '--a', service.cluster.http, '--b', other.url]);
    assert.equal(drift.code, 1);
    assert.equal(drift.summary.drifted, 1);
    const [report] = drift.lines;
    assert.equal(report.kind, 'drift');
    assert.equal(report.url, '/api/openapi.json');
    assert.ok(report.differences.includes('/info/title'), JSON.stringify(report.differences));
    assert.ok(report.differences.some((d: string) => d.startsWith('header x-extra:')));

    const ignored = await replay([
      contractOnly,
      '--a',
      service.cluster.http,
      '--b',
      other.url,
      '--ignore-fields',
      'title',
      '--ignore-headers',
      'x-extra,x-content-type-options,x-frame-options,content-security-policy,referrer-policy,cache-control,vary,x-powered-by',
    ]);
    assert.equal(ignored.code, 0, JSON.stringify(ignored.lines));

    // A service that is not there: failed, exit 1.
    const down = await replay([contractOnly, '--a', service.cluster.http, '--b', 'http://127.0.0.1:9']);
    assert.equal(down.code, 1);
    assert.equal(down.summary.failed, 1);

    const usage = await replay([contractOnly, '--a', 'ftp://x']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--a takes an http\(s\) URL/);
  });
});
