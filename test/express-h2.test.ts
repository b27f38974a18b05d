import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import zlib from 'node:zlib';
import compression from 'compression';
import express from 'express';
import { AppError } from '../src/errors.ts';
import { errorHandler, notFound } from '../src/http/problem.ts';
import { route } from '../src/http/route-spec.ts';
import { mountRoutes } from '../src/http/routes.ts';
import { HttpServers } from '../src/http/servers.ts';
import { createLogger } from '../src/log.ts';
import { H1Client, H2Client, type Reply } from './helpers/clients.ts';

const log = createLogger('silent', {});

/** An app that uses the express features routes rely on, served by the product's listeners. */
function fixtureApp() {
  const app = express();
  app.disable('x-powered-by');
  app.use((req, _res, next) => {
    req.id = 'fixture';
    req.log = log;
    next();
  });
  app.use(compression({ threshold: 1024 }));
  app.use(express.json({ limit: 1024 * 1024 }));
  app.get('/json', (req, res) => {
    res
      .status(201)
      .set('X-Custom', 'yes')
      .json({ host: req.hostname, protocol: req.protocol, q: req.query.q });
  });
  app.post('/echo', (req, res) => {
    res.json({ body: req.body });
  });
  app.get('/redirect', (_req, res) => res.redirect(302, '/json'));
  app.get('/text', (_req, res) => {
    res.type('text/plain').send('x'.repeat(5000));
  });
  app.get('/stream', (_req, res) => {
    res.type('text/plain');
    let i = 0;
    const tick = () => {
      if (i === 5) {
        res.end('done');
        return;
      }
      res.write(`chunk${i++}\n`);
      setImmediate(tick);
    };
    tick();
  });
  app.get('/boom', async () => {
    throw new Error('kaboom');
  });
  app.get('/teapot', () => {
    throw new AppError('CONFLICT', { detail: 'already there', headers: { 'Retry-After': '7' } });
  });
  app.get('/header-connection', (_req, res) => {
    // A connection-specific header must not crash an HTTP/2 response.
    res.set('Connection', 'keep-alive').json({ ok: true });
  });
  app.get('/etag', (_req, res) => {
    res.json({ stable: true });
  });
  const router = express.Router();
  mountRoutes(router, [
    route<{ limit: number }, { email: string }>({
      method: 'post',
      path: '/items/{id}',
      operationId: 'fixtureItem',
      summary: 'fixture',
      tags: ['fixture'],
      parameters: [
        { name: 'id', in: 'path', schema: { type: 'integer', minimum: 1 } },
        { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 10, default: 5 } },
      ],
      requestBody: {
        required: true,
        schema: {
          type: 'object',
          additionalProperties: false,
          required: ['email'],
          properties: { email: { type: 'string', format: 'email', maxLength: 254 } },
        },
      },
      responses: { 200: { description: 'ok' } },
      handler: (req, res) => {
        res.json({ id: req.params.id, limit: req.query.limit, email: req.body.email });
      },
    }),
  ]);
  app.use(router);
  app.use(notFound);
  app.use(errorHandler(false));
  return app;
}

let servers: HttpServers;
let origin: string;
let h1: H1Client;

