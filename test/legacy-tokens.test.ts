// Issue 15: access tokens minted by the service ferrite replaces, accepted alongside ferrite's own
// (LEGACY_JWT_*). Tokens here are signed by hand with node:crypto, as the old service would.
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import pg from 'pg';
import { legacyUserId } from '../src/modules/auth/auth.legacy.ts';
import { bearer, h2once } from './helpers/clients.ts';
import { useCluster } from './helpers/cluster.ts';
import { newUser } from './helpers/workspace.ts';

const LEGACY_SECRET = randomBytes(32).toString('base64url');
const ISSUER = 'https://legacy.example.com';
/** One query against the cluster's database. */
async function sql<R extends pg.QueryResultRow>(url: string, text: string, values: unknown[]) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query<R>(text, values);
  } finally {
    await client.end();
  }
}
const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

type Signer = (data: string) => Buffer;
const hs256 =
  (secret: string): Signer =>
  (data) =>
    createHmac('sha256', secret).update(data).digest();
const rs256 =
  (key: KeyObject): Signer =>
  (data) =>
    sign('sha256', Buffer.from(data), key);

function mint(claims: Record<string, unknown>, signer: Signer, header: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000);
  const head = b64({ alg: 'HS256', typ: 'JWT', ...header });
  const body = b64({ iss: ISSUER, iat: now, exp: now + 600, ...claims });
  return `${head}.${body}.${signer(`${head}.${body}`).toString('base64url')}`;
}

