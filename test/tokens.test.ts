import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseConfig } from '../src/config.ts';
import { AppError } from '../src/errors.ts';
import { hasScopes } from '../src/http/auth.ts';
import { AccessTokens } from '../src/modules/auth/auth.tokens.ts';

let dir: string;
let eddsa: AccessTokens;
let publicPem: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ferrite-keys-'));
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  publicPem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  await writeFile(path.join(dir, 'private.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  await writeFile(path.join(dir, 'public.pem'), publicPem);
  eddsa = new AccessTokens(
    parseConfig({
      JWT_ALGORITHM: 'EdDSA',
      JWT_PRIVATE_KEY_FILE: path.join(dir, 'private.pem'),
      JWT_PUBLIC_KEY_FILE: path.join(dir, 'public.pem'),
    }),
  );
});

after(() => rm(dir, { recursive: true, force: true }));

function rejects401(fn: () => unknown) {
  assert.throws(fn, (err) => err instanceof AppError && err.status === 401);
}

function hs256(header: object, claims: object, key: string | Buffer): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc(header)}.${enc(claims)}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}

describe('access tokens with EdDSA', () => {
  it('verifies what it issues', async () => {
    const id = randomUUID();
    const token = await eddsa.issue({ id, scopes: ['miner:read', 'node:rpc'] });
    const user = eddsa.verify(token);
    assert.equal(user.id, id);
    assert.deepEqual(user.scopes, ['miner:read', 'node:rpc']);
  });

  it('rejects an HS256 token keyed with the public key (algorithm confusion)', () => {
    const now = Math.floor(Date.now() / 1000);
    const forged = hs256(
      { alg: 'HS256', typ: 'JWT', kid: 'ferrite-1' },
      { sub: 'attacker', scope: 'admin', iat: now, exp: now + 60, jti: 'x', iss: 'ferrite', aud: 'ferrite' },
      publicPem,
    );
    rejects401(() => eddsa.verify(forged));
  });

  it('rejects a token whose payload was altered', async () => {
    const token = await eddsa.issue({ id: randomUUID(), scopes: ['miner:read'] });
    const [h, , s] = token.split('.');
    const payload = Buffer.from(JSON.stringify({ sub: 'user-1', scope: 'admin' })).toString('base64url');
    rejects401(() => eddsa.verify(`${h}.${payload}.${s}`));
  });
});

describe('verified tokens kept per worker', () => {
  const SECRET = 'a-test-secret-that-is-long-enough-for-hs256';
  const hs = () => new AccessTokens(parseConfig({ JWT_SECRET: SECRET }));

  it('refuses a token it verified before once it has expired', async () => {
    const tokens = hs();
    // Valid for about one more second: exp lies 29 s back, inside the 30 s leeway.
    const now = Math.floor(Date.now() / 1000);
    const token = hs256(
      { alg: 'HS256', typ: 'JWT', kid: 'ferrite-1' },
      {
        sub: randomUUID(),
        scope: 'miner:read',
        iat: now - 60,
        exp: now - 29,
        jti: 'j',
        iss: 'ferrite',
        aud: 'ferrite',
      },
      SECRET,
    );
    assert.equal(tokens.verify(token).scopes[0], 'miner:read');
    await sleep(2100);
    assert.throws(
      () => tokens.verify(token),
      (err) => err instanceof AppError && err.status === 401 && /expired/.test(err.message),
    );
  });

  it('hands every request the same frozen user, so no route can change it for the next', async () => {
    const tokens = hs();
    const token = await tokens.issue({ id: randomUUID(), scopes: ['miner:read'] });
    const first = tokens.verify(token);
    assert.equal(tokens.verify(token), first);
    assert.throws(() => first.scopes.push('admin'));
    assert.deepEqual(tokens.verify(token).scopes, ['miner:read']);
  });

  it('still refuses a token differing from a verified one in its signature', async () => {
    const tokens = hs();
    const token = await tokens.issue({ id: randomUUID(), scopes: ['miner:read'] });
    tokens.verify(token);
    const tampered = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
    rejects401(() => tokens.verify(tampered));
  });
});

describe('scopes', () => {
  it('admin implies every scope; others need all they are asked for', () => {
    assert.equal(hasScopes(['admin'], ['miner:control', 'node:rpc']), true);
    assert.equal(hasScopes(['miner:read', 'node:rpc'], ['node:rpc']), true);
    assert.equal(hasScopes(['miner:read'], ['miner:read', 'miner:control']), false);
    assert.equal(hasScopes([], ['miner:read']), false);
  });
});
