import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import { after, describe, it } from 'node:test';
import WebSocket from 'ws';
import { bearer, type H1Client } from './helpers/clients.ts';
import { type RunningCluster, useCluster } from './helpers/cluster.ts';
import { SseStream } from './helpers/sse.ts';
import { until } from './helpers/until.ts';
import { Api, newUser, type TestUser } from './helpers/workspace.ts';

// Long-lived streams (SSE and /ws) are bounded by the token that opened them, by a per-user
// cap, and (for WebSockets) by the browser's Origin.
const JWT_SECRET = 'streams-test-secret-0123456789-abcdefghijklmnop';
const MAX = 3;
const ALLOWED_ORIGIN = 'https://dash.example';

/** An access token for `user` signed here, expiring in `seconds`. */
function tokenFor(user: TestUser, seconds: number): string {
  const now = Math.floor(Date.now() / 1000);
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc({ alg: 'HS256', typ: 'JWT', kid: 'ferrite-1' })}.${enc({
    sub: user.id,
    scope: 'miner:read projects:read projects:write',
    iat: now,
    exp: now + seconds,
    jti: randomUUID(),
    iss: 'ferrite',
    aud: 'ferrite',
  })}`;
  return `${input}.${createHmac('sha256', JWT_SECRET).update(input).digest('base64url')}`;
}

/** Resolves when `p` does; fails the test if it has not after `ms` (the old behaviour: never). */
async function within<T>(what: string, p: Promise<T>, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('event streams and WebSockets', () => {
  // Closed before the service stops (hooks run in the order they are registered).
  after(() => h2?.close());
  const service = useCluster(
    {
      // One worker: the per-user cap counts per worker.
      workers: 1,
      env: {
        JWT_SECRET,
        DEFAULT_SCOPES: 'miner:read,projects:read,projects:write',
        STREAMS_MAX_PER_USER: String(MAX),
        WS_ALLOWED_ORIGINS: ALLOWED_ORIGIN,
      },
    },
    () => {
      ({ cluster, h1 } = service);
      h2 = http2.connect(cluster.http);
    },
  );
  let cluster: RunningCluster;
  let h1: H1Client;
  let h2: http2.ClientHttp2Session;

  async function userWithProject() {
    const user = await newUser(h1, cluster.http);
    const project = await new Api(h1, cluster.http, user.token).createProject();
    return { user, project, path: `/api/sse/projects/${project}` };
  }

  const ws = (token: string, headers: Record<string, string> = {}) =>
    new WebSocket(`ws://127.0.0.1:${cluster.ports.http}/ws?token=${token}`, { headers });

  /** The HTTP status a refused upgrade answered with, or 101 when it opened. */
  const upgradeStatus = (socket: WebSocket) =>
    new Promise<number>((resolve) => {
      socket.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        socket.terminate();
      });
      socket.once('open', () => resolve(101));
      socket.once('error', () => resolve(0));
    });

  describe('when the access token that opened a stream expires', () => {
    for (const transport of ['HTTP/1.1', 'h2c'] as const) {
      it(`then the event stream ends, so the client reconnects with a fresh token (${transport})`, async () => {
        const { user, path } = await userWithProject();
        const headers = bearer(tokenFor(user, 2));
        const stream =
          transport === 'HTTP/1.1'
            ? await SseStream.h1(`${cluster.http}${path}`, headers)
            : await SseStream.h2(h2, path, headers);
        assert.equal(stream.status, 200);
        await within('the stream ending', stream.ended);
        // A fresh token opens it again.
        const again = await SseStream.h1(`${cluster.http}${path}`, bearer(user.token));
        assert.equal(again.status, 200);
        again.close();
      });
    }

    it('then the WebSocket is closed with 4401', async () => {
      const user = await newUser(h1, cluster.http);
      const socket = ws(tokenFor(user, 2));
      assert.equal(await upgradeStatus(socket), 101);
      const code = await within(
        'the socket closing',
        new Promise<number>((resolve) => socket.once('close', (c: number) => resolve(c))),
      );
      assert.equal(code, 4401);
    });
  });

  describe(`when a user holds ${MAX} streams`, () => {
    it('then another event stream (HTTP/1.1 and h2c) or WebSocket answers 429, other users are unaffected, and closing one frees a slot', async () => {
      const { user, path } = await userWithProject();
      const auth = bearer(user.token);
      const open: SseStream[] = [];
      for (let i = 0; i < MAX - 1; i++) {
        const s = await SseStream.h1(`${cluster.http}${path}`, auth);
        assert.equal(s.status, 200);
        open.push(s);
      }
      const socket = ws(user.token);
      assert.equal(await upgradeStatus(socket), 101, 'a WebSocket counts as one of them');

      const refused = await h1.request(`${cluster.http}${path}`, { headers: auth });
      assert.equal(refused.status, 429, refused.text());
      assert.match(String(refused.headers['content-type']), /^application\/problem\+json/);
      assert.equal(refused.json().code, 'TOO_MANY_REQUESTS');
      assert.match(String(refused.headers['retry-after']), /^\d+$/);
      const overH2 = await SseStream.h2(h2, path, auth);
      assert.equal(overH2.status, 429);
      assert.equal(await upgradeStatus(ws(user.token)), 429);

      const other = await userWithProject();
      const theirs = await SseStream.h1(`${cluster.http}${other.path}`, bearer(other.user.token));
      assert.equal(theirs.status, 200, 'another user is not limited');
      theirs.close();

      socket.close();
      await until('a slot is free again', async () => {
        const s = await SseStream.h1(`${cluster.http}${path}`, auth);
        if (s.status === 200) {
          open.push(s);
          return true;
        }
        return undefined;
      });
      for (const s of open) s.close();
    });
  });

  describe('when a browser opens /ws', () => {
    for (const [what, origin, expected] of [
      ['from another site', 'https://evil.example', 403],
      ['with an Origin of "null"', 'null', 403],
      ['from the same origin', 'SAME', 101],
      ['from an origin in WS_ALLOWED_ORIGINS', ALLOWED_ORIGIN, 101],
    ] as const) {
      it(`${what}, then the upgrade answers ${expected}`, async () => {
        const user = await newUser(h1, cluster.http);
        const value = origin === 'SAME' ? `http://127.0.0.1:${cluster.ports.http}` : origin;
        const socket = ws(user.token, { origin: value });
        assert.equal(await upgradeStatus(socket), expected);
        socket.terminate();
      });
    }

    it('without an Origin (not a browser), then it opens', async () => {
      const user = await newUser(h1, cluster.http);
      const socket = ws(user.token);
      assert.equal(await upgradeStatus(socket), 101);
      socket.terminate();
    });
  });
});
