import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { before, describe, it } from 'node:test';
import zlib from 'node:zlib';
import pg from 'pg';
import { request } from 'undici';
import { bearer, type H1Client, h2once } from './helpers/clients.ts';
import { type RunningCluster, SIM_MINER_ENV, useCluster } from './helpers/cluster.ts';
import { until } from './helpers/until.ts';
import { newUser, type TestUser } from './helpers/workspace.ts';

const ROWS = 1_000_000;
let cluster: RunningCluster;
let h1: H1Client;
let auth: Record<string, string>;

async function workerRss(): Promise<number> {
  const text = await (await fetch(cluster.metrics)).text();
  const m = /process_resident_memory_bytes\{worker="\d+"\} (\d+)/.exec(text);
  return Number(m?.[1]);
}

// One worker, so its memory is the one that serves the export; a pool of two, so a leaked
// connection would show at once.
const service = useCluster(
  {
    workers: 1,
    env: {
      PG_POOL_TOTAL: '2',
      EXPORT_POOL_SIZE: '2',
      EXPORT_MAX_PER_USER: '1',
      EXPORT_DRAIN_TIMEOUT_MS: '4000',
      ...SIM_MINER_ENV,
    },
  },
  async () => {
    ({ cluster, h1 } = service);
    // A generated data set, not a fixture: the migrations have run, so the tables exist.
    const client = new pg.Client({ connectionString: service.db.url });
    await client.connect();
    await client.query(
      `INSERT INTO stats_samples (at, host, hashrate, accepted, rejected, stale, gpus)
     SELECT timestamptz '2026-01-01' + make_interval(secs => g), 'gen', 2.4e8 + g, g, g / 100, g / 50,
            '[{"index":0,"hashrate":1}]'::jsonb
     FROM generate_series(1, $1) AS g`,
      [ROWS],
    );
    await client.query(
      `INSERT INTO blocks (hash, height, difficulty, found_at, validated_at)
     SELECT '0x' || lpad(to_hex(g), 64, '0'), 1000 + g, 4.2e15, now(), now() FROM generate_series(1, 25) AS g`,
    );
    await client.query("INSERT INTO blocks (hash, height) VALUES ('0xpending', 5000)");
    await client.end();

    auth = bearer((await newUser(h1, cluster.http)).token);
  },
);

