import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { describe, it } from 'node:test';
import pg from 'pg';
import { SIM_MINER_ENV, useCluster, withCluster } from './helpers/cluster.ts';
import { until } from './helpers/until.ts';
import { Api, newUser } from './helpers/workspace.ts';

// What the operator dashboard draws (issue 18): the stats history with each GPU's averages, the
// miner's state changes and the blocks found, and the blocks export over a window.

interface Point {
  at: string;
  hashrate: number;
  shares: { accepted: number; rejected: number; stale: number };
  gpus: { index: number; hashrate: number; temperatureC: number }[];
}

interface MinerEvent {
  at: string;
  state: string;
  restarts: number;
  exit: { code: number | null; signal: string | null } | null;
}

interface History {
  from: string;
  to: string;
  step: number;
  points: Point[];
  events: MinerEvent[];
  blocks: { height: number; hash: string; foundAt: string; validatedAt: string | null }[];
}

const miner = {
  ...SIM_MINER_ENV,
  DEFAULT_SCOPES: 'miner:read,miner:control',
  SIM_MINER_INTERVAL_MS: '100',
  STATS_PERSIST_INTERVAL_MS: '200',
  MINER_STOP_TIMEOUT_MS: '2000',
};

const service = useCluster({ env: miner }, async () => {
  api = new Api(service.h1, service.cluster.http, (await newUser(service.h1, service.cluster.http)).token);
  await seed(service.db.url);
});
let api: Api;

const GPU_WINDOW = '2025-03-01T00:00:00.000Z';
const MARKS_WINDOW = '2025-04-01T00:00:00.000Z';
const EXPORT_WINDOW = '2025-05-01T00:00:00.000Z';
const MARKS = 1005;

const plus = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();

/** A known history, written as the recorder would have (the migrations have made the tables). */
async function seed(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const sample = (offsetS: number, hashrate: number, shares: number[], gpus: unknown) =>
      client.query(
        `INSERT INTO stats_samples (at, host, hashrate, accepted, rejected, stale, gpus)
         VALUES ($1, 'seed', $2, $3, $4, $5, $6)`,
        [plus(GPU_WINDOW, offsetS * 1000), hashrate, ...shares, JSON.stringify(gpus)],
      );
    const gpu = (index: unknown, hashrate: unknown, temperatureC: unknown) => ({
      index,
      name: 'NVIDIA GeForce RTX 3070',
      temperatureC,
      fanPercent: 40,
      powerW: 130,
      hashrate,
    });
    // The first minute: three samples, GPUs listed out of order, and readings that do not count
    // (an index that is no integer, a temperature that is no number).
    await sample(5, 300, [10, 1, 0], [gpu(1, 200, 70.04), gpu(0, 100, 60.04)]);
    await sample(25, 301, [12, 1, 1], [gpu(0, 101, 60.16), gpu(1, 201, 70.07)]);
    await sample(
      45,
      305,
      [15, 2, 1],
      [gpu(0, 102, 60.15), gpu('x', 'fast', 1), gpu(2.5, 1, 1), gpu(1, 9, 'hot')],
    );
    // The second: one GPU, and a row whose gpus is not a list at all.
    await sample(70, 50, [16, 2, 1], [gpu(3, 50, 40)]);
    await sample(90, 52, [17, 2, 1], { not: 'a list' });
    // The third: no GPUs.
    await sample(120, 0, [17, 2, 1], []);

    // More state changes and found blocks than a history carries, one a second, and one of each
    // just outside the window at either end.
    await client.query(
      `INSERT INTO miner_events (at, host, state, restarts, exit_code, exit_signal)
       SELECT $1::timestamptz + make_interval(secs => g), 'seed',
              (ARRAY['starting', 'running', 'crashed'])[g % 3 + 1], g / 3,
              CASE WHEN g % 3 = 2 THEN 1 END, CASE WHEN g % 3 = 2 AND g % 2 = 0 THEN 'SIGKILL' END
       FROM generate_series(1, $2) AS g`,
      [MARKS_WINDOW, MARKS],
    );
    await client.query(
      `INSERT INTO miner_events (at, host, state, restarts)
       VALUES ($1::timestamptz - interval '1 millisecond', 'seed', 'running', 0),
              ($1::timestamptz + interval '1 hour', 'seed', 'running', 0)`,
      [MARKS_WINDOW],
    );
    await client.query(
      `INSERT INTO blocks (hash, height, difficulty, found_at, validated_at)
       SELECT '0x' || lpad(to_hex(g), 64, '0'), 5000 + g, 4.2e15, $1::timestamptz + make_interval(secs => g),
              CASE WHEN g % 2 = 0 THEN $1::timestamptz + make_interval(secs => g + 1) END
       FROM generate_series(0, $2 + 1) AS g`,
      [MARKS_WINDOW, MARKS],
    );
    await client.query(
      `INSERT INTO blocks (hash, height, found_at, validated_at)
       VALUES ('0xbefore', 4000, $1::timestamptz - interval '1 millisecond', $1),
              ('0xafter', 9000, $1::timestamptz + interval '1 hour', $1::timestamptz + interval '1 hour')`,
      [MARKS_WINDOW],
    );
    // Blocks for the export's window: one a minute, the fourth never validated.
    await client.query(
      `INSERT INTO blocks (hash, height, difficulty, found_at, validated_at)
       SELECT '0xexport' || g, 7000 + g, 4.2e15, $1::timestamptz + make_interval(mins => g),
              CASE WHEN g <> 4 THEN $1::timestamptz + make_interval(mins => g, secs => 5) END
       FROM generate_series(1, 6) AS g`,
      [EXPORT_WINDOW],
    );
  } finally {
    await client.end();
  }
}

