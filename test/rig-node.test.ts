import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import type { Reply } from './helpers/clients.ts';
import { useCluster } from './helpers/cluster.ts';
import { minerWithNode, NodeDouble } from './helpers/node-double.ts';
import { until } from './helpers/until.ts';
import { Api, newUser } from './helpers/workspace.ts';

const node = new NodeDouble();
const service = useCluster(
  {
    doubles: [node],
    env: () => ({
      ...minerWithNode(node),
      STATS_PERSIST_INTERVAL_MS: '200',
      NODE_RPC_TIMEOUT_MS: '500',
      NODE_RPC_MAX_BATCH: '5',
      NODE_RPC_MAX_BODY_BYTES: '2048',
      BLOCK_VALIDATE_RETRY_MS: '200',
    }),
  },
  async () => {
    api = new Api(service.h1, service.cluster.http, (await newUser(service.h1, service.cluster.http)).token);
  },
);
let api: Api;

interface RpcError {
  id: unknown;
  error: { code: number };
}

interface Page {
  items: { height: number; hash: string; foundAt: string; validatedAt: string; difficulty: number | null }[];
  nextCursor: string | null;
}

const get = (p: string) => api.request(p);
const post = (p: string, body: unknown) => api.post(p, body);
const rpc = (body: unknown) => post('/api/node/rpc', body);