describe('GET /api/export/stats', () => {
  it('streams every row as gzip-compressed CSV with bounded worker memory', async () => {
    // A warm worker (JIT, pools, compressor and heap sized by a first, smaller export) is the
    // baseline: the bound is on what an export of any size adds, not on first-use costs.
    const warm = await h1.request(`${cluster.http}/api/export/stats?to=2026-01-02T00:00:00Z`, {
      headers: { ...auth, 'accept-encoding': 'gzip' },
    });
    assert.equal(warm.status, 200);
    const before = await workerRss();
    let peak = before;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await workerRss());
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const res = await h1.request(`${cluster.http}/api/export/stats?format=csv`, {
      headers: { ...auth, 'accept-encoding': 'gzip' },
    });
    sampling = false;
    await sampler;

    assert.equal(res.status, 200);
    assert.equal(res.headers['content-encoding'], 'gzip');
    assert.match(String(res.headers['content-type']), /^text\/csv/);
    assert.match(String(res.headers['content-disposition']), /^attachment; filename="?stats\.csv"?$/);
    const lines = zlib.gunzipSync(res.body).toString('utf8').trimEnd().split('\n');
    assert.equal(lines[0], 'at,host,hashrate,accepted,rejected,stale,gpus');
    assert.equal(lines.length, ROWS + 1);
    assert.equal(lines[1], '2026-01-01T00:00:01.000Z,gen,240000001,1,0,0,"[{""index"":0,""hashrate"":1}]"');
    process.stdout.write(`# worker RSS growth during the export: ${Math.round((peak - before) / 1e6)} MB\n`);
    assert.ok(peak - before < 50 * 1024 * 1024, `worker RSS grew by ${Math.round((peak - before) / 1e6)} MB`);
  });

  it('streams NDJSON within a time range, over HTTP/2 with brotli', async () => {
    const res = await h2once(
      cluster.http,
      '/api/export/stats?format=ndjson&from=2026-01-01T00:00:10Z&to=2026-01-01T00:00:20Z',
      { headers: { ...auth, 'accept-encoding': 'br' } },
    );
    assert.equal(res.status, 200);
    const rows = zlib
      .brotliDecompressSync(res.body)
      .toString('utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(rows.length, 10);
    assert.deepEqual(Object.keys(rows[0]), [
      'at',
      'host',
      'hashrate',
      'accepted',
      'rejected',
      'stale',
      'gpus',
    ]);
    assert.equal(rows[0].at, '2026-01-01T00:00:10.000Z');
  });

  it('gives the connection back when the client goes away mid-stream', async () => {
    // More aborted downloads than the pool has connections. Each holds the user's one export
    // slot until the worker notices the abort, so the next may first be refused (429).
    for (let i = 0; i < 4; i++) {
      const res = await until('an export slot', async () => {
        const r = await request(`${cluster.http}/api/export/stats`, { headers: auth });
        if (r.statusCode === 200) return r;
        assert.equal(r.statusCode, 429);
        await r.body.dump();
        return undefined;
      });
      for await (const _chunk of res.body) break;
      res.body.destroy();
    }
    const ready = await h1.request(`${cluster.http}/api/ready`);
    assert.equal(ready.status, 200, ready.text());
    const small = await until('the last aborted export to give its slot back', async () => {
      const res = await h1.request(
        `${cluster.http}/api/export/stats?from=2026-01-01T00:00:01Z&to=2026-01-01T00:00:03Z`,
        { headers: auth },
      );
      return res.status === 200 ? res : undefined;
    });
    assert.equal(small.text().trimEnd().split('\n').length, 3);
  });

  it('answers a bad format or date with 400 and no token with 401', async () => {
    assert.equal(
      (await h1.request(`${cluster.http}/api/export/stats?format=xml`, { headers: auth })).status,
      400,
    );
    assert.equal(
      (await h1.request(`${cluster.http}/api/export/stats?from=soon`, { headers: auth })).status,
      400,
    );
    assert.equal((await h1.request(`${cluster.http}/api/export/stats`)).status, 401);
  });
});

describe('GET /api/export/blocks', () => {
  it('streams the validated blocks, newest first', async () => {
    const res = await h1.request(`${cluster.http}/api/export/blocks?format=ndjson`, { headers: auth });
    assert.match(String(res.headers['content-disposition']), /^attachment; filename="?blocks\.ndjson"?$/);
    const rows = res
      .text()
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(rows.length, 25);
    assert.equal(rows[0].height, 1025);
    assert.ok(!rows.some((r) => r.hash === '0xpending'));
  });
});

interface StalledExport {
  status: number;
  head: string;
  socket: net.Socket;
}

/** An export over a raw connection whose client reads the response head, then nothing more. */
async function stalledExport(token: string): Promise<StalledExport> {
  const socket = net.connect(cluster.ports.http, '127.0.0.1');
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  socket.write(
    `GET /api/export/stats?format=csv HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`,
  );
  const [first] = (await once(socket, 'data')) as [Buffer];
  socket.pause();
  const head = first.toString('latin1');
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), head, socket };
}

/** Reads what is left on a stalled connection: how it ended and whether the response was whole. */
async function drainRest(socket: net.Socket): Promise<{ bytes: number; complete: boolean }> {
  let bytes = 0;
  let tail = '';
  socket.on('data', (c: Buffer) => {
    bytes += c.length;
    tail = (tail + c.toString('latin1')).slice(-16);
  });
  const closed = new Promise((resolve) => socket.once('close', resolve));
  socket.resume();
  await closed;
  return { bytes, complete: tail.endsWith('0\r\n\r\n') };
}

