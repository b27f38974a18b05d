// WebSocket upgrades on legacy routes are tunnelled to the legacy service (issue 15), with
// ferrite's limits and timeouts; `/ws` stays ferrite's own.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { before, describe, it } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { freePort } from '../src/db/embedded.ts';
import { type RunningCluster, useCluster } from './helpers/cluster.ts';
import { JWT_SECRET } from './helpers/gateway.ts';

/** The old service's WebSocket endpoint: greets, echoes, and refuses `/legacy/private`. */
class LegacySockets {
  readonly server = http.createServer((_req, res) => res.writeHead(404).end('plain http here'));
  readonly wss = new WebSocketServer({ noServer: true });
  readonly handshakes: http.IncomingMessage[] = [];
  url = '';

  async start() {
    this.server.on('upgrade', (req, socket, head) => {
      this.handshakes.push(req);
      if (req.url?.startsWith('/legacy/private')) {
        socket.end(
          'HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nX-Legacy: refused\r\nContent-Length: 6\r\n\r\nno way',
        );
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        ws.send('welcome');
        ws.on('message', (data, binary) => ws.send(binary ? data : `echo:${data}`, { binary }));
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close() {
    for (const ws of this.wss.clients) ws.terminate();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** Opens a WebSocket and collects what arrives. */
function open(url: string, options: WebSocket.ClientOptions = {}) {
  const ws = new WebSocket(url, options);
  const received: (string | Buffer)[] = [];
  ws.on('message', (data, binary) => received.push(binary ? (data as Buffer) : data.toString()));
  const next = async (count: number) => {
    while (received.length < count) await once(ws, 'message');
    return received.slice(0, count);
  };
  return { ws, received, next, opened: once(ws, 'open') };
}

/** The status of an upgrade the server refused (ws's 'unexpected-response'). */
async function refusedWith(url: string, options: WebSocket.ClientOptions = {}) {
  const ws = new WebSocket(url, options);
  ws.on('error', () => undefined);
  const [, res] = (await once(ws, 'unexpected-response')) as [unknown, http.IncomingMessage];
  let body = '';
  for await (const chunk of res) body += chunk;
  ws.terminate();
  return { status: res.statusCode, headers: res.headers, body };
}

describe('WebSocket upgrades on legacy routes', () => {
  const legacy = new LegacySockets();
  const service = useCluster(
    { doubles: [legacy], env: () => ({ JWT_SECRET, LEGACY_UPSTREAM_URL: legacy.url }) },
    () => {
      cluster = service.cluster;
    },
  );
  let cluster: RunningCluster;

  for (const [name, origin] of [
    ['ws:// (HTTP/1.1 cleartext)', () => cluster.http.replace('http', 'ws')],
    ['wss:// (TLS)', () => cluster.https.replace('https', 'wss')],
  ] as const) {
    it(`are tunnelled both ways over ${name}, text and binary, with the path, query and identity headers`, async () => {
      const c = open(`${origin()}/legacy/socket?room=7`, {
        ca: cluster.ca,
        headers: { 'x-request-id': 'tunnel-1' },
      });
      await c.opened;
      assert.deepEqual(await c.next(1), ['welcome']);
      c.ws.send('hello');
      c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
      const [, text, binary] = await c.next(3);
      assert.equal(text, 'echo:hello');
      assert.deepEqual([...(binary as Buffer)], [1, 2, 3]);
      c.ws.close(1000, 'bye');
      const [code] = (await once(c.ws, 'close')) as [number];
      assert.equal(code, 1000, 'the close handshake crosses the tunnel');

      const seen = legacy.handshakes.at(-1);
      assert.equal(seen?.url, '/legacy/socket?room=7');
      assert.equal(seen?.headers['x-request-id'], 'tunnel-1');
      assert.equal(seen?.headers['x-forwarded-for'], '127.0.0.1');
      assert.equal(seen?.headers.upgrade, 'websocket');
    });
  }

  it("relays the legacy's refusal of an upgrade as it sent it", async () => {
    const refused = await refusedWith(`${cluster.http.replace('http', 'ws')}/legacy/private`);
    assert.equal(refused.status, 401);
    assert.equal(refused.headers['x-legacy'], 'refused');
    assert.equal(refused.body, 'no way');
  });

  it('keeps /ws for the rig feed: ferrite answers it, not the legacy service', async () => {
    const before = legacy.handshakes.length;
    const refused = await refusedWith(`${cluster.http.replace('http', 'ws')}/ws`);
    assert.equal(refused.status, 401, 'the rig feed wants a token');
    assert.equal(legacy.handshakes.length, before);
  });

  it('refuses a traversal with 400 instead of forwarding it', async () => {
    // Sent raw: a WHATWG URL (any WebSocket client's) would resolve the dots before sending.
    const before = legacy.handshakes.length;
    const socket = net.connect(cluster.ports.http, '127.0.0.1');
    socket.write(
      'GET /legacy/%2e%2e/admin HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    let answer = '';
    for await (const chunk of socket) answer += chunk;
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.match(answer, /content-type: application\/problem\+json/i);
    assert.equal(legacy.handshakes.length, before, 'the legacy service saw nothing');
  });
});

describe('tunnel limits and timeouts', () => {
  const legacy = new LegacySockets();
  const service = useCluster(
    {
      workers: 1,
      doubles: [legacy],
      env: () => ({
        JWT_SECRET,
        LEGACY_UPSTREAM_URL: legacy.url,
        GATEWAY_TUNNELS_MAX: '2',
        GATEWAY_TUNNEL_IDLE_TIMEOUT_MS: '1000',
      }),
    },
    () => {
      cluster = service.cluster;
    },
  );
  let cluster: RunningCluster;

  it('refuses a tunnel past GATEWAY_TUNNELS_MAX with 503 and Retry-After, and takes one again once one closes', async () => {
    const url = `${cluster.http.replace('http', 'ws')}/legacy/socket`;
    const a = open(url);
    const b = open(url);
    await Promise.all([a.opened, b.opened]);
    const refused = await refusedWith(url);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers['retry-after'], '5');
    assert.match(String(refused.headers['content-type']), /problem\+json/);
    a.ws.close();
    await once(a.ws, 'close');
    const c = open(url);
    await c.opened;
    assert.deepEqual(await c.next(1), ['welcome']);
    b.ws.terminate();
    c.ws.terminate();
  });

  it('closes a tunnel idle for GATEWAY_TUNNEL_IDLE_TIMEOUT_MS', async () => {
    const c = open(`${cluster.http.replace('http', 'ws')}/legacy/socket`);
    await c.opened;
    await c.next(1);
    const [code] = (await once(c.ws, 'close')) as [number];
    assert.equal(code, 1006, 'cut by ferrite, not closed by either end');
  });
});

describe('a legacy service that cannot be reached', () => {
  let down = '';
  before(async () => {
    down = `http://127.0.0.1:${await freePort()}`;
  });
  const service = useCluster({ workers: 1, env: () => ({ JWT_SECRET, LEGACY_UPSTREAM_URL: down }) }, () => {
    cluster = service.cluster;
  });
  let cluster: RunningCluster;

  it('answers an upgrade with 502 problem+json', async () => {
    const refused = await refusedWith(`${cluster.http.replace('http', 'ws')}/legacy/socket`);
    assert.equal(refused.status, 502);
    assert.match(String(refused.headers['content-type']), /problem\+json/);
    assert.equal(JSON.parse(refused.body).status, 502);
  });
});