describe('found blocks', () => {
  it('are recorded at once but listed only after the node confirms them, retried while it is down', async () => {
    node.down = true;
    assert.equal((await post('/api/miner/start', {})).status, 202);
    const client = new pg.Client({ connectionString: service.db.url });
    await client.connect();
    try {
      await until('found blocks in the database', async () => {
        const r = await client.query('SELECT count(*)::int AS n FROM blocks');
        return r.rows[0].n >= 6 ? true : undefined;
      });
      assert.equal((await post('/api/miner/stop', {})).json().state, 'stopped');
      const empty = (await get('/api/blocks/validated')).json<Page>();
      assert.deepEqual(empty.items, [], 'nothing is listed while the node cannot confirm');
      await until('every block to be tried twice', async () => {
        const r = await client.query('SELECT count(*)::int AS n FROM blocks WHERE attempts < 2');
        return r.rows[0].n === 0 ? true : undefined;
      });
      const attempts = await client.query<{ validated_at: Date | null; last_error: string | null }>(
        'SELECT validated_at, last_error FROM blocks',
      );
      for (const row of attempts.rows) {
        assert.equal(row.validated_at, null, 'no block is validated while the node is down');
        assert.match(String(row.last_error), /answered 503/, 'the attempt records what the node answered');
      }

      node.down = false;
      const total = (await client.query('SELECT count(*)::int AS n FROM blocks')).rows[0].n as number;
      const all = await until('every block to be validated', async () => {
        const page = (await get('/api/blocks/validated?limit=500')).json<Page>();
        return page.items.length === total ? page : undefined;
      });
      assert.ok(all.items.every((b) => b.validatedAt >= b.foundAt && /^0x[0-9a-f]{64}$/.test(b.hash)));
      // The times are the stored instants in UTC ISO 8601 with milliseconds, whatever the
      // session's time zone, as JavaScript's toISOString writes them.
      const stored = await client.query(
        'SELECT hash, found_at, validated_at FROM blocks WHERE validated_at IS NOT NULL',
      );
      const byHash = new Map(all.items.map((b) => [b.hash, b]));
      for (const row of stored.rows as { hash: string; found_at: Date; validated_at: Date }[]) {
        assert.equal(byHash.get(row.hash)?.foundAt, row.found_at.toISOString());
        assert.equal(byHash.get(row.hash)?.validatedAt, row.validated_at.toISOString());
      }
      const samples = await client.query('SELECT count(*)::int AS n FROM stats_samples');
      assert.ok(samples.rows[0].n > 0, 'stats samples are persisted');
    } finally {
      node.down = false;
      await client.end();
    }
  });

  it('pages newest first with an opaque cursor until the last page', async () => {
    const all = (await get('/api/blocks/validated?limit=500')).json<Page>().items;
    const seen: Page['items'] = [];
    let cursor: string | null = null;
    do {
      const page: Page = (
        await get(`/api/blocks/validated?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
      ).json<Page>();
      assert.ok(page.items.length <= 2);
      seen.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    assert.deepEqual(
      seen.map((b) => b.hash),
      all.map((b) => b.hash),
    );
    for (let i = 1; i < seen.length; i++) {
      assert.ok((seen[i - 1] as { height: number }).height >= (seen[i] as { height: number }).height);
    }
  });

  it('answers a bad cursor or a limit out of range with 400 naming the parameter', async () => {
    for (const [query, param] of [
      ['cursor=not-a-cursor', '/cursor'],
      [`cursor=${Buffer.from('["x","y"]').toString('base64url')}`, '/cursor'],
      ['limit=0', '/limit'],
      ['limit=501', '/limit'],
      ['limit=ten', '/limit'],
    ] as [string, string][]) {
      const res = await get(`/api/blocks/validated?${query}`);
      assert.equal(res.status, 400, query);
      const body = res.json<{ code: string; errors: { path: string }[] }>();
      assert.equal(body.code, 'VALIDATION_FAILED');
      assert.ok(
        body.errors.some((e) => e.path === param),
        `${query}: ${JSON.stringify(body.errors)}`,
      );
    }
  });
});

describe('GET /api/stats/history', () => {
  it('answers the persisted samples in step buckets', async () => {
    const res = await get('/api/stats/history?step=1');
    assert.equal(res.status, 200, res.text());
    const body = res.json<{
      step: number;
      points: { at: string; hashrate: number; shares: { accepted: number } }[];
    }>();
    assert.equal(body.step, 1);
    assert.ok(body.points.length > 0);
    assert.ok(body.points.every((p) => p.hashrate > 0 && p.shares.accepted >= 0));
    const times = body.points.map((p) => p.at);
    assert.deepEqual([...times].sort(), times);
  });

  it('answers an inverted range, a bad date or too many points with 400 naming the parameter', async () => {
    const now = Date.now();
    const iso = (t: number) => new Date(t).toISOString();
    for (const [query, param] of [
      [`from=${iso(now)}&to=${iso(now - 1000)}`, '/from'],
      ['from=yesterday', '/from'],
      [`from=${iso(now - 365 * 86_400_000)}&to=${iso(now)}&step=1`, '/step'],
      ['step=0', '/step'],
    ] as [string, string][]) {
      const res = await get(`/api/stats/history?${query.replaceAll(':', '%3A')}`);
      assert.equal(res.status, 400, query);
      assert.ok(
        res.json<{ errors: { path: string }[] }>().errors.some((e) => e.path === param),
        query,
      );
    }
  });
});

describe('POST /api/node/rpc', () => {
  const forwarded = (method: string) => node.calls.filter((c) => c.method === method).length;

  it('forwards an allowed single call and returns the node answer', async () => {
    const res = await rpc({ jsonrpc: '2.0', id: 7, method: 'eth_blockNumber', params: [] });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), { jsonrpc: '2.0', id: 7, result: '0x1b4' });
  });

  it('refuses a method outside the allow-list without forwarding it', async () => {
    const res = await rpc({ jsonrpc: '2.0', id: 'a', method: 'personal_sendTransaction', params: [] });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json<RpcError>().error.code, -32601);
    assert.equal(res.json<RpcError>().id, 'a');
    assert.equal(forwarded('personal_sendTransaction'), 0);
  });

  it('answers a batch in order, mixing forwarded answers and local errors', async () => {
    const res = await rpc([
      { jsonrpc: '2.0', id: 1, method: 'eth_chainId' },
      { jsonrpc: '2.0', id: 2, method: 'admin_peers' },
      { jsonrpc: '1.0', id: 3, method: 'eth_chainId' },
      { jsonrpc: '2.0', method: 'eth_blockNumber' },
      { jsonrpc: '2.0', id: 4, method: 'eth_blockNumber', params: [] },
    ]);
    assert.equal(res.status, 200);
    const out = res.json<{ id: unknown; result?: unknown; error?: { code: number } }[]>() as unknown as {
      id: unknown;
      result?: unknown;
      error?: { code: number };
    }[];
    assert.deepEqual(
      out.map((r) => [r.id, r.result ?? r.error?.code]),
      [
        [1, '0x2329'],
        [2, -32601],
        [3, -32600],
        [4, '0x1b4'],
      ],
    );
    assert.equal(forwarded('admin_peers'), 0);
  });

  it('rejects malformed JSON-RPC, empty and oversized batches, and oversized bodies', async () => {
    const invalid = await rpc({ id: 1, method: 5 });
    assert.equal(invalid.json<RpcError>().error.code, -32600);
    const empty = await rpc([]);
    assert.equal(empty.status, 400);
    assert.equal(empty.json<RpcError>().error.code, -32600);
    const many = await rpc(
      Array.from({ length: 6 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'eth_chainId' })),
    );
    assert.equal(many.status, 413);
    assert.equal(many.json<RpcError>().error.code, -32600);
    const big = await rpc({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: ['x'.repeat(3000)] });
    assert.equal(big.status, 413);
    assert.equal(big.json().code, 'PAYLOAD_TOO_LARGE');
    const notJson = await rpc('{"jsonrpc":');
    assert.equal(notJson.status, 400);
    assert.equal(notJson.json().code, 'MALFORMED_JSON');
  });

  it('answers 204 to notifications only', async () => {
    const res = await rpc({ jsonrpc: '2.0', method: 'eth_blockNumber' });
    assert.equal(res.status, 204);
  });

  it('answers 502 with JSON-RPC errors when the node is down, and 504 when it is slow', async () => {
    node.down = true;
    let res: Reply;
    try {
      res = await rpc([{ jsonrpc: '2.0', id: 1, method: 'eth_chainId' }]);
    } finally {
      node.down = false;
    }
    assert.equal(res.status, 502);
    assert.equal(res.json<{ error: { code: number } }[]>()[0]?.error.code, -32000);

    node.delayMs = 1500;
    try {
      res = await rpc({ jsonrpc: '2.0', id: 9, method: 'eth_chainId' });
    } finally {
      node.delayMs = 0;
    }
    assert.equal(res.status, 504);
    assert.equal(res.json<RpcError>().id, 9);
    assert.equal(res.json<RpcError>().error.code, -32000);
  });

  it('requires the node:rpc scope', async () => {
    const anonymous = await service.h1.request(service.url('/api/node/rpc'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(anonymous.status, 401);
  });
});
