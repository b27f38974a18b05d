import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import zlib from 'node:zlib';
import axe from 'axe-core';
import pg from 'pg';
import { type Browser, type BrowserContextOptions, chromium, type Page } from 'playwright-core';
import { ROOT, SIM_MINER_ENV, useCluster } from './helpers/cluster.ts';
import { until } from './helpers/until.ts';
import { Api, newUser, type TestUser } from './helpers/workspace.ts';

// Debian's chromium, which `npm test` installs where it is missing (test/runner/system.ts);
// playwright-core drives it (it downloads no browser).
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TEMP_ALERT_C = 80;
/** Where the screenshots go: docs/ when SCREENSHOTS_DIR=docs (how the README's were made). */
const SCREENSHOTS = process.env.SCREENSHOTS_DIR ? path.resolve(ROOT, process.env.SCREENSHOTS_DIR) : tmpdir();

const service = useCluster(
  {
    env: {
      DEFAULT_SCOPES: 'miner:read,miner:control',
      ...SIM_MINER_ENV,
      SIM_MINER_INTERVAL_MS: '100',
      STATS_PUSH_INTERVAL_MS: '100',
      // Each start of the simulated miner begins below the alert and warms past it in ~1 s.
      DASHBOARD_GPU_TEMP_ALERT_C: String(TEMP_ALERT_C),
      SIM_MINER_TEMPERATURE_C: '70',
      SIM_MINER_HEAT_PER_TICK_C: '1',
      // …and its hashrate halves after 1.5 s, below the alert's share of the 15-minute average.
      SIM_MINER_SLOWDOWN_AFTER_MS: '1500',
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
async function withPage(
  fn: (page: Page) => Promise<void>,
  options: BrowserContextOptions = {},
): Promise<void> {
  const context = await browser.newContext(options);
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

/**
 * An hour of history as a rig would have left it: a sample every 30 s from four GPUs (below the
 * temperature alert), two crashes and their restarts, and two blocks found and validated.
 */
async function seedHistory(): Promise<void> {
  const sql = new pg.Client({ connectionString: service.db.url });
  await sql.connect();
  try {
    await sql.query(
      `INSERT INTO stats_samples (at, host, hashrate, accepted, rejected, stale, gpus)
       SELECT now() - g * interval '30 seconds', 'seeded-rig', 240e6 + (g % 7) * 1e6, 1000 - g, 2, 3,
              (SELECT jsonb_agg(jsonb_build_object('index', i, 'name', 'GPU', 'temperatureC', 60 + i + (g % 5),
                      'fanPercent', 50, 'powerW', 130, 'hashrate', 60e6 + i * 1e5)) FROM generate_series(0, 3) i)
       FROM generate_series(10, 119) g
       ON CONFLICT DO NOTHING`,
    );
    await sql.query(
      `INSERT INTO miner_events (at, host, state, restarts, exit_code, exit_signal) VALUES
         (now() - interval '50 minutes', 'seeded-rig', 'crashed', 0, 1, NULL),
         (now() - interval '49 minutes', 'seeded-rig', 'starting', 1, NULL, NULL),
         (now() - interval '49 minutes', 'seeded-rig', 'running', 1, NULL, NULL),
         (now() - interval '40 minutes', 'seeded-rig', 'crashed', 1, 1, NULL),
         (now() - interval '39 minutes', 'seeded-rig', 'starting', 2, NULL, NULL)`,
    );
    await sql.query(
      `INSERT INTO blocks (hash, height, difficulty, found_at, validated_at) VALUES
         ('0xseeded1', 9000001, 4.2e15, now() - interval '30 minutes', now() - interval '29 minutes'),
         ('0xseeded2', 9000002, 4.2e15, now() - interval '20 minutes', now() - interval '19 minutes')
       ON CONFLICT DO NOTHING`,
    );
  } finally {
    await sql.end();
  }
}

/** A figure's counts, as the page writes them on it after each draw. */
const figure = async (page: Page, id: string) => {
  const read = async (name: string) => Number(await page.locator(`#${id}`).getAttribute(`data-${name}`));
  return { points: await read('points'), last: await read('last'), marks: await read('marks') };
};

describe('the dashboard at a phone width and a desktop width', () => {
  let seeded = false;
  for (const [width, height] of [
    [390, 844],
    [1280, 900],
  ] as const) {
    it(`at ${width} px: charts the seeded history with its marks, moves live, alerts on a hot GPU and a sagging hashrate, and fits the screen`, async () => {
      if (!seeded) await seedHistory();
      seeded = true;
      await minerIs('stopped');
      await withPage(
        async (page) => {
          await signIn(page);
          await showsMiner(page, 'stopped');
          // The hour of history, with the two crashes, the restarts and the two blocks marked.
          await until('the history charts', async () =>
            (await figure(page, 'chart-hashrate')).points >= 100 ? true : undefined,
          );
          const marked = await figure(page, 'chart-hashrate');
          assert.ok(marked.marks >= 7, `state changes and blocks marked: ${marked.marks}`);
          for (const id of ['chart-hashrate', 'chart-temperature', 'chart-shares']) {
            assert.equal(await page.locator(`#${id} canvas`).count(), 1, `${id} is drawn`);
          }
          const legend = await page.locator('#chart-temperature .u-legend').innerText();
          for (const gpu of ['GPU 0', 'GPU 1', 'GPU 2', 'GPU 3']) assert.ok(legend.includes(gpu), legend);
          await page.locator('details summary').click();
          const marks = await page.locator('#marks').innerText();
          assert.match(marks, /miner crashed \(exit 1\)/);
          assert.match(marks, /block 9000002 found, validated /);
          // Two crashes in the window: said at once, with when the first happened.
          const crashes = page.locator('#alerts li', { hasText: 'Miner crashed 2 times in the last 1 h' });
          await crashes.waitFor();
          assert.equal(await crashes.locator('time').count(), 1);
          // Nothing hot yet: the seeded temperatures are below the threshold and the miner is off.
          assert.equal(
            await page.locator('#alerts li', { hasText: `at or above ${TEMP_ALERT_C} °C` }).count(),
            0,
          );

          // Live: the miner starts, the charts move on with each update, and a GPU warms past
          // the threshold.
          const before = await figure(page, 'chart-hashrate');
          await page.click('#miner-start');
          await showsMiner(page, 'running');
          await until('the charts to move', async () =>
            (await figure(page, 'chart-temperature')).last > before.last ? true : undefined,
          );
          const hot = page.locator('#alerts li', { hasText: `GPU 0 at or above ${TEMP_ALERT_C} °C` });
          await hot.waitFor();
          const since = await hot.locator('time').getAttribute('datetime');
          assert.ok(since && Date.parse(since) > Date.now() - 60_000, `since when: ${since}`);
          // Then the hashrate halves: below 80 % of its 15-minute average.
          await page
            .locator('#alerts li', { hasText: 'Hashrate below 80 % of its 15-minute average' })
            .waitFor();
          await until('the miner log', async () =>
            /sim-miner starting/.test(await page.locator('#log').innerText()) ? true : undefined,
          );

          // Nothing wider than the screen; the wide tables scroll inside their own boxes.
          const overflow = Number(await page.evaluate('document.documentElement.scrollWidth'));
          assert.ok(overflow <= width, `page ${overflow} px wide on a ${width} px screen`);
          await page.screenshot({ path: path.join(SCREENSHOTS, `dashboard-${width}.png`), fullPage: true });

          // Another window: fewer, wider buckets; the marks stay.
          await page.getByLabel('24 h').check();
          await until('the 24 h history', async () => {
            const f = await figure(page, 'chart-hashrate');
            return f.points > 0 && f.points < marked.points ? true : undefined;
          });
          assert.equal(await page.locator('#export-window').innerText(), 'last 24 h');
          const download = page.waitForEvent('download');
          await page.click('button.export[data-format="ndjson"]');
          const file = await download;
          assert.match(file.suggestedFilename(), /^stats-.*\.ndjson$/);
          const lines = (await readFile((await file.path()) as string, 'utf8')).trim().split('\n');
          assert.ok(lines.length >= 100, `the window's samples exported: ${lines.length}`);
          await page.click('#miner-stop');
          await showsMiner(page, 'stopped');
        },
        { viewport: { width, height } },
      );
    });
  }

  for (const colorScheme of ['light', 'dark'] as const) {
    it(`has no WCAG 2 A/AA violations (axe-core) at 390 px in the ${colorScheme} theme, and a keyboard reaches every control in order`, async () => {
      await minerIs('running');
      await withPage(
        async (page) => {
          await signIn(page);
          await page.locator('#chart-hashrate canvas').waitFor();
          await page.evaluate(axe.source);
          const result = (await page.evaluate(
            "axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })",
          )) as axe.AxeResults;
          const found = result.violations.map(
            (v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
          );
          assert.deepEqual(found, []);
          // Tab order: the controls, in the order they are on the page.
          // From the top of the page (signing in moved the focus to the main content).
          await page.focus('.skip');
          const order: string[] = [];
          for (let i = 0; i < 30; i++) {
            await page.keyboard.press('Tab');
            const what = String(
              await page.evaluate(
                '(el => (el ? el.id || el.value || el.textContent.trim().slice(0, 30) : ""))(document.activeElement)',
              ),
            );
            if (!order.includes(what)) order.push(what);
          }
          // (Start is disabled while the miner runs; the window group is one stop, its checked radio.)
          const expected = ['signout', 'miner-stop', '3600', 'Stats (CSV)', 'Stats (NDJSON)', 'Blocks (CSV)'];
          const positions = expected.map((id) => order.indexOf(id));
          assert.ok(
            positions.every((p, i) => p >= 0 && (i === 0 || p > (positions[i - 1] as number))),
            `tab order ${JSON.stringify(order)}`,
          );
        },
        { viewport: { width: 390, height: 844 }, colorScheme, bypassCSP: true },
      );
    });
  }
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

  it('keeps the page light: its scripts and styles at most 100 KB compressed, all linked from the HTML, none loading another', async () => {
    const { h1 } = service;
    const html = (await h1.request(service.url('/'))).text();
    const assets = [...html.matchAll(/\/assets\/[\w.-]+\.(?:js|css)/g)].map((m) => m[0]);
    assert.deepEqual(assets.map((a) => a.replace(/\.[0-9a-f]{12}\./, '.')).sort(), [
      '/assets/app.js',
      '/assets/style.css',
      '/assets/uplot.css',
      '/assets/uplot.js',
    ]);
    let compressed = 0;
    for (const asset of assets) {
      const res = await h1.request(service.url(asset), { headers: { 'accept-encoding': 'br, gzip' } });
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-encoding'], 'br');
      compressed += res.body.length;
      const text = zlib.brotliDecompressSync(res.body).toString('utf8');
      // One round trip after the HTML: nothing here asks for more files.
      if (asset.endsWith('.css')) assert.doesNotMatch(text, /@import|url\((?!["']?data:)/);
      else assert.doesNotMatch(text, /\bimport\s*\(|\bimport\s+[\w{*]|importScripts|\/assets\//);
    }
    assert.ok(compressed <= 100 * 1024, `${compressed} bytes compressed`);
  });
});
