import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { H1Client } from './helpers/clients.ts';
import { killOnExit, type RunningCluster, startCluster } from './helpers/cluster.ts';
import { createTestDatabase, stopPostgresServer, type TestDatabase } from './helpers/database.ts';
import { JWT_SECRET, mint } from './helpers/gateway.ts';
import { until } from './helpers/until.ts';
import { UpstreamDouble } from './helpers/upstream-double.ts';

// Small limits so that crossing them takes a moment; every wait below ends on behaviour.
const REQUEST_TIMEOUT_MS = 1500;
const BODY_IDLE_TIMEOUT_MS = 500;
const POOL = 2;

const task = new UpstreamDouble();
/** Upload requests the upstream read to the end, and ones that broke off. */
const completed: string[] = [];
const brokenOff: string[] = [];
let db: TestDatabase;
let cluster: RunningCluster;
let writer: string;

before(async () => {
  db = await createTestDatabase();
  task.on('/upload', (req, res) => {
    req.on('data', () => undefined);
    req.on('end', () => {
      completed.push(req.url ?? '');
      res.writeHead(200).end('stored');
    });
    req.on('close', () => {
      if (!req.complete) brokenOff.push(req.url ?? '');
    });
  });
  await task.start();
  cluster = await startCluster({
    workers: 1,
    env: {
      DATABASE_URL: db.url,
      JWT_SECRET,
      TASK_UPSTREAM_URL: task.url,
      GATEWAY_POOL_CONNECTIONS: String(POOL),
      HEADERS_TIMEOUT_MS: '1000',
      REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      BODY_IDLE_TIMEOUT_MS: String(BODY_IDLE_TIMEOUT_MS),
    },
  });
  killOnExit(cluster);
  writer = (await mint('task:read', 'task:write')).token;
});

after(async () => {
  assert.equal(await cluster?.stop(), 0);
  await task.close();
  await db?.drop();
  await stopPostgresServer();
});

interface Outcome {
  status: number;
  body: string;
  rstCode: number | undefined;
}

/** Opens a request stream and leaves its body open; resolves with how the server ended it. */
function openUpload(
  session: http2.ClientHttp2Session,
  path: string,
  headers: Record<string, string> = {},
): { stream: http2.ClientHttp2Stream; outcome: Promise<Outcome> } {
  const stream = session.request({ ':method': 'POST', ':path': path, ...headers });
  const outcome = new Promise<Outcome>((resolve) => {
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      status = Number(h[':status']);
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => undefined);
    stream.on('close', () =>
      resolve({ status, body: Buffer.concat(chunks).toString(), rstCode: stream.rstCode }),
    );
  });
  return { stream, outcome };
}

const listeners = () => [
  { name: 'h2c', connect: () => http2.connect(cluster.http) },
  { name: 'TLS h2', connect: () => http2.connect(cluster.https, { ca: cluster.ca }) },
];

describe('HTTP/2 request bodies', () => {
  for (const { name, connect } of listeners()) {
    it(`answers 408 when a body never comes (${name}), on ferrite's routes and the gateway`, async () => {
      const session = connect();
      session.on('error', () => undefined);
      try {
        for (const path of ['/api/auth/login', '/v1/task/upload/stalled']) {
          const { outcome } = openUpload(session, path, {
            authorization: `Bearer ${writer}`,
            'content-type': 'application/json',
          });
          const res = await outcome;
          assert.equal(res.status, 408, `${path}: ${res.body}`);
          assert.equal(JSON.parse(res.body).code, 'REQUEST_TIMEOUT');
        }
      } finally {
        session.destroy();
      }
    });

    it(`cuts off a body that trickles in slower than the request deadline (${name})`, async () => {
      const session = connect();
      session.on('error', () => undefined);
      const { stream, outcome } = openUpload(session, '/api/auth/login', {
        'content-type': 'application/json',
      });
      // Each byte comes before the idle timeout; only the whole-request deadline can end this.
      const timer = setInterval(() => stream.write(' '), BODY_IDLE_TIMEOUT_MS / 4);
      try {
        const res = await outcome;
        assert.equal(res.status, 408, res.body);
      } finally {
        clearInterval(timer);
        session.destroy();
      }
    });
  }

  it('gives stalled uploads’ upstream connections back, so another user is still served', async () => {
    const sessions = [http2.connect(cluster.http), http2.connect(cluster.https, { ca: cluster.ca })];
    const stalled: Promise<Outcome>[] = [];
    for (const session of sessions) {
      session.on('error', () => undefined);
      for (let i = 0; i < POOL * 3; i++) {
        const { stream, outcome } = openUpload(session, `/v1/task/upload/stall-${i}`, {
          authorization: `Bearer ${writer}`,
        });
        stream.write('partial');
        stalled.push(outcome);
      }
    }
    await until('stalled uploads at the upstream', () =>
      task.count('/upload/stall-') >= POOL ? true : undefined,
    );
    const other = new H1Client();
    try {
      const res = await other.request(`${cluster.http}/v1/task/echo`, {
        headers: { authorization: `Bearer ${(await mint('task:read')).token}` },
      });
      assert.equal(res.status, 200, res.text());
      for (const res of await Promise.all(stalled)) assert.equal(res.status, 408, res.body);
      assert.deepEqual(
        completed.filter((u) => u.includes('stall-')),
        [],
        'no stalled upload reached the upstream as complete',
      );
    } finally {
      await other.close();
      for (const s of sessions) s.destroy();
    }
  });
});

