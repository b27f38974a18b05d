// Issue 16: a browser app on another origin calls the API (CORS_ORIGINS). Chromium loads a page
// from a second origin and logs in, reads a file's ETag and writes it back with If-Match, and
// follows the project's event stream; a page from an origin not allowed gets nothing.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { h2once, type Reply } from './helpers/clients.ts';
import { useCluster } from './helpers/cluster.ts';
import { JWT_SECRET, mint } from './helpers/gateway.ts';
import { HttpDouble } from './helpers/http-double.ts';
import { UpstreamDouble } from './helpers/upstream-double.ts';
import { Api, newUser, type TestUser } from './helpers/workspace.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** A site of its own origin serving one empty page, as a frontend would be served. */
const site = () =>
  new HttpDouble((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>app</title>');
  });

const app = site();
const stranger = site();
const legacy = new UpstreamDouble();
const service = useCluster(
  {
    doubles: [app, stranger, legacy],
    env: () => ({
      JWT_SECRET,
      CORS_ORIGINS: `${app.url},https://other.example`,
      TASK_UPSTREAM_URL: legacy.url,
      LEGACY_UPSTREAM_URL: legacy.url,
    }),
  },
  async () => {
    user = await newUser(service.h1, service.cluster.http);
    api = new Api(service.h1, service.cluster.http, user.token);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
  },
);
let browser: Browser;
let user: TestUser;
let api: Api;
after(async () => {
  await browser?.close();
});

async function onPage<T>(origin: string, fn: (base: string) => Promise<T>, arg: unknown): Promise<T> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${origin}/`);
    return (await page.evaluate(fn as never, arg)) as T;
  } finally {
    await context.close();
  }
}

describe('a page on an allowed origin', () => {
  it('logs in, writes a file with If-Match and follows the event stream', async () => {
    const projectId = await api.createProject();
    assert.equal((await api.put(projectId, 'notes.txt', 'v1')).status, 201);
    const result = await onPage(
      app.url,
      (async (args: { base: string; email: string; password: string; projectId: string }) => {
        const { base, email, password, projectId } = args;
        const login = await fetch(`${base}/api/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email, password }),
        });
        const { accessToken } = (await login.json()) as { accessToken: string };
        const auth = { authorization: `Bearer ${accessToken}` };
        const file = `${base}/api/projects/${projectId}/files/notes.txt`;
        const read = await fetch(file, { headers: auth });
        const etag = read.headers.get('etag');
        const requestId = read.headers.get('x-request-id');
        // The stream is open before the write, so its event arrives live.
        let opened: () => void = () => undefined;
        const open = new Promise<void>((resolve) => {
          opened = resolve;
        });
        const event = new Promise<string>((resolve, reject) => {
          const source = new EventSource(
            `${base}/api/sse/projects/${projectId}?access_token=${encodeURIComponent(accessToken)}`,
          );
          source.onopen = () => opened();
          source.addEventListener('file.changed', (e) => {
            source.close();
            resolve((e as MessageEvent).data);
          });
          source.onerror = () => {
            if (source.readyState === EventSource.CLOSED) reject(new Error('the event stream failed'));
          };
        });
        await open;
        const write = await fetch(file, {
          method: 'PUT',
          headers: { ...auth, 'if-match': etag ?? '' },
          body: 'v2',
        });
        const stale = await fetch(file, {
          method: 'PUT',
          headers: { ...auth, 'if-match': etag ?? '' },
          body: 'v3',
        });
        return {
          login: login.status,
          etag,
          requestId,
          write: write.status,
          stale: stale.status,
          event: await event,
        };
      }) as never,
      { base: service.cluster.http, email: user.email, password: user.password, projectId },
    );
    const r = result as {
      login: number;
      etag: string | null;
      requestId: string | null;
      write: number;
      stale: number;
      event: string;
    };
    assert.equal(r.login, 200);
    assert.match(String(r.etag), /^"/, 'ETag is exposed');
    assert.ok(r.requestId, 'X-Request-Id is exposed');
    assert.equal(r.write, 200);
    assert.equal(r.stale, 412, 'the stale If-Match is refused, and the page can read that');
    assert.match(r.event, /notes\.txt/);
    assert.equal((await api.get(projectId, 'notes.txt')).text(), 'v2');
  });
});

describe('a page on another origin', () => {
  it('cannot read any answer', async () => {
    const outcome = await onPage(
      stranger.url,
      (async (base: string) => {
        try {
          await fetch(`${base}/api/auth/login`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: '{}',
          });
          return 'read';
        } catch (err) {
          return (err as Error).name;
        }
      }) as never,
      service.cluster.http,
    );
    assert.equal(outcome, 'TypeError');
  });
});

describe('preflights and headers', () => {
  const preflight = (origin: string, path: string) => ({
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'PUT',
      'access-control-request-headers': 'authorization,if-match',
    },
    path,
  });
  const send = async (
    protocol: 'h1' | 'h2',
    req: { method: string; headers: Record<string, string>; path: string },
  ) =>
    protocol === 'h1'
      ? service.h1.request(service.url(req.path), { method: req.method, headers: req.headers })
      : h2once(service.cluster.http, req.path, { method: req.method, headers: req.headers });

  for (const protocol of ['h1', 'h2'] as const) {
    it(`answers a preflight before authentication on API, SSE and gateway routes (${protocol})`, async () => {
      for (const path of ['/api/auth/me', '/api/sse/projects/x', '/v1/task/jobs', '/legacy/page']) {
        const res: Reply = await send(protocol, preflight(app.url, path));
        assert.equal(res.status, 204, `${path}: ${res.text()}`);
        assert.equal(res.headers['access-control-allow-origin'], app.url);
        assert.match(String(res.headers['access-control-allow-methods']), /PUT/);
        assert.equal(res.headers['access-control-allow-headers'], 'authorization,if-match');
        assert.equal(res.headers['access-control-max-age'], '600');
        assert.match(String(res.headers.vary), /Origin/);
      }
      assert.equal(legacy.count('/legacy/page'), 0, 'the preflight was answered here');
    });

    it(`refuses a preflight from an origin not allowed (${protocol})`, async () => {
      const res = await send(protocol, preflight(stranger.url, '/api/auth/login'));
      assert.equal(res.status, 403);
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
      assert.equal(res.headers['access-control-allow-origin'], undefined);
    });
  }

  it('exposes the configured headers to an allowed origin, and says nothing without an Origin', async () => {
    const { token } = await mint('task:read');
    const withOrigin = await service.h1.request(service.url('/v1/task/jobs'), {
      headers: { origin: app.url, authorization: `Bearer ${token}` },
    });
    assert.equal(withOrigin.status, 200);
    assert.equal(withOrigin.headers['access-control-allow-origin'], app.url);
    assert.equal(
      withOrigin.headers['access-control-expose-headers'],
      'ETag,X-Request-Id,Location,Retry-After',
    );
    const legacyAnswer = await service.h1.request(service.url('/legacy/page'), {
      headers: { origin: app.url },
    });
    assert.equal(
      legacyAnswer.headers['access-control-allow-origin'],
      app.url,
      "a legacy answer carries ferrite's",
    );
    assert.match(String(legacyAnswer.headers.vary), /Origin/);
    const plain = await service.h1.request(service.url('/api/health'));
    assert.equal(plain.headers['access-control-allow-origin'], undefined);
    const foreign = await service.h1.request(service.url('/api/health'), {
      headers: { origin: stranger.url },
    });
    assert.equal(foreign.status, 200);
    assert.equal(foreign.headers['access-control-allow-origin'], undefined);
  });
});
