import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import '../src/http/json-response.ts';
import { strongEtag } from '../src/native/xxhash.ts';

let server: http.Server;
let origin: string;
const big = { items: Array.from({ length: 100 }, (_, i) => ({ i, name: `item ${i} ✓` })) };

before(async () => {
  const app = express();
  app.set('etag', (body: string | Buffer) => strongEtag(body));
  app.get('/small', (_req, res) => {
    res.json({ status: 'ok', note: 'héllo' });
  });
  app.get('/big', (_req, res) => {
    res.json(big);
  });
  app.post('/created', (_req, res) => {
    res.status(201).json({ id: 1 });
  });
  app.get('/empty', (_req, res) => {
    res.status(204).json({ ignored: true });
  });
  app.get('/versioned', (_req, res) => {
    res.setHeader('ETag', '"v7"');
    res.json({ name: 'a file', version: 7 });
  });
  app.get('/typed', (_req, res) => {
    res.type('application/problem+json').json({ code: 'X' });
  });
  server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** node:http, which sends exactly the headers given (fetch adds its own cache directives). */
function get(path: string, init: { method?: string; headers?: Record<string, string> } = {}) {
  return new Promise<{ status: number; headers: Headers; text: string }>((resolve, reject) => {
    const req = http.request(
      `${origin}${path}`,
      { method: init.method ?? 'GET', headers: init.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers.set(k, v);
          resolve({ status: res.statusCode ?? 0, headers, text: Buffer.concat(chunks).toString('utf8') });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('res.json', () => {
  it('answers with the JSON, its type with charset, exact length and a strong ETag of the body', async () => {
    for (const path of ['/small', '/big']) {
      const res = await get(path);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
      assert.equal(Number(res.headers.get('content-length')), Buffer.byteLength(res.text));
      assert.equal(res.headers.get('etag'), strongEtag(res.text));
      assert.deepEqual(JSON.parse(res.text), path === '/big' ? big : { status: 'ok', note: 'héllo' });
    }
  });

  it('answers 304 without body or entity headers when the ETag matches', async () => {
    const first = await get('/small');
    const res = await get('/small', { headers: { 'if-none-match': String(first.headers.get('etag')) } });
    assert.equal(res.status, 304);
    assert.equal(res.text, '');
    assert.equal(res.headers.get('content-type'), null);
    assert.equal(res.headers.get('etag'), first.headers.get('etag'));
  });

  it("keeps an ETag the route set (a resource's version) and revalidates against it", async () => {
    const res = await get('/versioned');
    assert.equal(res.headers.get('etag'), '"v7"');
    assert.deepEqual(JSON.parse(res.text), { name: 'a file', version: 7 });
    const again = await get('/versioned', { headers: { 'if-none-match': '"v7"' } });
    assert.equal(again.status, 304);
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    const getRes = await get('/small');
    const res = await get('/small', { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.text, '');
    assert.equal(res.headers.get('content-length'), getRes.headers.get('content-length'));
    assert.equal(res.headers.get('etag'), getRes.headers.get('etag'));
  });

  it('keeps a status set before, sends nothing with a 204, and keeps a Content-Type set before', async () => {
    const created = await get('/created', { method: 'POST' });
    assert.equal(created.status, 201);
    assert.deepEqual(JSON.parse(created.text), { id: 1 });
    const empty = await get('/empty');
    assert.equal(empty.status, 204);
    assert.equal(empty.text, '');
    assert.equal(empty.headers.get('content-type'), null);
    const typed = await get('/typed');
    assert.equal(typed.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.deepEqual(JSON.parse(typed.text), { code: 'X' });
  });
});