before(async () => {
  servers = new HttpServers(
    fixtureApp(),
    {
      host: '127.0.0.1',
      httpPort: 0,
      httpsPort: 0,
      tls: undefined,
      keepAliveTimeoutMs: 5000,
      headersTimeoutMs: 5000,
      requestTimeoutMs: 10_000,
      bodyIdleTimeoutMs: 10_000,
      maxHeaderSize: 16384,
      h2MaxConcurrentStreams: 100,
      h2MaxSessionMemoryMb: 10,
    },
    log,
  );
  await new Promise<void>((resolve) => servers.cleartext.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(servers.cleartext.address() as AddressInfo).port}`;
  h1 = new H1Client();
});

after(async () => {
  await h1.close();
  await servers.drain(1000);
});

type Send = (
  path: string,
  init?: { method?: string; headers?: Record<string, string>; body?: string },
) => Promise<Reply>;
let h2: H2Client;
const clients: Record<string, () => Send> = {
  'HTTP/1.1': () => (p, i) => h1.request(`${origin}${p}`, i),
  'HTTP/2 (h2c)': () => {
    h2 ??= new H2Client(origin);
    return (p, i) => h2.request(p, i);
  },
};
after(() => h2?.close());

for (const [name, client] of Object.entries(clients)) {
  describe(`express 5 over ${name}`, () => {
    /** A POST of `body` (a string as it is, anything else as JSON) as `type`. */
    const post = (path: string, body: unknown, type = 'application/json') =>
      client()(path, {
        method: 'POST',
        headers: { 'content-type': type },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });

    it('sets status and headers and sends JSON, with host and protocol', async () => {
      const res = await client()('/json?q=hi');
      assert.equal(res.status, 201);
      assert.equal(res.headers['x-custom'], 'yes');
      assert.deepEqual(res.json(), { host: '127.0.0.1', protocol: 'http', q: 'hi' });
    });

    it('parses a JSON request body', async () => {
      const res = await post('/echo', { a: [1, 2] });
      assert.deepEqual(res.json(), { body: { a: [1, 2] } });
    });

    it('redirects', async () => {
      const res = await client()('/redirect');
      assert.equal(res.status, 302);
      assert.equal(res.headers.location, '/json');
    });

    it('streams a response written in chunks', async () => {
      const res = await client()('/stream');
      assert.equal(res.text(), 'chunk0\nchunk1\nchunk2\nchunk3\nchunk4\ndone');
    });

    it('compresses with gzip and br', async () => {
      const gz = await client()('/text', { headers: { 'accept-encoding': 'gzip' } });
      assert.equal(gz.headers['content-encoding'], 'gzip');
      assert.equal(zlib.gunzipSync(gz.body).toString(), 'x'.repeat(5000));
      const br = await client()('/text', { headers: { 'accept-encoding': 'br' } });
      assert.equal(br.headers['content-encoding'], 'br');
      assert.equal(zlib.brotliDecompressSync(br.body).toString(), 'x'.repeat(5000));
    });

    it('answers 304 to a matching If-None-Match', async () => {
      const first = await client()('/etag');
      const etag = String(first.headers.etag);
      const second = await client()('/etag', { headers: { 'if-none-match': etag } });
      assert.equal(second.status, 304);
      assert.equal(second.body.length, 0);
    });

    it('turns a thrown error into a 500 problem without a stack', async () => {
      const res = await client()('/boom');
      assert.equal(res.status, 500);
      const body = res.json();
      assert.equal(body.code, 'INTERNAL');
      assert.equal(body.stack, undefined);
      assert.ok(!res.text().includes('kaboom'));
    });

    it('turns an AppError into its problem with its headers', async () => {
      const res = await client()('/teapot');
      assert.equal(res.status, 409);
      assert.equal(res.headers['retry-after'], '7');
      assert.equal(res.json().detail, 'already there');
    });

    it('ignores connection-specific headers set by a route', async () => {
      const res = await client()('/header-connection');
      assert.equal(res.status, 200);
      assert.deepEqual(res.json(), { ok: true });
    });

    it('validates path, query and body against the operation and coerces types', async () => {
      const ok = await post('/items/42?limit=3', { email: 'a@b.co' });
      assert.deepEqual(ok.json(), { id: 42, limit: 3, email: 'a@b.co' });
      const defaults = await post('/items/1', { email: 'a@b.co' });
      assert.equal(defaults.json().limit, 5);
    });

    it('lists every violation in one 400', async () => {
      const res = await post('/items/0?limit=99&extra=1', { email: 5, admin: true });
      assert.equal(res.status, 400);
      const body = res.json<{ code: string; errors: { in: string; path: string }[] }>();
      assert.equal(body.code, 'VALIDATION_FAILED');
      const where = body.errors.map((e) => `${e.in} ${e.path}`).sort();
      assert.deepEqual(where, ['body /admin', 'body /email', 'path /id', 'query /extra', 'query /limit']);
    });

    it('answers a path parameter that is not valid percent-encoding with 400', async () => {
      const res = await post('/items/%E0%A4%A', '{"email":"a@b.co"}');
      assert.equal(res.status, 400);
      assert.equal(res.json().code, 'BAD_REQUEST');
    });

    it('requires a JSON body and rejects other media types', async () => {
      const missing = await client()('/items/1', { method: 'POST' });
      assert.equal(missing.status, 400);
      assert.equal(missing.json().code, 'VALIDATION_FAILED');
      const form = await post('/items/1', 'email=a@b.co', 'application/x-www-form-urlencoded');
      assert.equal(form.status, 415);
      assert.equal(form.json().code, 'UNSUPPORTED_MEDIA_TYPE');
    });
  });
}

describe('HTTP/2 request bodies', () => {
  it('parses a body sent without content-length', async () => {
    const client = new H2Client(origin);
    try {
      const res = await new Promise<string>((resolve, reject) => {
        const stream = client.session.request({
          ':method': 'POST',
          ':path': '/echo',
          'content-type': 'application/json',
        });
        let data = '';
        stream.on('data', (d) => {
          data += d;
        });
        stream.on('end', () => resolve(data));
        stream.on('error', reject);
        stream.write('{"split":');
        setTimeout(() => stream.end('"body"}'), 20);
      });
      assert.deepEqual(JSON.parse(res), { body: { split: 'body' } });
    } finally {
      await client.close();
    }
  });
});