async function history(query: string): Promise<History> {
  const res = await api.request(`/api/stats/history?${query}`);
  assert.equal(res.status, 200, res.text());
  return res.json<History>();
}

describe('GET /api/stats/history', () => {
  it("averages each GPU's readings per bucket, ordered by index, beside the existing fields", async () => {
    const body = await history(`from=${GPU_WINDOW}&to=${plus(GPU_WINDOW, 180_000)}&step=60`);
    assert.equal(body.from, GPU_WINDOW);
    assert.equal(body.step, 60);
    assert.deepEqual(body.points, [
      {
        at: GPU_WINDOW,
        hashrate: 302,
        shares: { accepted: 15, rejected: 2, stale: 1 },
        // GPU 0: (100 + 101 + 102) / 3, (60.04 + 60.16 + 60.15) / 3 = 60.1166…
        // GPU 1: (200 + 201) / 2 = 200.5, (70.04 + 70.07) / 2 = 70.055; its third reading does not count.
        gpus: [
          { index: 0, hashrate: 101, temperatureC: 60.1 },
          { index: 1, hashrate: 201, temperatureC: 70.1 },
        ],
      },
      {
        at: plus(GPU_WINDOW, 60_000),
        hashrate: 51,
        shares: { accepted: 17, rejected: 2, stale: 1 },
        gpus: [{ index: 3, hashrate: 50, temperatureC: 40 }],
      },
      {
        at: plus(GPU_WINDOW, 120_000),
        hashrate: 0,
        shares: { accepted: 17, rejected: 2, stale: 1 },
        gpus: [],
      },
    ]);
    assert.deepEqual(body.events, []);
    assert.deepEqual(body.blocks, []);

    const one = await history(`from=${GPU_WINDOW}&to=${plus(GPU_WINDOW, 180_000)}&step=180`);
    assert.deepEqual(one.points[0]?.gpus, [
      { index: 0, hashrate: 101, temperatureC: 60.1 },
      { index: 1, hashrate: 201, temperatureC: 70.1 },
      { index: 3, hashrate: 50, temperatureC: 40 },
    ]);
  });

  it('carries the newest 1000 state changes and found blocks in [from, to), oldest first', async () => {
    const body = await history(`from=${MARKS_WINDOW}&to=${plus(MARKS_WINDOW, 3600_000)}&step=3600`);
    const second = (n: number) => plus(MARKS_WINDOW, n * 1000);

    assert.equal(body.events.length, 1000);
    assert.deepEqual(body.events[0], {
      at: second(MARKS - 999),
      state: ['starting', 'running', 'crashed'][(MARKS - 999) % 3],
      restarts: Math.floor((MARKS - 999) / 3),
      exit: null,
    });
    assert.equal(body.events.at(-1)?.at, second(MARKS));
    assert.deepEqual(
      body.events.map((e) => e.at),
      Array.from({ length: 1000 }, (_, i) => second(MARKS - 999 + i)),
    );
    for (const e of body.events) {
      const n = (Date.parse(e.at) - Date.parse(MARKS_WINDOW)) / 1000;
      assert.deepEqual(
        e.exit,
        e.state === 'crashed' ? { code: 1, signal: n % 2 === 0 ? 'SIGKILL' : null } : null,
        JSON.stringify(e),
      );
    }

    // Blocks 0 … MARKS + 1 a second from the window's start: the newest 1000 of them.
    assert.equal(body.blocks.length, 1000);
    const first = MARKS + 1 - 999;
    assert.deepEqual(body.blocks[0], {
      height: 5000 + first,
      hash: `0x${first.toString(16).padStart(64, '0')}`,
      foundAt: second(first),
      validatedAt: first % 2 === 0 ? second(first + 1) : null,
    });
    assert.deepEqual(
      body.blocks.map((b) => b.foundAt),
      Array.from({ length: 1000 }, (_, i) => second(first + i)),
    );
    assert.ok(!body.blocks.some((b) => b.hash === '0xbefore' || b.hash === '0xafter'));

    // Fewer than the cap: every one, from the first of the window (from is inclusive).
    const early = await history(`from=${MARKS_WINDOW}&to=${second(11)}&step=60`);
    assert.equal(early.events.length, 10);
    assert.equal(early.events[0]?.at, second(1));
    assert.deepEqual(
      early.blocks.map((b) => b.height),
      Array.from({ length: 11 }, (_, i) => 5000 + i),
    );
  });

  it('answers a date-time that cannot be represented with 400 naming the parameter', async () => {
    const res = await api.request('/api/stats/history?from=2016-12-31T23:59:60Z&to=2017-01-01T01:00:00Z');
    assert.equal(res.status, 400, res.text());
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
    const body = res.json<{ code: string; errors: { path: string }[] }>();
    assert.equal(body.code, 'VALIDATION_FAILED');
    assert.deepEqual(
      body.errors.map((e) => e.path),
      ['/from'],
    );
  });

  it("records every change of a real miner's state, once each, with the exit on stopped", async () => {
    const since = new Date(Date.now() - 1000).toISOString();
    assert.equal((await api.post('/api/miner/start', {})).status, 202);
    await until('the miner to run', async () => {
      const s = (await api.request('/api/miner/status')).json<{ state: string }>();
      return s.state === 'running' ? true : undefined;
    });
    // Statuses repeated while it runs are no change of state.
    for (let i = 0; i < 3; i++) assert.equal((await api.post('/api/miner/start', {})).status, 200);
    await until('a stats sample with GPUs', async () => {
      const body = await history(`from=${since}&step=1`);
      return body.points.some((p) => p.gpus.length === 4) ? true : undefined;
    });
    assert.equal((await api.post('/api/miner/stop', {})).json().state, 'stopped');

    const body = await until('the stop to be recorded', async () => {
      const b = await history(`from=${since}&step=1`);
      return b.events.at(-1)?.state === 'stopped' ? b : undefined;
    });
    assert.deepEqual(
      body.events.map(({ state, restarts, exit }) => ({ state, restarts, exit })),
      [
        { state: 'starting', restarts: 0, exit: null },
        { state: 'running', restarts: 0, exit: null },
        { state: 'stopping', restarts: 0, exit: null },
        { state: 'stopped', restarts: 0, exit: { code: 0, signal: null } },
      ],
    );
    const times = body.events.map((e) => e.at);
    assert.deepEqual([...times].sort(), times);
    // The sim miner's four GPUs, averaged from what the recorder stored.
    const point = body.points.find((p) => p.gpus.length === 4) as Point;
    assert.deepEqual(
      point.gpus.map((g) => g.index),
      [0, 1, 2, 3],
    );
    assert.ok(point.gpus.every((g) => g.hashrate > 0 && g.temperatureC > 0));

    const client = new pg.Client({ connectionString: service.db.url });
    await client.connect();
    try {
      const rows = await client.query("SELECT DISTINCT host FROM miner_events WHERE host <> 'seed'");
      assert.deepEqual(rows.rows, [{ host: hostname() }], 'each host records its own miner');
    } finally {
      await client.end();
    }
  });

  it('with no NODE_RPC_URL, /api/ready reports no node', async () => {
    const res = await service.h1.request(service.url('/api/ready'));
    assert.equal(res.status, 200);
    assert.ok(!('node' in res.json<{ checks: object }>().checks));
  });
});

