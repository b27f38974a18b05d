import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import pg from 'pg';
import { parseConfig } from '../src/config.ts';
import { authenticate, hasScopes, requireScope } from '../src/http/auth.ts';
import { errorHandler, notFound } from '../src/http/problem.ts';
import { createLogger } from '../src/log.ts';
import { AccessTokens } from '../src/modules/auth/auth.tokens.ts';
import { type RequestInit as ClientInit, H1Client, h2once, type Reply } from './helpers/clients.ts';
import {
  clusterOnly,
  type Env,
  killOnExit,
  type RunningCluster,
  startCluster,
  type TestCluster,
  useCluster,
} from './helpers/cluster.ts';
import { createTestDatabase, type TestDatabase, usePostgresServer } from './helpers/database.ts';
import { until } from './helpers/until.ts';

// A known signing secret, so the tests can verify and forge access tokens.
const JWT_SECRET = randomBytes(36).toString('base64url');
const CHEAP_ARGON2 = { ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' };
const DEFAULT_SCOPES = ['miner:read', 'projects:read', 'projects:write'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Every password and token the tests use; none may ever appear in a log. */
const secrets = new Set<string>([JWT_SECRET]);

let seq = 0;
function uniqueEmail(tag: string): string {
  return `${tag}-${++seq}-${randomBytes(3).toString('hex')}@example.com`;
}
function newPassword(): string {
  const pw = `pw-${randomBytes(15).toString('base64url')}`;
  secrets.add(pw);
  return pw;
}

usePostgresServer();

type Send = (path: string, init?: ClientInit) => Promise<Reply>;

interface TokenPair {
  accessToken: string;
  tokenType: string;
  expiresIn: number;
  refreshToken: string;
}

function postJson(send: Send, path: string, body: unknown, headers: Record<string, string> = {}) {
  return send(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

function remember(res: Reply): Reply {
  if (res.status === 200) {
    const pair = res.json<TokenPair>();
    if (pair.accessToken) secrets.add(pair.accessToken);
    if (pair.refreshToken) secrets.add(pair.refreshToken);
  }
  return res;
}

/** The auth API over one transport. */
function authApi(send: Send) {
  return {
    register: (email: string, password: string, headers: Record<string, string> = {}) =>
      postJson(send, '/api/auth/register', { email, password }, headers),
    login: async (email: string, password: string, headers: Record<string, string> = {}) =>
      remember(await postJson(send, '/api/auth/login', { email, password }, headers)),
    refresh: async (refreshToken: string) =>
      remember(await postJson(send, '/api/auth/refresh', { refreshToken })),
    logout: (refreshToken: string) => postJson(send, '/api/auth/logout', { refreshToken }),
    me: (accessToken: string) =>
      send('/api/auth/me', { headers: { authorization: `Bearer ${accessToken}` } }),
  };
}
type AuthApi = ReturnType<typeof authApi>;

function assertProblem(res: Reply, status: number, code: string) {
  assert.equal(res.status, status, res.text());
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  const body = res.json<{ status: number; code: string; detail: string; requestId: string }>();
  assert.equal(body.status, status);
  assert.equal(body.code, code);
  assert.equal(typeof body.detail, 'string');
  assert.equal(body.requestId, res.headers['x-request-id']);
  return body;
}

function assertValidation(res: Reply, path: string) {
  const body = assertProblem(res, 400, 'VALIDATION_FAILED') as unknown as {
    errors: { in: string; path: string; message: string }[];
  };
  assert.ok(Array.isArray(body.errors), res.text());
  assert.ok(
    body.errors.some((e) => e.in === 'body' && e.path === path),
    `expected an error at body ${path}: ${res.text()}`,
  );
}

function assertRetryAfter(res: Reply, windowSeconds: number) {
  const value = String(res.headers['retry-after']);
  assert.match(value, /^\d+$/, `Retry-After: ${value}`);
  assert.ok(Number(value) >= 1 && Number(value) <= windowSeconds, `Retry-After: ${value}`);
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An HS256 JWT signed here, exactly as RFC 7515 describes (base64url header.payload.signature). */
function signJwt(header: Record<string, unknown>, payload: Record<string, unknown>, key = JWT_SECRET) {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}

function decodeJwt(token: string) {
  const [h, p, s] = token.split('.');
  assert.ok(h && p && s, `three parts: ${token}`);
  const expected = createHmac('sha256', JWT_SECRET).update(`${h}.${p}`).digest('base64url');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>,
    signatureValid: s === expected,
  };
}

async function assertNoSecretsLogged(cluster: RunningCluster, pool: pg.Pool) {
  const hashes = await pool.query<{ password_hash: string }>('SELECT password_hash FROM users');
  const logs = JSON.stringify(cluster.logs);
  assert.ok(cluster.logs.length > 0, 'the service logged something');
  for (const s of secrets) assert.ok(!logs.includes(s), `a password, token or the JWT secret was logged`);
  for (const { password_hash } of hashes.rows) {
    assert.ok(!logs.includes(password_hash), 'a password hash was logged');
    // The salt+hash part alone, in case a log escapes the `$` separators differently.
    assert.ok(!logs.includes(password_hash.split('$').pop() as string), 'a password hash was logged');
  }
}

/** The suite's cluster (signing with JWT_SECRET) and a pool on its database. */
function useAuthCluster(setup: { workers?: number; env: Env }): TestCluster & { readonly pool: pg.Pool } {
  let pool: pg.Pool | undefined;
  // Ended before the database is dropped (hooks run in the order they are registered).
  after(() => pool?.end());
  const service = useCluster({ workers: setup.workers, env: { JWT_SECRET, ...setup.env } }, () => {
    pool = new pg.Pool({ connectionString: service.db.url, max: 2 });
  });
  return {
    get cluster() {
      return service.cluster;
    },
    get db() {
      return service.db;
    },
    get h1() {
      return service.h1;
    },
    url: service.url,
    get pool() {
      if (!pool) throw new Error('the pool exists only once the before hook has run');
      return pool;
    },
  };
}

describe('auth on one cluster (cheap argon2 parameters)', () => {
  const suite = useAuthCluster({
    env: {
      // The per-IP limit has its own test on another cluster; here every request is 127.0.0.1.
      LOGIN_MAX_ATTEMPTS_PER_IP: '100000',
      LOGIN_EMAIL_SLOWDOWN_AFTER: '8',
      LOGIN_EMAIL_SLOWDOWN_MS: '200',
    },
  });
  let pool: pg.Pool;
  let cluster: RunningCluster;
  let h1: H1Client;
  let api: AuthApi;

  before(() => {
    ({ pool, cluster, h1 } = suite);
    api = authApi((p, i) => h1.request(`${cluster.http}${p}`, i));
  });
  // A test replaces the client (its workers died); the suite's own is closed with the cluster.
  after(async () => {
    if (h1 !== suite.h1) await h1.close();
  });

  async function userRow(email: string) {
    const res = await pool.query<{ id: string; email: string; password_hash: string; scopes: string[] }>(
      'SELECT id, email, password_hash, scopes FROM users WHERE email = $1',
      [email],
    );
    return res.rows[0];
  }
  async function counts() {
    const res = await pool.query<{ users: number; limits: number }>(
      `SELECT (SELECT count(*)::int FROM users) AS users,
              (SELECT coalesce(sum(points), 0)::int FROM rate_limits) AS limits`,
    );
    return res.rows[0];
  }

  /** A registered account that has logged in once. */
  async function session(tag: string) {
    const email = uniqueEmail(tag);
    const password = newPassword();
    const reg = await api.register(email, password);
    assert.equal(reg.status, 201, reg.text());
    const res = await api.login(email, password);
    assert.equal(res.status, 200, res.text());
    return { email, password, id: reg.json<{ id: string }>().id, ...res.json<TokenPair>() };
  }

  describe('registration', () => {
    it('registers an account with a trimmed, lower-cased email and the default scopes, storing an argon2id hash', async () => {
      const email = uniqueEmail('Reg.Case');
      const password = newPassword();
      const res = await api.register(`  ${email.toUpperCase()}\t`, password);
      assert.equal(res.status, 201, res.text());
      const body = res.json<{ id: string; email: string; scopes: string[]; createdAt: string }>();
      assert.match(body.id, UUID);
      assert.equal(body.email, email.toLowerCase());
      assert.deepEqual(body.scopes, DEFAULT_SCOPES);
      assert.ok(!Number.isNaN(Date.parse(body.createdAt)), body.createdAt);
      assert.deepEqual(Object.keys(body).sort(), ['createdAt', 'email', 'id', 'scopes']);

      const row = await userRow(email.toLowerCase());
      assert.ok(row, 'a row was stored');
      assert.equal(row.id, body.id);
      assert.ok(row.password_hash.startsWith('$argon2id$v=19$m=1024,t=1,p=1$'), row.password_hash);
      assert.ok(!row.password_hash.includes(password));
    });

    it('when the email is already registered in another case or spacing, then register answers 409 CONFLICT and keeps one row', async () => {
      const email = uniqueEmail('dup');
      assert.equal((await api.register(email, newPassword())).status, 201);
      const again = await api.register(` ${email.toUpperCase()} `, newPassword());
      assertProblem(again, 409, 'CONFLICT');
      const rows = await pool.query('SELECT 1 FROM users WHERE email = $1', [email]);
      assert.equal(rows.rowCount, 1);
    });

    it('accepts passwords of exactly 12 and 256 characters', async () => {
      for (const length of [12, 256]) {
        const password = `P${randomBytes(200).toString('hex')}`.slice(0, length);
        secrets.add(password);
        const email = uniqueEmail(`len${length}`);
        assert.equal((await api.register(email, password)).status, 201);
        assert.equal((await api.login(email, password)).status, 200);
      }
    });

    for (const [what, password] of [
      ['shorter than 12', 'elevenchars'],
      ['longer than 256', 'x'.repeat(257)],
    ] as const) {
      it(`when the password is ${what} characters, then register answers 400 naming /password and creates no row`, async () => {
        const email = uniqueEmail('pwlen');
        const res = await api.register(email, password);
        assertValidation(res, '/password');
        assert.equal(await userRow(email), undefined);
      });
    }
  });

  describe('login and tokens', () => {
    it('when the credentials are right, then login answers an uncacheable Bearer pair with the documented JWT header and claims', async () => {
      const email = uniqueEmail('login');
      const password = newPassword();
      const reg = await api.register(email, password);
      const id = reg.json<{ id: string }>().id;

      // Any case and surrounding spaces name the same account.
      const res = await api.login(`  ${email.toUpperCase()} `, password);
      assert.equal(res.status, 200, res.text());
      assert.equal(res.headers['cache-control'], 'no-store');
      const pair = res.json<TokenPair>();
      assert.equal(pair.tokenType, 'Bearer');
      assert.equal(pair.expiresIn, 900);
      assert.match(pair.refreshToken, /^[A-Za-z0-9_-]{43}$/);

      const jwt = decodeJwt(pair.accessToken);
      assert.ok(jwt.signatureValid, 'HS256 signature made with JWT_SECRET');
      assert.equal(jwt.header.alg, 'HS256');
      assert.equal(jwt.header.kid, 'ferrite-1');
      const c = jwt.payload;
      assert.equal(c.sub, id);
      assert.equal(c.scope, DEFAULT_SCOPES.join(' '));
      assert.equal(c.iss, 'ferrite');
      assert.equal(c.aud, 'ferrite');
      assert.match(String(c.jti), UUID);
      assert.equal(typeof c.iat, 'number');
      assert.equal(Number(c.exp) - Number(c.iat), pair.expiresIn);

      // A second login is a new session: different tokens.
      const second = (await api.login(email, password)).json<TokenPair>();
      assert.notEqual(second.refreshToken, pair.refreshToken);
      assert.notEqual(decodeJwt(second.accessToken).payload.jti, c.jti);
    });

    it('GET /api/auth/me answers the account the access token belongs to', async () => {
      const s = await session('me');
      const res = await api.me(s.accessToken);
      assert.equal(res.status, 200, res.text());
      assert.deepEqual(res.json(), { id: s.id, email: s.email, scopes: DEFAULT_SCOPES });
    });

    it('when the email is unknown or the password is wrong, then login answers the same 401 UNAUTHORIZED', async () => {
      const email = uniqueEmail('wrong');
      await api.register(email, newPassword());
      const wrongPassword = assertProblem(await api.login(email, newPassword()), 401, 'UNAUTHORIZED');
      const unknownEmail = assertProblem(
        await api.login(uniqueEmail('nobody'), newPassword()),
        401,
        'UNAUTHORIZED',
      );
      assert.equal(wrongPassword.detail, unknownEmail.detail);
    });
  });

  describe('refresh tokens', () => {
    it('when a refresh token is presented, then it answers a new uncacheable pair that works', async () => {
      const s = await session('rotate');
      const res = await api.refresh(s.refreshToken);
      assert.equal(res.status, 200, res.text());
      assert.equal(res.headers['cache-control'], 'no-store');
      const next = res.json<TokenPair>();
      assert.equal(next.tokenType, 'Bearer');
      assert.notEqual(next.refreshToken, s.refreshToken);
      assert.notEqual(next.accessToken, s.accessToken);
      assert.equal(decodeJwt(next.accessToken).payload.sub, s.id);
      assert.equal((await api.me(next.accessToken)).status, 200);
      assert.equal((await api.refresh(next.refreshToken)).status, 200, 'the new refresh token works once');
    });

    it('it revokes the family when a used token is presented, so the newest token of that family stops working', async () => {
      const s = await session('reuse');
      const second = (await api.refresh(s.refreshToken)).json<TokenPair>();
      const other = await api.login(s.email, s.password); // a separate family (another device)

      assertProblem(await api.refresh(s.refreshToken), 401, 'UNAUTHORIZED');
      assertProblem(await api.refresh(second.refreshToken), 401, 'UNAUTHORIZED');
      const family = await pool.query<{ family_id: string }>(
        'SELECT family_id FROM refresh_tokens WHERE token_hash = $1',
        [createHash('sha256').update(s.refreshToken).digest()],
      );
      const familyId = family.rows[0]?.family_id;
      const line = await cluster.waitForLog(
        (l) => l.msg === 'refresh token reused; family revoked' && l.familyId === familyId,
      );
      assert.equal(line.level, 'warn');

      // Only that family: the other session still rotates.
      assert.equal((await api.refresh(other.json<TokenPair>().refreshToken)).status, 200);
    });

    it('when the same refresh token is presented five times at once, then exactly one gets a new pair', async () => {
      const s = await session('race');
      const replies = await Promise.all(Array.from({ length: 5 }, () => api.refresh(s.refreshToken)));
      assert.deepEqual(replies.map((r) => r.status).sort(), [200, 401, 401, 401, 401]);
    });

    it('when a refresh token has expired, then refresh answers 401', async () => {
      const s = await session('expired-refresh');
      const hash = createHash('sha256').update(s.refreshToken).digest();
      const updated = await pool.query(
        "UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1",
        [hash],
      );
      assert.equal(updated.rowCount, 1, 'only a SHA-256 of the refresh token is stored');
      assertProblem(await api.refresh(s.refreshToken), 401, 'UNAUTHORIZED');
    });

    it('when a refresh token is unknown, then refresh answers 401; when it is malformed, 400 naming /refreshToken', async () => {
      assertProblem(await api.refresh(randomBytes(32).toString('base64url')), 401, 'UNAUTHORIZED');
      assertValidation(await api.refresh('not a token'), '/refreshToken');
      assertValidation(await postJson(h1Send(), '/api/auth/refresh', {}), '/refreshToken');
    });

    it('when logged out with the newest token, then answers 204 and that token no longer refreshes', async () => {
      const s = await session('logout');
      const res = await api.logout(s.refreshToken);
      assert.equal(res.status, 204);
      assert.equal(res.body.length, 0);
      assertProblem(await api.refresh(s.refreshToken), 401, 'UNAUTHORIZED');
    });

    it('when logged out with an earlier token of a family, then every descendant is revoked too', async () => {
      const s = await session('logout-family');
      const second = (await api.refresh(s.refreshToken)).json<TokenPair>();
      const third = (await api.refresh(second.refreshToken)).json<TokenPair>();
      assert.equal((await api.logout(s.refreshToken)).status, 204);
      assertProblem(await api.refresh(third.refreshToken), 401, 'UNAUTHORIZED');
      const rows = await pool.query<{ revoked: boolean }>(
        `SELECT revoked_at IS NOT NULL AS revoked FROM refresh_tokens
         WHERE user_id = $1`,
        [s.id],
      );
      assert.equal(rows.rowCount, 3);
      assert.ok(rows.rows.every((r) => r.revoked));
    });
  });

  function h1Send(): Send {
    return (p, i) => h1.request(`${cluster.http}${p}`, i);
  }

  describe('access token verification', () => {
    let user: { id: string; email: string };
    const now = () => Math.floor(Date.now() / 1000);
    const header = { alg: 'HS256', typ: 'JWT', kid: 'ferrite-1' };
    const claims = () => ({
      sub: user.id,
      scope: 'miner:read',
      iat: now(),
      exp: now() + 300,
      jti: randomUUID(),
      iss: 'ferrite',
      aud: 'ferrite',
    });
    const without = (key: string) => {
      const c: Record<string, unknown> = claims();
      delete c[key];
      return c;
    };
    const meWith = (authorization: string | undefined) =>
      h1Send()('/api/auth/me', authorization === undefined ? {} : { headers: { authorization } });

    before(async () => {
      const s = await session('verify');
      user = { id: s.id, email: s.email };
    });

    it('accepts a token signed here with the shared secret, so the rejected ones below are meaningful', async () => {
      const res = await meWith(`Bearer ${signJwt(header, claims())}`);
      assert.equal(res.status, 200, res.text());
      assert.equal(res.json().email, user.email);
    });

    it('accepts a token that expired less than the 30 s leeway ago', async () => {
      const res = await meWith(`Bearer ${signJwt(header, { ...claims(), exp: now() - 10 })}`);
      assert.equal(res.status, 200, res.text());
    });

    it('accepts a token whose nbf is now, or less than the 30 s leeway ahead', async () => {
      for (const nbf of [now(), now() + 10]) {
        const res = await meWith(`Bearer ${signJwt(header, { ...claims(), nbf })}`);
        assert.equal(res.status, 200, res.text());
      }
    });

    const rejected: Record<string, () => string | undefined> = {
      'no Authorization header': () => undefined,
      'another scheme (Basic)': () => `Basic ${Buffer.from('a:b').toString('base64')}`,
      'Bearer without a token': () => 'Bearer ',
      'a token that is not a JWT': () => 'Bearer not-a-jwt',
      'a JWT of garbage parts': () => 'Bearer a.b.c',
      'a bad signature (another secret)': () =>
        `Bearer ${signJwt(header, claims(), randomBytes(36).toString('hex'))}`,
      'a payload altered after signing': () => {
        const [h, , s] = signJwt(header, claims()).split('.');
        return `Bearer ${h}.${b64url({ ...claims(), scope: 'admin' })}.${s}`;
      },
      'an expiry older than the leeway': () => `Bearer ${signJwt(header, { ...claims(), exp: now() - 120 })}`,
      'another audience': () => `Bearer ${signJwt(header, { ...claims(), aud: 'someone-else' })}`,
      'another issuer': () => `Bearer ${signJwt(header, { ...claims(), iss: 'someone-else' })}`,
      'an unknown key id': () => `Bearer ${signJwt({ ...header, kid: 'ferrite-0' }, claims())}`,
      'no key id': () => `Bearer ${signJwt({ alg: 'HS256', typ: 'JWT' }, claims())}`,
      'alg "none" and no signature': () =>
        `Bearer ${b64url({ alg: 'none', typ: 'JWT', kid: 'ferrite-1' })}.${b64url(claims())}.`,
      'another algorithm (HS512)': () => {
        const input = `${b64url({ ...header, alg: 'HS512' })}.${b64url(claims())}`;
        return `Bearer ${input}.${createHmac('sha512', JWT_SECRET).update(input).digest('base64url')}`;
      },
      'a token not valid before an hour from now (nbf)': () =>
        `Bearer ${signJwt(header, { ...claims(), nbf: now() + 3600 })}`,
      'an nbf that is not a number': () => `Bearer ${signJwt(header, { ...claims(), nbf: 'soon' })}`,
      'an issue time an hour ahead': () => `Bearer ${signJwt(header, { ...claims(), iat: now() + 3600 })}`,
      'no exp claim': () => `Bearer ${signJwt(header, without('exp'))}`,
      'no sub claim': () => `Bearer ${signJwt(header, without('sub'))}`,
      'no scope claim': () => `Bearer ${signJwt(header, without('scope'))}`,
      'a subject with no account': () => `Bearer ${signJwt(header, { ...claims(), sub: randomUUID() })}`,
      'a subject that is not a uuid': () => `Bearer ${signJwt(header, { ...claims(), sub: 'not-a-uuid' })}`,
    };
    for (const [what, authorization] of Object.entries(rejected)) {
      it(`when /me is called with ${what}, then it answers 401 UNAUTHORIZED`, async () => {
        const res = await meWith(authorization());
        assertProblem(res, 401, 'UNAUTHORIZED');
      });
    }

    it('sends a WWW-Authenticate Bearer challenge with a 401 for a missing token', async () => {
      const res = await meWith(undefined);
      assert.match(String(res.headers['www-authenticate']), /^Bearer /);
    });
  });

  describe('bad input', () => {
    const email = () => uniqueEmail('bad');
    const password = () => newPassword();
    type Case = {
      status: number;
      code: string;
      path?: string;
      body: () => { headers?: Record<string, string>; raw?: string };
    };
    const json = (v: unknown) => ({
      headers: { 'content-type': 'application/json' },
      raw: JSON.stringify(v),
    });
    const cases: Record<string, Case> = {
      'a body that is not valid JSON': {
        status: 400,
        code: 'MALFORMED_JSON',
        body: () => ({
          headers: { 'content-type': 'application/json' },
          raw: `{"email": "${email()}", "password": `,
        }),
      },
      'a form-encoded body': {
        status: 415,
        code: 'UNSUPPORTED_MEDIA_TYPE',
        body: () => ({
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          raw: new URLSearchParams({ email: email(), password: password() }).toString(),
        }),
      },
      'no body at all': { status: 400, code: 'VALIDATION_FAILED', path: '/', body: () => ({}) },
      'an empty JSON object': {
        status: 400,
        code: 'VALIDATION_FAILED',
        path: '/email',
        body: () => json({}),
      },
      'no password': {
        status: 400,
        code: 'VALIDATION_FAILED',
        path: '/password',
        body: () => json({ email: email() }),
      },
      'no email': {
        status: 400,
        code: 'VALIDATION_FAILED',
        path: '/email',
        body: () => json({ password: password() }),
      },
      'a number for the email': {
        status: 400,
        code: 'VALIDATION_FAILED',
        path: '/email',
        body: () => json({ email: 5, password: password() }),
      },
      'a number for the password': {
        status: 400,
        code: 'VALIDATION_FAILED',
        path: '/password',
        body: () => json({ email: email(), password: 1234567890123 }),
      },
      'an unknown field': {
        status: 400,
        code: 'VALIDATION_FAILED',
        path: '/extra',
        body: () => json({ email: email(), password: password(), extra: true }),
      },
      'a 300-character email': {
        status: 400,
        code: 'VALIDATION_FAILED',
        path: '/email',
        body: () => json({ email: `${'a'.repeat(288)}@example.com`, password: password() }),
      },
      'a JSON array': {
        status: 400,
        code: 'VALIDATION_FAILED',
        path: '/',
        body: () => json([email(), password()]),
      },
    };

    for (const endpoint of ['register', 'login'] as const) {
      for (const [what, c] of Object.entries(cases)) {
        it(`when ${endpoint} gets ${what}, then it answers ${c.status} ${c.code}${c.path ? ` naming ${c.path}` : ''} and stores nothing`, async () => {
          const before = await counts();
          const { headers, raw } = c.body();
          const res = await h1Send()(`/api/auth/${endpoint}`, { method: 'POST', headers, body: raw });
          if (c.path) assertValidation(res, c.path);
          else assertProblem(res, c.status, c.code);
          // No account, and no login attempt counted (the request never reached the limiter).
          assert.deepEqual(await counts(), before);
        });
      }
    }

    it('when register gets an email that is not an address, then it answers 400 naming /email and stores nothing', async () => {
      const before = await counts();
      for (const bad of ['not-an-email', 'two@@example.com', 'spaces in@example.com', 'nodot@example']) {
        assertValidation(await api.register(bad, newPassword()), '/email');
      }
      assert.deepEqual(await counts(), before);
    });

    it('when register gets an email containing a NUL character, then it answers 400 naming /email, not 500', async () => {
      const before = await counts();
      const res = await api.register(`nul\u0000${uniqueEmail('nul')}`, newPassword());
      assertValidation(res, '/email');
      assert.deepEqual(await counts(), before);
    });

    it('when login gets an email containing a NUL character, then it answers a 4xx problem, not 500', async () => {
      const res = await api.login(`nul\u0000${uniqueEmail('nul')}`, newPassword());
      // The same credentials schema as register's refuses it before any lookup.
      assertValidation(res, '/email');
    });
  });

  describe('scopes', () => {
    const silent = createLogger('silent', {});
    let server: http.Server;
    let origin: string;

    before(async () => {
      // The product has no scope-protected route yet: a fixture mounts the product's middleware.
      const tokens = new AccessTokens(parseConfig({ JWT_SECRET }));
      const app = express();
      app.disable('x-powered-by');
      app.use((req, res, next) => {
        req.id = randomUUID();
        req.log = silent;
        res.setHeader('X-Request-Id', req.id);
        next();
      });
      app.post('/miner/control', authenticate(tokens), requireScope('miner:control'), (req, res) => {
        res.json({ ok: true, scopes: req.user?.scopes });
      });
      app.use(notFound);
      app.use(errorHandler(false));
      server = http.createServer(app);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });

    after(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    async function tokenWithScopes(scopes: string[] | undefined) {
      const s = await session('scoped');
      if (!scopes) return s.accessToken;
      await pool.query('UPDATE users SET scopes = $2 WHERE id = $1', [s.id, scopes]);
      const res = await api.login(s.email, s.password);
      assert.equal(res.status, 200);
      const access = res.json<TokenPair>().accessToken;
      assert.deepEqual((await api.me(access)).json().scopes, scopes);
      return access;
    }
    const control = (access?: string) =>
      h1.request(`${origin}/miner/control`, {
        method: 'POST',
        headers: access ? { authorization: `Bearer ${access}` } : {},
      });

    it('hasScopes requires every listed scope, and admin implies all', () => {
      assert.equal(hasScopes(DEFAULT_SCOPES, ['miner:control']), false);
      assert.equal(hasScopes(['miner:control'], ['miner:control']), true);
      assert.equal(hasScopes(['miner:control'], ['miner:control', 'trade:write']), false);
      assert.equal(hasScopes(['miner:control', 'trade:write'], ['miner:control', 'trade:write']), true);
      assert.equal(hasScopes(['admin'], ['miner:control', 'trade:write']), true);
      assert.equal(hasScopes([], []), true);
    });

    it('when the user lacks the scope, then requireScope answers 403 FORBIDDEN naming it', async () => {
      const res = await control(await tokenWithScopes(undefined));
      const body = assertProblem(res, 403, 'FORBIDDEN') as unknown as { requiredScopes: string[] };
      assert.deepEqual(body.requiredScopes, ['miner:control']);
    });

    it('when the user holds the scope, then requireScope lets the request through', async () => {
      const res = await control(await tokenWithScopes(['miner:read', 'miner:control']));
      assert.equal(res.status, 200, res.text());
      assert.deepEqual(res.json().scopes, ['miner:read', 'miner:control']);
    });

    it('when the user is admin, then requireScope lets the request through', async () => {
      const res = await control(await tokenWithScopes(['admin']));
      assert.equal(res.status, 200, res.text());
    });

    it('when no token is sent, then the protected route answers 401 before the scope check', async () => {
      assertProblem(await control(), 401, 'UNAUTHORIZED');
    });
  });

  describe('over HTTP/2', () => {
    const transports: Record<string, () => Send> = {
      'h2c (prior knowledge)': () => (p, i) => h2once(cluster.http, p, i),
      'HTTP/2 over TLS': () => (p, i) => h2once(cluster.https, p, i, cluster.ca),
    };
    for (const [name, make] of Object.entries(transports)) {
      it(`registers, logs in, calls /me, refreshes and logs out over ${name}`, async () => {
        const h2 = authApi(make());
        const email = uniqueEmail('h2');
        const password = newPassword();
        assert.equal((await h2.register(email, password)).status, 201);
        const login = await h2.login(email, password);
        assert.equal(login.status, 200, login.text());
        assert.equal(login.headers['cache-control'], 'no-store');
        const pair = login.json<TokenPair>();
        const me = await h2.me(pair.accessToken);
        assert.equal(me.status, 200, me.text());
        assert.equal(me.json().email, email);
        assertProblem(await h2.login(email, newPassword()), 401, 'UNAUTHORIZED');
        const next = await h2.refresh(pair.refreshToken);
        assert.equal(next.status, 200, next.text());
        assert.equal((await h2.logout(next.json<TokenPair>().refreshToken)).status, 204);
        assertProblem(await h2.refresh(next.json<TokenPair>().refreshToken), 401, 'UNAUTHORIZED');
      });
    }
  });

  describe('login limits per (email, client address)', () => {
    const LIMIT = 5;
    const WINDOW = 900;
    let octet = 0;
    /** A client address of its own (the cluster trusts X-Forwarded-For from loopback). */
    const address = () => ({ 'x-forwarded-for': `203.0.113.${++octet}` });

    const transports: Record<string, () => AuthApi> = {
      'HTTP/1.1': () => api,
      h2c: () => authApi((p, i) => h2once(cluster.http, p, i)),
    };
    for (const [name, make] of Object.entries(transports)) {
      it(`when ${LIMIT} wrong passwords come from ${LIMIT} addresses, then the right one from a new address still logs in (${name})`, async () => {
        const client = make();
        const email = uniqueEmail('lockout');
        const password = newPassword();
        assert.equal((await client.register(email, password)).status, 201);
        for (let i = 0; i < LIMIT; i++) {
          assertProblem(await client.login(email, newPassword(), address()), 401, 'UNAUTHORIZED');
        }
        const res = await client.login(email, password, address());
        assert.equal(res.status, 200, res.text());
      });

      it(`when one address has ${LIMIT} failed logins for an email, then only that address gets 429, even with the right password (${name})`, async () => {
        const client = make();
        const email = uniqueEmail('lockout-one');
        const password = newPassword();
        assert.equal((await client.register(email, password)).status, 201);
        const attacker = address();
        for (let i = 0; i < LIMIT; i++) {
          assertProblem(await client.login(email, newPassword(), attacker), 401, 'UNAUTHORIZED');
        }
        const refused = await client.login(email, password, attacker);
        assertProblem(refused, 429, 'TOO_MANY_REQUESTS');
        assertRetryAfter(refused, WINDOW);
        const owner = await client.login(email, password, address());
        assert.equal(owner.status, 200, owner.text());
      });
    }

    it('when many addresses guess one email past LOGIN_EMAIL_SLOWDOWN_AFTER, then attempts are slowed, not refused, and the owner still logs in', async () => {
      const email = uniqueEmail('distributed');
      const password = newPassword();
      assert.equal((await api.register(email, password)).status, 201);
      const SLOWED = 'login slowed: many recent failures for this email';
      const before = cluster.logs.filter((l) => l.msg === SLOWED).length;
      for (let i = 0; i < 10; i++) {
        assertProblem(await api.login(email, newPassword(), address()), 401, 'UNAUTHORIZED');
      }
      const res = await api.login(email, password, address());
      assert.equal(res.status, 200, res.text());
      // Attempts 9, 10 and the owner's 11th were past the threshold.
      await until('three slowed attempts logged', () => {
        const slowed = cluster.logs.filter((l) => l.msg === SLOWED).length;
        return slowed - before >= 3 ? true : undefined;
      });
    });

    it(`when an email has ${LIMIT} failed logins, then the next answers 429 with Retry-After even with the right password`, async () => {
      const email = uniqueEmail('limit');
      const password = newPassword();
      await api.register(email, password);
      for (let i = 0; i < LIMIT; i++) {
        // Every spelling of the email counts against the same account.
        const spelling = i % 2 ? email.toUpperCase() : ` ${email}`;
        assertProblem(await api.login(spelling, newPassword()), 401, 'UNAUTHORIZED');
      }
      const res = await api.login(email, password);
      assertProblem(res, 429, 'TOO_MANY_REQUESTS');
      assertRetryAfter(res, WINDOW);
    });

    it(`when an unknown email has ${LIMIT} failed logins, then it is limited the same way`, async () => {
      const email = uniqueEmail('limit-unknown');
      for (let i = 0; i < LIMIT; i++)
        assertProblem(await api.login(email, newPassword()), 401, 'UNAUTHORIZED');
      assertProblem(await api.login(email, newPassword()), 429, 'TOO_MANY_REQUESTS');
    });

    it('when a login succeeds, then the failures counted for that email are cleared', async () => {
      const email = uniqueEmail('limit-reset');
      const password = newPassword();
      await api.register(email, password);
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < LIMIT - 1; i++) {
          assertProblem(await api.login(email, newPassword()), 401, 'UNAUTHORIZED');
        }
        assert.equal((await api.login(email, password)).status, 200, `round ${round}`);
      }
    });

    it(`when a 252-character email has ${LIMIT} failed logins, then it answers 401 each time and then 429`, async () => {
      const email = `${'l'.repeat(240)}@example.com`;
      const password = newPassword();
      assert.equal((await api.register(email, password)).status, 201, 'a valid address under 254 characters');
      for (let i = 0; i < LIMIT; i++) {
        assertProblem(await api.login(email, newPassword()), 401, 'UNAUTHORIZED');
      }
      assertProblem(await api.login(email, password), 429, 'TOO_MANY_REQUESTS');
    });

    it(`when 20 wrong passwords for one email arrive at once, then no more than ${LIMIT} are checked and the rest get 429`, async () => {
      const email = uniqueEmail('limit-burst');
      const password = newPassword();
      await api.register(email, password);
      const replies = await Promise.all(Array.from({ length: 20 }, () => api.login(email, newPassword())));
      const statuses = replies.map((r) => r.status);
      assert.ok(
        statuses.every((s) => s === 401 || s === 429),
        `only 401 and 429: ${statuses.join(',')}`,
      );
      const checked = statuses.filter((s) => s === 401).length;
      assert.ok(
        checked <= LIMIT,
        `${checked} wrong passwords were checked (limit ${LIMIT}): ${statuses.join(',')}`,
      );
      assertProblem(await api.login(email, password), 429, 'TOO_MANY_REQUESTS');
    });

    it(
      'when both workers are killed after the limit is reached, then their replacements still answer 429',
      clusterOnly,
      async () => {
        const email = uniqueEmail('limit-restart');
        const password = newPassword();
        await api.register(email, password);
        for (let i = 0; i < LIMIT; i++)
          assertProblem(await api.login(email, newPassword()), 401, 'UNAUTHORIZED');
        assertProblem(await api.login(email, password), 429, 'TOO_MANY_REQUESTS');

        const old = cluster.workerPids();
        assert.equal(old.length, 2);
        for (const pid of old) process.kill(pid, 'SIGKILL');
        const fresh = await until('two replacement workers', () => {
          const pids = cluster.workerPids();
          return pids.length === 2 && pids.every((p) => !old.includes(p)) ? pids : undefined;
        });
        for (const pid of fresh) {
          await cluster.waitForLog((l) => l.msg === 'worker ready' && l.pid === pid, 20_000);
        }
        // The old keep-alive connections died with the workers.
        h1 = new H1Client();

        const res = await api.login(email, password);
        assertProblem(res, 429, 'TOO_MANY_REQUESTS');
        assertRetryAfter(res, WINDOW);
        // The replacements do serve logins: another account is not limited.
        const other = await session('after-restart');
        assert.equal((await api.me(other.accessToken)).status, 200);
      },
    );
  });

  it('never writes a password, token, password hash or the signing secret to the log', async () => {
    await assertNoSecretsLogged(cluster, pool);
  });
});

describe('when argon2 parameters change between deployments on one database', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  const clusters: RunningCluster[] = [];
  const h1 = new H1Client();

  before(async () => {
    db = await createTestDatabase();
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
  });
  after(async () => {
    await h1.close();
    for (const c of clusters) await c.stop();
    await pool?.end();
    await db?.drop();
  });

  async function start(env: Record<string, string>) {
    const cluster = await startCluster({ workers: 1, env: { DATABASE_URL: db.url, JWT_SECRET, ...env } });
    killOnExit(cluster);
    clusters.push(cluster);
    return { cluster, api: authApi((p, i) => h1.request(`${cluster.http}${p}`, i)) };
  }
  const storedHash = async (email: string) =>
    (await pool.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE email = $1', [email]))
      .rows[0]?.password_hash;

  it('then the next login rehashes the password with the new parameters and the password still works', async () => {
    const email = uniqueEmail('rehash');
    const password = newPassword();

    const first = await start(CHEAP_ARGON2);
    assert.equal((await first.api.register(email, password)).status, 201);
    const oldHash = await storedHash(email);
    assert.ok(oldHash?.startsWith('$argon2id$v=19$m=1024,t=1,p=1$'), String(oldHash));
    assert.equal(await first.cluster.stop(), 0);

    const second = await start({ ...CHEAP_ARGON2, ARGON2_MEMORY_KIB: '2048' });
    const login = await second.api.login(email, password);
    assert.equal(login.status, 200, login.text());
    const newHash = await storedHash(email);
    assert.ok(newHash?.startsWith('$argon2id$v=19$m=2048,t=1,p=1$'), String(newHash));
    await second.cluster.waitForLog((l) => l.msg === 'password hash upgraded to current argon2 parameters');

    // The upgraded hash verifies, and is not rewritten again.
    const again = await second.api.login(email, password);
    assert.equal(again.status, 200, again.text());
    assert.equal(await storedHash(email), newHash);
    assert.equal((await second.api.me(again.json<TokenPair>().accessToken)).status, 200);
    assertProblem(await second.api.login(email, newPassword()), 401, 'UNAUTHORIZED');

    // Both deployments kept the old and the new hash out of their logs.
    secrets.add(oldHash as string);
    for (const c of clusters) await assertNoSecretsLogged(c, pool);
  });
});

describe('with the default (production) argon2 parameters and a per-IP limit of 3', () => {
  const suite = useAuthCluster({
    env: {
      ARGON2_MEMORY_KIB: undefined,
      ARGON2_TIME_COST: undefined,
      ARGON2_PARALLELISM: undefined,
      LOGIN_MAX_ATTEMPTS_PER_IP: '3',
      REGISTER_MAX_PER_IP: '3',
      // One hash running and one waiting per worker; more are refused.
      ARGON2_QUEUE_MAX: '1',
      // Requests arrive from loopback, so X-Forwarded-For names the client, as behind a local proxy.
      TRUST_PROXY: 'loopback',
    },
  });
  const api = authApi((p, i) => suite.h1.request(suite.url(p), i));

  it('stores an argon2id hash with m=19456,t=2,p=1 and logs in with it', async () => {
    const email = uniqueEmail('prod');
    const password = newPassword();
    assert.equal((await api.register(email, password)).status, 201);
    const row = await suite.pool.query<{ password_hash: string }>(
      'SELECT password_hash FROM users WHERE email = $1',
      [email],
    );
    const hash = row.rows[0]?.password_hash;
    assert.ok(hash?.startsWith('$argon2id$v=19$m=19456,t=2,p=1$'), String(hash));
    const login = await api.login(email, password, { 'x-forwarded-for': '198.51.100.1' });
    assert.equal(login.status, 200, login.text());
    const afterLogin = await suite.pool.query<{ password_hash: string }>(
      'SELECT password_hash FROM users WHERE email = $1',
      [email],
    );
    assert.equal(afterLogin.rows[0]?.password_hash, hash, 'no rehash with unchanged parameters');
  });

  it('when a client IP has spent its 3 attempts, then its next login answers 429 with Retry-After while another IP is admitted', async () => {
    const email = uniqueEmail('ip');
    const password = newPassword();
    assert.equal((await api.register(email, password)).status, 201);
    const ip = { 'x-forwarded-for': '198.51.100.23' };
    // Every attempt counts, whatever the email: three different unknown emails.
    for (let i = 0; i < 3; i++) {
      assertProblem(await api.login(uniqueEmail('ip-probe'), newPassword(), ip), 401, 'UNAUTHORIZED');
    }
    const limited = await api.login(email, password, ip);
    assertProblem(limited, 429, 'TOO_MANY_REQUESTS');
    assertRetryAfter(limited, 900);

    const elsewhere = await api.login(email, password, { 'x-forwarded-for': '198.51.100.24' });
    assert.equal(elsewhere.status, 200, elsewhere.text());
  });

  it('when a client IP has made 3 registration attempts, then its next answers 429 with Retry-After before hashing, while another IP registers', async () => {
    const ip = { 'x-forwarded-for': '198.51.100.50' };
    const first = uniqueEmail('reg-limit');
    assert.equal((await api.register(first, newPassword(), ip)).status, 201);
    // A duplicate counts too: each attempt may cost a hash.
    assertProblem(await api.register(first, newPassword(), ip), 409, 'CONFLICT');
    assert.equal((await api.register(uniqueEmail('reg-limit'), newPassword(), ip)).status, 201);
    const email = uniqueEmail('reg-limit');
    const refused = await api.register(email, newPassword(), ip);
    assertProblem(refused, 429, 'TOO_MANY_REQUESTS');
    assertRetryAfter(refused, 3600);
    const rows = await suite.pool.query('SELECT 1 FROM users WHERE email = $1', [email]);
    assert.equal(rows.rowCount, 0);
    const other = await api.register(email, newPassword(), { 'x-forwarded-for': '198.51.100.51' });
    assert.equal(other.status, 201, other.text());
  });

  let next = 0;
  const freshAddress = () => ({ 'x-forwarded-for': `192.0.2.${++next}` });

  it('when more logins arrive at once than the argon2 queue holds, then the rest answer 429 with Retry-After and later logins work', async () => {
    const email = uniqueEmail('busy');
    const password = newPassword();
    assert.equal((await api.register(email, password, freshAddress())).status, 201);
    const replies = await Promise.all(
      Array.from({ length: 24 }, () => api.login(email, password, freshAddress())),
    );
    const statuses = replies.map((r) => r.status);
    assert.ok(
      statuses.every((s) => s === 200 || s === 429),
      `only 200 and 429: ${statuses.join(',')}`,
    );
    const busy = replies.filter((r) => r.status === 429);
    assert.ok(busy.length > 0, `some logins were refused: ${statuses.join(',')}`);
    assert.ok(busy.length < replies.length, `some logins were served: ${statuses.join(',')}`);
    for (const r of busy) {
      assertProblem(r, 429, 'TOO_MANY_REQUESTS');
      assert.equal(r.headers['retry-after'], '1');
    }
    const later = await api.login(email, password, freshAddress());
    assert.equal(later.status, 200, later.text());
  });

  it('when more registrations arrive at once than the argon2 queue holds, then the rest answer 429 and create no account', async () => {
    const emails = Array.from({ length: 16 }, () => uniqueEmail('busy-reg'));
    const replies = await Promise.all(emails.map((e) => api.register(e, newPassword(), freshAddress())));
    const statuses = replies.map((r) => r.status);
    assert.ok(
      statuses.every((s) => s === 201 || s === 429),
      `only 201 and 429: ${statuses.join(',')}`,
    );
    assert.ok(statuses.includes(429), `some registrations were refused: ${statuses.join(',')}`);
    const rows = await suite.pool.query('SELECT 1 FROM users WHERE email = ANY($1)', [emails]);
    assert.equal(rows.rowCount, statuses.filter((s) => s === 201).length);
  });

  it('never writes a password, token, password hash or the signing secret to the log', async () => {
    await assertNoSecretsLogged(suite.cluster, suite.pool);
  });
});

describe('when registration is disabled', () => {
  const suite = useAuthCluster({ workers: 1, env: { REGISTRATION_ENABLED: 'false' } });

  it('then register answers 403 FORBIDDEN and creates no row, and login still answers 401', async () => {
    const api = authApi((p, i) => suite.h1.request(suite.url(p), i));
    const email = uniqueEmail('closed');
    const password = newPassword();
    assertProblem(await api.register(email, password), 403, 'FORBIDDEN');
    const rows = await suite.pool.query('SELECT count(*)::int AS n FROM users');
    assert.equal(rows.rows[0].n, 0);
    assertProblem(await api.login(email, password), 401, 'UNAUTHORIZED');
  });
});
