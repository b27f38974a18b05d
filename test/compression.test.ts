import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import zlib from 'node:zlib';
import compression from 'compression';
import express, { type Response } from 'express';
import { enableCompression } from '../src/http/compression.ts';
import '../src/http/json-response.ts';

// How a response met compression: whether the middleware was set up on it (it replaces the
// response's own `write` and `end`) and how often the filter was asked.
interface Seen {
  setUp: boolean;
  filterCalls: number;
}
const seen = new Map<string, Seen>();
let server: http.Server;
let origin: string;

before(async () => {
  const app = express();
  const filterCalls = new WeakMap<Response, number>();
  enableCompression(app, {
    threshold: 1024,
    filter: (req, res) => {
      filterCalls.set(res, (filterCalls.get(res) ?? 0) + 1);
      return compression.filter(req, res);
    },
  });
  app.use((req, res, next) => {
    res.on('finish', () => {
      seen.set(req.path, { setUp: Object.hasOwn(res, 'end'), filterCalls: filterCalls.get(res) ?? 0 });
    });
    next();
  });
  app.get('/small', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/big', (_req, res) => {
    res.json({ items: 'x'.repeat(4096) });
  });
  app.get('/sent', (_req, res) => {
    res.send('<p>small</p>');
  });
  app.get('/sent-big', (_req, res) => {
    res.type('text/plain').send('s'.repeat(4096));
  });
  app.get('/streamed', (_req, res) => {
    res.type('text/plain');
    res.write('a'.repeat(2048));
    res.end('b'.repeat(2048));
  });
  server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

function get(path: string) {
  return new Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    http
      .get(`${origin}${path}`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      })
      .on('error', reject);
  });
}

describe('compression set up on first write', () => {
  it('leaves a small whole body to node: no middleware, one filter call, Vary as compression sets it', async () => {
    const res = await get('/small');
    assert.equal(res.headers['content-encoding'], undefined);
    assert.equal(res.headers.vary, 'Accept-Encoding');
    assert.deepEqual(JSON.parse(res.body.toString()), { status: 'ok' });
    // node's `end` writes the head through `writeHead`; that must not set the middleware up late.
    assert.deepEqual(seen.get('/small'), { setUp: false, filterCalls: 1 });
  });

  it("treats any body ended whole the same way (express's res.send)", async () => {
    const small = await get('/sent');
    assert.equal(small.headers['content-encoding'], undefined);
    assert.equal(small.headers.vary, 'Accept-Encoding');
    assert.equal(small.body.toString(), '<p>small</p>');
    assert.deepEqual(seen.get('/sent'), { setUp: false, filterCalls: 1 });
    const big = await get('/sent-big');
    assert.equal(big.headers['content-encoding'], 'gzip');
    assert.equal(zlib.gunzipSync(big.body).toString(), 's'.repeat(4096));
    assert.equal(seen.get('/sent-big')?.setUp, true);
  });

  it('compresses a whole body over the threshold through the middleware', async () => {
    const res = await get('/big');
    assert.equal(res.headers['content-encoding'], 'gzip');
    assert.deepEqual(JSON.parse(zlib.gunzipSync(res.body).toString()), { items: 'x'.repeat(4096) });
    assert.equal(seen.get('/big')?.setUp, true);
  });

  it('sets the middleware up at the first write of a streamed body', async () => {
    const res = await get('/streamed');
    assert.equal(res.headers['content-encoding'], 'gzip');
    assert.equal(zlib.gunzipSync(res.body).toString(), `${'a'.repeat(2048)}${'b'.repeat(2048)}`);
    assert.equal(seen.get('/streamed')?.setUp, true);
  });
});