describe('when the miner crashes', () => {
  it('records each crash with its exit and each restart with its count', async () => {
    const env = {
      ...miner,
      SIM_MINER_CRASH_AFTER_MS: '300',
      MINER_RESTART: 'on-failure',
      MINER_RESTART_BACKOFF_MAX_MS: '300',
    };
    await withCluster({ env }, async (cluster, h1) => {
      const crashing = new Api(h1, cluster.http, (await newUser(h1, cluster.http)).token);
      const since = new Date(Date.now() - 1000).toISOString();
      const events = async () => {
        const res = await crashing.request(`/api/stats/history?from=${since}`);
        assert.equal(res.status, 200, res.text());
        return res.json<History>().events;
      };
      assert.equal((await crashing.post('/api/miner/start', {})).status, 202);
      await until('two crashes recorded', async () => {
        const crashes = (await events()).filter((e) => e.state === 'crashed');
        return crashes.length >= 2 ? true : undefined;
      });
      assert.equal((await crashing.post('/api/miner/stop', {})).json().state, 'stopped');
      const recorded = await until('the stop to be recorded', async () => {
        const all = await events();
        return all.at(-1)?.state === 'stopped' ? all : undefined;
      });

      let crashes = 0;
      for (const [i, e] of recorded.entries()) {
        assert.notEqual(e.state, recorded[i - 1]?.state, `one row per change: ${JSON.stringify(recorded)}`);
        if (e.state === 'crashed') {
          assert.deepEqual(e.exit, { code: 1, signal: null });
          assert.equal(e.restarts, crashes, 'a crash carries the restarts before it');
          crashes++;
        } else if (e.state === 'starting') {
          assert.equal(e.restarts, crashes, 'a restart carries its count');
          assert.equal(e.exit, null);
        }
      }
      assert.deepEqual(
        recorded.slice(0, 6).map((e) => e.state),
        ['starting', 'running', 'crashed', 'starting', 'running', 'crashed'],
      );
      assert.ok(crashes >= 2);
    });
  });
});

