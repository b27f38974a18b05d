import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import zlib from 'node:zlib';
import { type Browser, chromium, type Page } from 'playwright-core';
import { SIM_MINER_ENV, useCluster } from './helpers/cluster.ts';
import { until } from './helpers/until.ts';
import { Api, newUser, type TestUser } from './helpers/workspace.ts';

// Debian's chromium, which `npm test` installs where it is missing (test/runner/system.ts);
// playwright-core drives it (it downloads no browser).
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const service = useCluster(
  {
    env: {
      DEFAULT_SCOPES: 'miner:read,miner:control',
      ...SIM_MINER_ENV,
      SIM_MINER_INTERVAL_MS: '100',
      STATS_PUSH_INTERVAL_MS: '100',
    },
  },
  async () => {
    user = await newUser(service.h1, service.cluster.http);
    api = new Api(service.h1, service.cluster.http, user.token);
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
  },
);
let browser: Browser;
let user: TestUser;
let api: Api;

after(async () => {
  await browser?.close();
});

/** Puts the miner in `state` through the API, whatever an earlier test left. */
async function minerIs(state: 'running' | 'stopped'): Promise<void> {
  const res = await api.request(state === 'running' ? '/api/miner/start' : '/api/miner/stop', {
    method: 'POST',
  });
  assert.ok(res.status === 200 || res.status === 202, res.text());
  await until(`the miner to be ${state}`, async () =>
    (await api.request('/api/miner/status')).json().state === state ? true : undefined,
  );
}

/** A page of its own (a fresh browser context: no session) on the dashboard. */
async function withPage(fn: (page: Page) => Promise<void>): Promise<void> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(service.url('/'));
    await fn(page);
  } finally {
    await context.close();
  }
}

async function signIn(page: Page): Promise<void> {
  await page.fill('#email', user.email);
  await page.fill('#password', user.password);
  await page.click('#signin button[type=submit]');
  await page.locator('#connection.live').waitFor();
}

const showsMiner = (page: Page, state: 'running' | 'stopped') =>
  page.locator('#miner-state', { hasText: state }).waitFor();

/** A signed-in dashboard of its own, showing the miner in `state`. */
async function dashboard(state: 'running' | 'stopped', fn: (page: Page) => Promise<void>): Promise<void> {
  await minerIs(state);
  await withPage(async (page) => {
    await signIn(page);
    await showsMiner(page, state);
    await fn(page);
  });
}

describe('the dashboard page in Chromium', () => {
  it('signs in and connects the live feed', async () => {
    await minerIs('stopped');
    await withPage(async (page) => {
      await signIn(page);
      await showsMiner(page, 'stopped');
    });
  });

  it('starts the miner and shows the hashrate changing', async () => {
    await dashboard('stopped', async (page) => {
      await page.click('#miner-start');
      await showsMiner(page, 'running');
      await page.locator('#hashrate', { hasText: /H\/s$/ }).waitFor();
      const hashrate = () => page.locator('#hashrate').innerText();
      const first = await hashrate();
      await until('the hashrate to change', async () => ((await hashrate()) !== first ? true : undefined));
      assert.match(await hashrate(), /H\/s$/);
      assert.equal(await page.locator('#gpus tbody tr').count(), 4);
      await page.screenshot({ path: path.join(tmpdir(), 'ferrite-dashboard.png'), fullPage: true });
    });
  });

  it('stops and starts the simulated miner', async () => {
    await dashboard('running', async (page) => {
      await page.click('#miner-stop');
      await showsMiner(page, 'stopped');
      await page.click('#miner-start');
      await showsMiner(page, 'running');
      await page.click('#miner-stop');
      await showsMiner(page, 'stopped');
    });
  });
});

describe('the page assets', () => {
  it('serves index.html revalidated and hashed assets cached for a year, precompressed', async () => {
    const { h1 } = service;
    const index = await h1.request(service.url('/'), { headers: { 'accept-encoding': 'br' } });
    assert.equal(index.status, 200);
    assert.equal(index.headers['content-encoding'], 'br');
    assert.equal(index.headers['cache-control'], 'no-cache');
    const html = zlib.brotliDecompressSync(index.body).toString('utf8');
    const asset = /\/assets\/app\.[0-9a-f]{12}\.js/.exec(html)?.[0];
    assert.ok(asset, 'index.html links a content-hashed script');
    const js = await h1.request(service.url(asset), { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(js.headers['content-encoding'], 'gzip');
    assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.match(String(js.headers['content-type']), /^text\/javascript/);
    assert.match(zlib.gunzipSync(js.body).toString('utf8'), /new WebSocket/);
    const again = await h1.request(service.url(asset), {
      headers: { 'if-none-match': String(js.headers.etag) },
    });
    assert.equal(again.status, 304);
    assert.equal((await h1.request(service.url('/assets/missing.js'))).status, 404);
  });
});
