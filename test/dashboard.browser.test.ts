import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import zlib from 'node:zlib';
import { type Browser, chromium, type Page } from 'playwright-core';
import { H1Client } from './helpers/clients.ts';
import { killOnExit, ROOT, type RunningCluster, startCluster } from './helpers/cluster.ts';
import { createTestDatabase, stopPostgresServer, type TestDatabase } from './helpers/database.ts';
import { until } from './helpers/until.ts';

// Debian's chromium, installed by .ci/run; playwright-core drives it (it downloads no browser).
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const EMAIL = 'browser@example.com';
const PASSWORD = 'browser password';

let db: TestDatabase;
let cluster: RunningCluster;
let browser: Browser;
let page: Page;

before(async () => {
  db = await createTestDatabase();
  cluster = await startCluster({
    env: {
      DATABASE_URL: db.url,
      ARGON2_MEMORY_KIB: '1024',
      ARGON2_TIME_COST: '1',
      DEFAULT_SCOPES: 'miner:read,miner:control',
      MINER_CMD: process.execPath,
      MINER_ARGS: path.join(ROOT, 'src/miner/sim-miner.ts'),
      SIM_MINER_INTERVAL_MS: '100',
      STATS_PUSH_INTERVAL_MS: '100',
    },
  });
  killOnExit(cluster);
  const h1 = new H1Client();
  const res = await h1.request(`${cluster.http}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: EMAIL, password: PASSWORD }),
  });
  assert.equal(res.status, 201);
  await h1.close();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
    ],
  });
  page = await browser.newPage();
});

after(async () => {
  await browser?.close();
  assert.equal(await cluster?.stop(), 0);
  await db?.drop();
  await stopPostgresServer();
});

const text = (selector: string) => page.locator(selector).innerText();

describe('the dashboard page in Chromium', () => {
  it('signs in and connects the live feed', async () => {
    await page.goto(`${cluster.http}/`);
    await page.fill('#email', EMAIL);
    await page.fill('#password', PASSWORD);
    await page.click('#signin button[type=submit]');
    await page.locator('#connection.live').waitFor();
    await page.locator('#miner-state', { hasText: 'stopped' }).waitFor();
  });

  it('starts the miner and shows the hashrate changing', async () => {
    await page.click('#miner-start');
    await page.locator('#miner-state', { hasText: 'running' }).waitFor();
    await page.locator('#hashrate', { hasText: /H\/s$/ }).waitFor();
    const first = await text('#hashrate');
    await until('the hashrate to change', async () =>
      (await text('#hashrate')) !== first ? true : undefined,
    );
    assert.match(await text('#hashrate'), /H\/s$/);
    assert.equal(await page.locator('#gpus tbody tr').count(), 4);
    await page.screenshot({ path: path.join(tmpdir(), 'ferrite-dashboard.png'), fullPage: true });
  });

  it('stops and starts the simulated miner', async () => {
    await page.click('#miner-stop');
    await page.locator('#miner-state', { hasText: 'stopped' }).waitFor();
    await page.click('#miner-start');
    await page.locator('#miner-state', { hasText: 'running' }).waitFor();
    await page.click('#miner-stop');
    await page.locator('#miner-state', { hasText: 'stopped' }).waitFor();
  });
});

describe('the page assets', () => {
  it('serves index.html revalidated and hashed assets cached for a year, precompressed', async () => {
    const h1 = new H1Client();
    try {
      const index = await h1.request(`${cluster.http}/`, { headers: { 'accept-encoding': 'br' } });
      assert.equal(index.status, 200);
      assert.equal(index.headers['content-encoding'], 'br');
      assert.equal(index.headers['cache-control'], 'no-cache');
      const html = zlib.brotliDecompressSync(index.body).toString('utf8');
      const asset = /\/assets\/app\.[0-9a-f]{12}\.js/.exec(html)?.[0];
      assert.ok(asset, 'index.html links a content-hashed script');
      const js = await h1.request(`${cluster.http}${asset}`, { headers: { 'accept-encoding': 'gzip' } });
      assert.equal(js.headers['content-encoding'], 'gzip');
      assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
      assert.match(String(js.headers['content-type']), /^text\/javascript/);
      assert.match(zlib.gunzipSync(js.body).toString('utf8'), /new WebSocket/);
      const again = await h1.request(`${cluster.http}${asset}`, {
        headers: { 'if-none-match': String(js.headers.etag) },
      });
      assert.equal(again.status, 304);
      assert.equal((await h1.request(`${cluster.http}/assets/missing.js`)).status, 404);
    } finally {
      await h1.close();
    }
  });
});