describe('GET /api/export/blocks', () => {
  const exported = async (query: string) => {
    const res = await api.request(`/api/export/blocks?format=ndjson&${query}`);
    assert.equal(res.status, 200, res.text());
    return res
      .text()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { height: number; foundAt: string; validatedAt: string });
  };
  const minute = (n: number) => plus(EXPORT_WINDOW, n * 60_000);

  it('streams the validated blocks found in [from, to), newest first', async () => {
    const rows = await exported(`from=${minute(2)}&to=${minute(6)}`);
    // Minute 4's block is not validated; minute 6's is at `to`.
    assert.deepEqual(
      rows.map((r) => [r.height, r.foundAt]),
      [
        [7005, minute(5)],
        [7003, minute(3)],
        [7002, minute(2)],
      ],
    );
    // Open at one end: the other blocks seeded here are found a month earlier.
    const exportBlocks = (r: { height: number }) => r.height > 7000 && r.height < 8000;
    assert.deepEqual(
      (await exported(`from=${minute(5)}`)).map((r) => r.height),
      [7006, 7005],
    );
    assert.deepEqual(
      (await exported(`to=${minute(2)}`)).filter(exportBlocks).map((r) => r.height),
      [7001],
    );
    assert.ok(
      (await exported(`to=${minute(2)}`)).some((r) => r.height === 4000),
      'the earlier blocks too',
    );
    const csv = await api.request(`/api/export/blocks?from=${minute(1)}&to=${minute(2)}`);
    assert.equal(
      csv.text(),
      `height,hash,difficulty,foundAt,validatedAt\n7001,0xexport1,4200000000000000,${minute(1)},${plus(minute(1), 5000)}\n`,
    );
  });

  it('without a window, streams every validated block, as before', async () => {
    const client = new pg.Client({ connectionString: service.db.url });
    await client.connect();
    try {
      const { rows } = await client.query(
        'SELECT count(*)::int AS n FROM blocks WHERE validated_at IS NOT NULL',
      );
      assert.equal((await exported('')).length, rows[0].n);
    } finally {
      await client.end();
    }
  });

  it('answers a bad from or to with 400 problem+json naming the parameter', async () => {
    for (const [query, path] of [
      ['from=soon', '/from'],
      ['to=2025-13-01T00:00:00Z', '/to'],
      ['from=2016-12-31T23:59:60Z', '/from'],
    ] as const) {
      const res = await api.request(`/api/export/blocks?${query}`);
      assert.equal(res.status, 400, `${query}: ${res.text()}`);
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
      const body = res.json<{ code: string; errors: { path: string }[] }>();
      assert.equal(body.code, 'VALIDATION_FAILED');
      assert.ok(
        body.errors.some((e) => e.path === path),
        `${query}: ${JSON.stringify(body.errors)}`,
      );
    }
  });
});