describe('exports whose clients stop reading', () => {
  let a: TestUser;
  let b: TestUser;
  let c: TestUser;
  const small = '/api/export/stats?from=2026-01-01T00:00:01Z&to=2026-01-01T00:00:03Z';

  before(async () => {
    a = await newUser(h1, cluster.http);
    b = await newUser(h1, cluster.http);
    c = await newUser(h1, cluster.http);
  });

  it('refuses exports past the per-user and per-worker caps with 429 and keeps the database for everyone else', async () => {
    const asC = { authorization: `Bearer ${c.token}` };
    // Earlier tests' aborted downloads have given their slots back.
    await until('a free export slot', async () =>
      (await h1.request(`${cluster.http}${small}`, { headers: asC })).status === 200 ? true : undefined,
    );
    // 22 exports that are never read, as in the report: each used to hold a pooled client.
    const stalled: StalledExport[] = [];
    for (const user of [a, b]) for (let i = 0; i < 11; i++) stalled.push(await stalledExport(user.token));
    try {
      assert.deepEqual(
        stalled.map((s) => s.status),
        [200, ...Array(10).fill(429), 200, ...Array(10).fill(429)],
      );
      for (const refused of stalled.filter((s) => s.status === 429)) {
        assert.match(refused.head, /\r\nretry-after: \d+\r\n/i);
        assert.match(refused.head, /"code":"TOO_MANY_REQUESTS"/);
      }
      // Another user: the worker's export slots are all taken (429), everything else works.
      const refused = await h1.request(`${cluster.http}${small}`, { headers: asC });
      assert.equal(refused.status, 429, refused.text());
      assert.equal(refused.json().code, 'TOO_MANY_REQUESTS');
      assert.ok(refused.headers['retry-after']);
      for (let i = 0; i < 5; i++) {
        const history = await h1.request(`${cluster.http}/api/stats/history`, { headers: asC });
        assert.equal(history.status, 200, history.text());
        const blocks = await h1.request(`${cluster.http}/api/blocks/validated`, { headers: asC });
        assert.equal(blocks.status, 200, blocks.text());
        const ready = await h1.request(`${cluster.http}/api/ready`);
        assert.equal(ready.status, 200, ready.text());
      }

      // EXPORT_DRAIN_TIMEOUT_MS later the stalled exports are cut off, which gives their users'
      // slots back...
      for (const user of [a, b]) {
        const served = await until('an export slot freed by the drain timeout', async () => {
          const res = await h1.request(`${cluster.http}${small}`, {
            headers: { authorization: `Bearer ${user.token}` },
          });
          return res.status === 200 ? res : undefined;
        });
        assert.equal(served.text().trimEnd().split('\n').length, 3);
      }
      // ...and their connections end with what was sent so far, never the whole export.
      for (const s of stalled.filter((x) => x.status === 200)) {
        const rest = await drainRest(s.socket);
        assert.equal(rest.complete, false, `a stalled export ended normally after ${rest.bytes} more bytes`);
      }
    } finally {
      for (const s of stalled) s.socket.destroy();
    }
  });

  it('cuts off a stalled HTTP/2 export stream and leaves its session usable', async () => {
    const session = http2.connect(cluster.http);
    session.on('error', () => undefined);
    try {
      const stream = await until('an export slot', async () => {
        const s = session.request({ ':path': '/api/export/stats', authorization: `Bearer ${a.token}` });
        const [headers] = (await once(s, 'response')) as [http2.IncomingHttpHeaders];
        if (Number(headers[':status']) === 200) return s;
        assert.equal(Number(headers[':status']), 429);
        s.resume();
        await once(s, 'end');
        return undefined;
      });
      stream.pause();
      await once(stream, 'close');
      assert.equal(stream.rstCode, http2.constants.NGHTTP2_CANCEL);

      const after = session.request({ ':path': small, authorization: `Bearer ${c.token}` });
      const [again] = (await once(after, 'response')) as [http2.IncomingHttpHeaders];
      assert.equal(again[':status'], 200);
      after.resume();
      await once(after, 'end');
    } finally {
      session.close();
    }
  });
});