describe('legacy access tokens (HS256, no kid, scopes claim as string or array)', () => {
  const service = useCluster({
    env: {
      LEGACY_JWT_ALGORITHM: 'HS256',
      LEGACY_JWT_SECRET: LEGACY_SECRET,
      LEGACY_JWT_ISSUERS: `${ISSUER},https://old-auth.example.com`,
      LEGACY_JWT_SCOPES_CLAIM: 'scopes',
      LEGACY_JWT_SCOPE_MAP: 'read=projects:read,write=projects:read+projects:write',
    },
  });
  const legacy = (claims: Record<string, unknown>, header?: Record<string, unknown>) =>
    mint(claims, hs256(LEGACY_SECRET), header);
  const get = (token: string, p = '/api/projects') =>
    service.h1.request(service.url(p), { headers: bearer(token) });
  const post = (token: string, body: unknown) =>
    service.h1.request(service.url('/api/projects'), {
      method: 'POST',
      headers: { ...bearer(token), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('accepts a token without kid, a numeric sub and mapped scopes; its user owns what they create', async () => {
    const sub = 4_000 + Math.floor(Math.random() * 1e6);
    const token = legacy({ sub, scopes: 'write' });
    const created = await post(token, { name: 'from the old service' });
    assert.equal(created.status, 201, created.text());
    // The same user with another token (array scopes, string sub) sees it: a stable id.
    const again = legacy({ sub: String(sub), scopes: ['read'] });
    const list = await get(again);
    assert.equal(list.status, 200, list.text());
    const items = list.json<{ items: { id: string; name: string }[] }>().items;
    assert.deepEqual(
      items.map((p) => p.name),
      ['from the old service'],
    );
    // Over HTTP/2 as well.
    const h2 = await h2once(service.cluster.http, `/api/projects/${created.json().id}`, {
      headers: bearer(again),
    });
    assert.equal(h2.status, 200);
    // `read` maps to projects:read only: writing is refused with 403, not 401.
    const refused = await post(again, { name: 'nope' });
    assert.equal(refused.status, 403, refused.text());
    assert.equal(refused.json().code, 'FORBIDDEN');
    // The id is the one `users:import` gives the same legacy user.
    const row = await sql(service.db.url, 'SELECT id FROM users WHERE id = $1', [
      legacyUserId(ISSUER, String(sub)),
    ]);
    assert.equal(row.rowCount, 1);
  });

  it("gives a new legacy user one account when their first requests arrive together, and the account can't log in", async () => {
    const sub = `user-${randomBytes(4).toString('hex')}`;
    const token = legacy({ sub, scopes: 'write' });
    const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => post(token, { name: `p${i}` })));
    for (const r of replies) assert.equal(r.status, 201, r.text());
    const id = legacyUserId(ISSUER, sub);
    const users = await sql<{ email: string }>(service.db.url, 'SELECT email FROM users WHERE id = $1', [id]);
    assert.equal(users.rowCount, 1);
    const login = await service.h1.request(service.url('/api/auth/login'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: users.rows[0]?.email, password: 'any password at all' }),
    });
    assert.equal(login.status, 401, login.text());
  });

  it('accepts the second configured issuer and ferrite’s own tokens alongside', async () => {
    assert.equal(
      (await get(legacy({ sub: 'x1', scopes: 'read', iss: 'https://old-auth.example.com' }))).status,
      200,
    );
    const own = await newUser(service.h1, service.cluster.http);
    assert.equal((await get(own.token)).status, 200);
  });

  it('refuses tokens with a wrong issuer, key, algorithm, expiry, nbf, or without a user', async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, string][] = [
      ['wrong issuer', legacy({ sub: 'a', scopes: 'read', iss: 'https://evil.example.com' })],
      ['wrong secret', mint({ sub: 'a', scopes: 'read' }, hs256('not the secret'))],
      ['expired', legacy({ sub: 'a', scopes: 'read', exp: now - 3600 })],
      ['no exp', legacy({ sub: 'a', scopes: 'read', exp: undefined })],
      ['not yet valid', legacy({ sub: 'a', scopes: 'read', nbf: now + 3600 })],
      ['no sub', legacy({ scopes: 'read' })],
      ['empty sub', legacy({ sub: '', scopes: 'read' })],
      ['object sub', legacy({ sub: { id: 1 }, scopes: 'read' })],
      ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'a', iss: ISSUER, exp: now + 60 })}.`],
      ['garbage', 'not.a.jwt'],
    ];
    for (const [what, token] of cases) {
      const res = await get(token);
      assert.equal(res.status, 401, `${what}: ${res.text()}`);
      assert.equal(res.json().code, 'UNAUTHORIZED', what);
      assert.match(String(res.headers['www-authenticate']), /Bearer/, what);
    }
    // Nothing was provisioned for the refused ones.
    const none = await sql(service.db.url, 'SELECT 1 FROM users WHERE id = $1', [legacyUserId(ISSUER, 'a')]);
    assert.equal(none.rowCount, 0);
  });

  it('drops legacy scopes it does not know, so they grant nothing', async () => {
    const res = await get(legacy({ sub: 'y1', scopes: ['superuser', 'admin-ish'] }));
    assert.equal(res.status, 403, res.text());
  });
});

describe('legacy access tokens (RS256, audience and kid configured)', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const service = useCluster({
    env: async () => {
      const file = path.join(tmpdir(), `legacy-${randomBytes(4).toString('hex')}.pem`);
      await writeFile(file, publicKey.export({ type: 'spki', format: 'pem' }));
      return {
        LEGACY_JWT_ALGORITHM: 'RS256',
        LEGACY_JWT_PUBLIC_KEY_FILE: file,
        LEGACY_JWT_ISSUERS: ISSUER,
        LEGACY_JWT_AUDIENCE: 'legacy-api',
        LEGACY_JWT_KEY_ID: 'legacy-2024',
        LEGACY_JWT_USER_CLAIM: 'uid',
        LEGACY_JWT_SCOPE_MAP: 'read=projects:read',
      };
    },
  });
  const rs = (claims: Record<string, unknown>, header: Record<string, unknown> = {}, key = privateKey) =>
    mint({ aud: 'legacy-api', ...claims }, rs256(key), { alg: 'RS256', ...header });
  const status = async (token: string) =>
    (await service.h1.request(service.url('/api/projects'), { headers: bearer(token) })).status;

  it('accepts a token with the configured kid or none, reading the user from the configured claim', async () => {
    assert.equal(await status(rs({ uid: 7, scope: 'read' }, { kid: 'legacy-2024' })), 200);
    assert.equal(await status(rs({ uid: 7, scope: 'read' })), 200);
  });

  it('refuses another kid, a missing or wrong audience, another key, and an HS256 token', async () => {
    assert.equal(await status(rs({ uid: 7, scope: 'read' }, { kid: 'other' })), 401);
    assert.equal(await status(rs({ uid: 7, scope: 'read', aud: undefined })), 401);
    assert.equal(await status(rs({ uid: 7, scope: 'read', aud: 'another-api' })), 401);
    assert.equal(await status(rs({ uid: 7, scope: 'read' }, {}, other.privateKey)), 401);
    assert.equal(await status(rs({ sub: 'no-uid', scope: 'read' })), 401);
    // An HS256 token "signed" with the public key (the classic confusion attack) is refused.
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    assert.equal(await status(mint({ uid: 7, scope: 'read', aud: 'legacy-api' }, hs256(pem))), 401);
  });
});
