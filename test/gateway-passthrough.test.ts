// The legacy passthrough relays the old service's answers as it sent them (issue 15): a team
// strangling it route by route must not see its pages change under ferrite.
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { H1Client, h2once, type Reply } from './helpers/clients.ts';
import { type RunningCluster, useCluster } from './helpers/cluster.ts';
import { JWT_SECRET } from './helpers/gateway.ts';
import { UpstreamDouble } from './helpers/upstream-double.ts';

const legacy = new UpstreamDouble();
const PAGE = `<!doctype html><html><head><script src="/app.js"></script><style>b{color:red}</style></head><body>${'<p>old page</p>'.repeat(200)}</body></html>`;
const RANGE = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz');

legacy
  .on('/page', (_req, res) => {
    res.writeHead(200, [
      ['Content-Type', 'text/html; charset=utf-8'],
      ['Content-Security-Policy', "script-src 'self'"],
      ['Cache-Control', 'public, max-age=60'],
      ['Set-Cookie', 'sid=abc; Path=/; HttpOnly'],
      ['Set-Cookie', 'theme=dark; Path=/'],
      ['X-Legacy', 'one'],
      ['Content-Length', String(Buffer.byteLength(PAGE))],
    ]);
    res.end(PAGE);
  })
  .on('/moved', (_req, res) => {
    res.writeHead(302, { Location: '/page?from=moved', 'Set-Cookie': 'seen=1; Path=/' });
    res.end();
  })
  .on('/file.bin', (req, res) => {
    // A 206 for the range asked, with its own validators.
    const m = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range));
    const [from, to] = m ? [Number(m[1]), Number(m[2])] : [0, RANGE.length - 1];
    res.writeHead(m ? 206 : 200, {
      'Content-Type': 'application/octet-stream',
      'Accept-Ranges': 'bytes',
      ETag: '"v1"',
      'Last-Modified': 'Tue, 01 Dec 2026 00:00:00 GMT',
      ...(m ? { 'Content-Range': `bytes ${from}-${to}/${RANGE.length}` } : {}),
      'Content-Length': String(to - from + 1),
    });
    res.end(RANGE.subarray(from, to + 1));
  })
  .on('/stream', (_req, res: ServerResponse) => {
    // Chunked, in pieces with pauses between them.
    res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Streamed': 'yes' });
    void (async () => {
      for (let i = 0; i < 5; i++) {
        res.write(`part ${i}\n`.repeat(300));
        await sleep(20);
      }
      res.end('done\n');
    })();
  });

const service = useCluster(
  { doubles: [legacy], env: () => ({ JWT_SECRET, LEGACY_UPSTREAM_URL: legacy.url }) },
  () => {
    ({ cluster, h1 } = service);
  },
);
let cluster: RunningCluster;
let h1: H1Client;

// Connection-specific (RFC 9110 §7.6.1) and the response's own time: not compared.
const UNCOMPARED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'date', ':status']);

/** The headers to compare; one cookie is a list of one whichever client read it. */
function comparable(headers: Reply['headers'], framing: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (UNCOMPARED.has(name) || (!framing && name === 'content-length')) continue;
    out[name] = name === 'set-cookie' && typeof value === 'string' ? [value] : value;
  }
  return out;
}

/** The answer through ferrite equals the legacy's own, headers and bytes, but for the request id. */
function assertRelayed(direct: Reply, relayed: Reply) {
  assert.equal(relayed.status, direct.status);
  assert.ok(relayed.body.equals(direct.body), 'the same bytes');
  // A chunked answer may arrive framed by its length (HTTP/1.1) or by frames (HTTP/2): framing
  // is the connection's, so the length is compared only where the legacy sent one.
  const framed = direct.headers['content-length'] !== undefined;
  if (relayed.headers['content-length'] !== undefined) {
    assert.equal(Number(relayed.headers['content-length']), relayed.body.length);
  }
  const { 'x-request-id': requestId, ...rest } = comparable(relayed.headers, framed);
  assert.match(String(requestId), /^[0-9a-f-]{36}$/);
  assert.deepEqual(rest, comparable(direct.headers, framed));
}

// What a browser sends: a session cookie and compressed encodings (ferrite would otherwise add
// no-store and gzip the page), and a token the legacy service checks itself.
const browser = { 'accept-encoding': 'gzip, br', cookie: 'sid=abc', authorization: 'Bearer legacy-token' };

const protocols: Record<string, (path: string, headers: Record<string, string>) => Promise<Reply>> = {
  'HTTP/1.1': (path, headers) => h1.request(`${cluster.http}${path}`, { headers }),
  'HTTP/2 over TLS': (path, headers) => h2once(cluster.https, path, { headers }, cluster.ca),
};

describe('the legacy passthrough relays answers as the legacy service sent them', () => {
  for (const [name, send] of Object.entries(protocols)) {
    describe(`over ${name}`, () => {
      const direct = (path: string, headers: Record<string, string>) =>
        new H1Client().request(`${legacy.url}${path}`, { headers });

      it('an HTML page with its own CSP, caching and two cookies, uncompressed and without ferrite headers', async () => {
        const relayed = await send('/page', browser);
        assertRelayed(await direct('/page', browser), relayed);
        for (const added of [
          'x-frame-options',
          'x-content-type-options',
          'referrer-policy',
          'content-encoding',
        ]) {
          assert.equal(relayed.headers[added], undefined, `no ${added}`);
        }
        assert.equal(relayed.headers['content-security-policy'], "script-src 'self'");
        assert.equal(relayed.headers['cache-control'], 'public, max-age=60');
        assert.deepEqual(relayed.headers['set-cookie'], ['sid=abc; Path=/; HttpOnly', 'theme=dark; Path=/']);
      });

      it('a redirect, not followed, with its Location and cookie', async () => {
        const relayed = await send('/moved', browser);
        assertRelayed(await direct('/moved', browser), relayed);
        assert.equal(relayed.status, 302);
        assert.equal(relayed.headers.location, '/page?from=moved');
      });

      it('a 206 with its Content-Range and validators', async () => {
        const range = { ...browser, range: 'bytes=5-14' };
        const relayed = await send('/file.bin', range);
        assertRelayed(await direct('/file.bin', range), relayed);
        assert.equal(relayed.status, 206);
        assert.equal(relayed.headers['content-range'], `bytes 5-14/${RANGE.length}`);
        assert.equal(relayed.body.toString(), '56789abcde');
      });

      it('a chunked stream, whole', async () => {
        const relayed = await send('/stream', browser);
        assertRelayed(await direct('/stream', browser), relayed);
        assert.match(relayed.body.toString(), /part 4\ndone\n$/);
      });
    });
  }

  it("still answers ferrite's own routes with ferrite's headers", async () => {
    const res = await h1.request(`${cluster.http}/api/health`, { headers: browser });
    assert.equal(res.headers['x-frame-options'], 'DENY');
    assert.equal(res.headers['cache-control'], 'no-store');
  });
});
