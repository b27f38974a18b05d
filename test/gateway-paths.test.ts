import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { bearer, H2Client, type Reply } from './helpers/clients.ts';
import { type RunningCluster, useCluster } from './helpers/cluster.ts';
import { JWT_SECRET, mint } from './helpers/gateway.ts';
import { UpstreamDouble } from './helpers/upstream-double.ts';

const task = new UpstreamDouble();
const trade = new UpstreamDouble();
const legacy = new UpstreamDouble();
let cluster: RunningCluster;
let token: string;

/** One HTTP/1.1 request written byte for byte on a raw socket, so no client normalises the path. */
function rawGet(
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(cluster.ports.http, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
    const lines = Object.entries({ host: 'localhost', connection: 'close', ...headers }).map(
      ([k, v]) => `${k}: ${v}`,
    );
    // write, not end: the server closes the connection after answering (Connection: close).
    socket.write(`GET ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  });
}

const received = () => task.received.length + trade.received.length + legacy.received.length;

// Each one reached the legacy service or an upstream's admin path before (issue 11, items 7 and 8).
const TRAVERSALS = [
  '/v1/trade/..;/admin',
  '/v1/trade/%2e%2e;/admin',
  '/v1/trade/..%3b/admin',
  '/v1/trade/..%00/admin',
  '/v1/trade/%252e%252e/admin',
  '/v1/trade/x/..%252f..%252fadmin',
];
const VARIANTS = [
  '/V1/TASK/items',
  '/v1/Task/items',
  '/v1//task/items',
  '/v1/%74ask/items',
  '/v1/task;x/items',
  '/v1/%2574ask/items',
  '/v1/task%2fitems',
];

legacy.on('/', (_req, res) => res.writeHead(200, { 'x-served-by': 'legacy' }).end('legacy'));
const service = useCluster(
  {
    workers: 1,
    doubles: [task, trade, legacy],
    env: () => ({
      JWT_SECRET,
      TASK_UPSTREAM_URL: task.url,
      TRADE_UPSTREAM_URL: trade.url,
      LEGACY_UPSTREAM_URL: legacy.url,
    }),
  },
  async () => {
    cluster = service.cluster;
    token = (await mint('task:read', 'trade:read')).token;
  },
);

function assertRefused(res: { status: number; body: string }, path: string): void {
  assert.equal(res.status, 400, `${path}: ${res.body}`);
  const problem = JSON.parse(res.body) as { code: string };
  assert.equal(problem.code, 'BAD_REQUEST', path);
}

describe('gateway paths', () => {
  it('refuses dot segments hidden behind ;, encoding, double encoding or NUL over HTTP/1.1', async () => {
    const before = received();
    for (const path of TRAVERSALS) {
      assertRefused(await rawGet(path, bearer(token)), path);
    }
    assert.equal(received(), before, 'nothing reached an upstream or the legacy service');
  });

  it('refuses case, encoding, ; and // variants of an owned prefix instead of passing them to legacy', async () => {
    const before = received();
    for (const path of VARIANTS) {
      assertRefused(await rawGet(path, bearer(token)), path);
      assertRefused(await rawGet(path), `${path} without a token`);
    }
    assert.equal(received(), before, 'nothing reached an upstream or the legacy service');
  });

  it('refuses the same paths over h2c and TLS h2', async () => {
    const before = received();
    for (const client of [new H2Client(cluster.http), new H2Client(cluster.https, cluster.ca)]) {
      try {
        for (const path of [...TRAVERSALS, ...VARIANTS]) {
          const res: Reply = await client.request(path, { headers: bearer(token) });
          assertRefused({ status: res.status, body: res.text() }, path);
        }
      } finally {
        await client.close();
      }
    }
    assert.equal(received(), before, 'nothing reached an upstream or the legacy service');
  });

  it('refuses traversal on the legacy passthrough too', async () => {
    const before = legacy.received.length;
    for (const path of ['/reports/..;/admin', '/reports/%252e%252e/admin', '/reports//x', '/reports/..%00']) {
      assertRefused(await rawGet(path), path);
    }
    assert.equal(legacy.received.length, before);
  });

  it('still forwards canonical paths as sent, ; parameters below the prefix included', async () => {
    const auth = bearer(token);
    const ok = await rawGet('/v1/task/items;v=1/%20x?q=%2e%2e', auth);
    assert.equal(ok.status, 200, JSON.stringify(ok));
    assert.equal(task.received.at(-1)?.url, '/items;v=1/%20x?q=%2e%2e');
    const other = await rawGet('/v1/taskforce/x');
    assert.match(other.body, /legacy/);
  });
});