// --- a minimal HTTP/2 client over raw frames: node's own client always sends END_STREAM
// before RST_STREAM, which would make a cancelled upload indistinguishable from a complete one.

function hpackInt(value: number, prefixBits: number, firstByte: number): number[] {
  const max = 2 ** prefixBits - 1;
  if (value < max) return [firstByte | value];
  const out = [firstByte | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

function hpackString(s: string): number[] {
  const bytes = [...Buffer.from(s, 'latin1')];
  return [...hpackInt(bytes.length, 7, 0), ...bytes];
}

/** Literal header fields without indexing (RFC 7541 §6.2.2), by static-table name index or name. */
function headerBlock(fields: [number | string, string][]): Buffer {
  const out: number[] = [];
  for (const [name, value] of fields) {
    if (typeof name === 'number') out.push(...hpackInt(name, 4, 0));
    else out.push(0, ...hpackString(name));
    out.push(...hpackString(value));
  }
  return Buffer.from(out);
}

function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head.writeUInt8(type, 3);
  head.writeUInt8(flags, 4);
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

const DATA = 0;
const HEADERS = 1;
const RST_STREAM = 3;
const SETTINGS = 4;
const END_HEADERS = 4;
const CANCEL = 8;

/** Connects with prior knowledge (h2c) or ALPN h2 (TLS) and acknowledges the server's settings. */
async function rawH2(secure: boolean): Promise<net.Socket> {
  const socket: net.Socket = secure
    ? tls.connect({
        port: cluster.ports.https,
        host: '127.0.0.1',
        servername: 'localhost',
        ca: cluster.ca,
        ALPNProtocols: ['h2'],
      })
    : net.connect(cluster.ports.http, '127.0.0.1');
  await new Promise((resolve, reject) => {
    socket.once(secure ? 'secureConnect' : 'connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => undefined);
  let seen = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    seen = Buffer.concat([seen, chunk]);
    while (seen.length >= 9) {
      const length = seen.readUIntBE(0, 3);
      if (seen.length < 9 + length) break;
      if (seen[3] === SETTINGS && ((seen[4] as number) & 1) === 0) socket.write(frame(SETTINGS, 1, 0));
      seen = seen.subarray(9 + length);
    }
  });
  socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(SETTINGS, 0, 0)]));
  return socket;
}

describe('a cancelled HTTP/2 upload', () => {
  for (const secure of [false, true]) {
    it(`is aborted at the upstream, never completed there (${secure ? 'TLS h2' : 'h2c'})`, async () => {
      const socket = await rawH2(secure);
      const path = `/v1/task/upload/cancelled-${secure ? 'tls' : 'h2c'}`;
      try {
        socket.write(
          frame(
            HEADERS,
            END_HEADERS,
            1,
            headerBlock([
              [2, 'POST'],
              [6, secure ? 'https' : 'http'],
              [4, path],
              [1, 'localhost'],
              ['authorization', `Bearer ${writer}`],
            ]),
          ),
        );
        socket.write(frame(DATA, 0, 1, Buffer.from('half of an order')));
        await until('the upload at the upstream', () =>
          task.count(path.slice('/v1/task'.length)) > 0 ? true : undefined,
        );
        const rst = Buffer.alloc(4);
        rst.writeUInt32BE(CANCEL);
        socket.write(frame(RST_STREAM, 0, 1, rst));
        const upstreamPath = path.slice('/v1/task'.length);
        await until('the upstream to see the upload break off', () =>
          brokenOff.includes(upstreamPath) || completed.includes(upstreamPath) ? true : undefined,
        );
        assert.deepEqual(
          completed.filter((u) => u === upstreamPath),
          [],
          'the upstream got a complete request',
        );
      } finally {
        socket.destroy();
      }
    });
  }
});
