// Issue 16: where a prebuilt Rust addon is missing for the platform, ferrite runs on its fallback
// (JWT on node:crypto; argon2id, bcrypt and XXH64 in hash-wasm) and says so once. The fallbacks
// agree with the addons both ways; NATIVE_ADDONS=off forces them (`npm test` also runs the auth
// suite that way: test/run.ts, FALLBACK_FILES).
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { argon2id, argon2Verify, bcrypt, bcryptVerify, createXXHash64 } from 'hash-wasm';
import { hashPassword, verifyPassword } from '../src/native/argon2.ts';
import * as fallback from '../src/native/jwt.fallback.ts';
import * as native from '../src/native/jwt.ts';
import { contentHash } from '../src/native/xxhash.ts';
import { bearer } from './helpers/clients.ts';
import { PROCESS_MODEL, useCluster } from './helpers/cluster.ts';
import { Api, newUser } from './helpers/workspace.ts';

const rsa = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});
const ed = generateKeyPairSync('ed25519', {
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});
const KEYS = {
  HS256: {
    sign: 'a shared secret of enough length 0123456789',
    verify: 'a shared secret of enough length 0123456789',
  },
  RS256: { sign: rsa.privateKey, verify: rsa.publicKey },
  EdDSA: { sign: ed.privateKey, verify: ed.publicKey },
} as const;
const now = () => Math.floor(Date.now() / 1000);
const validation = (alg: native.JwtAlgorithm) => ({
  algorithms: [alg],
  iss: ['https://issuer.example'],
  aud: ['ferrite'],
  leeway: 30,
  validateExp: true,
  validateNbf: true,
  requiredSpecClaims: ['exp', 'sub', 'iss', 'aud'],
});
const claims = (extra: Record<string, unknown> = {}) => ({
  sub: 'u1',
  iss: 'https://issuer.example',
  aud: 'ferrite',
  exp: now() + 600,
  ...extra,
});
const errorOf = (fn: () => unknown) => {
  try {
    fn();
    return 'accepted';
  } catch (err) {
    return (err as Error).message;
  }
};

describe('JWT on node:crypto agrees with the Rust addon', () => {
  for (const alg of ['HS256', 'RS256', 'EdDSA'] as const) {
    it(`${alg}: each verifies the other's tokens and refuses the same bad ones`, async () => {
      const key = KEYS[alg];
      const header = { algorithm: alg, keyId: 'k1' };
      const byRust = await native.signJwt(claims(), key.sign, header);
      const byNode = fallback.signSync(claims(), key.sign, header);
      assert.equal(fallback.verifySync(byRust, key.verify, validation(alg)).sub, 'u1');
      assert.equal(native.verifyJwtSync(byNode, key.verify, validation(alg)).sub, 'u1');
      assert.deepEqual(fallback.decodeHeader(byRust), native.decodeHeader(byRust));
      const bad: [string, string][] = [
        ['expired', fallback.signSync(claims({ exp: now() - 120 }), key.sign, header)],
        ['not yet valid', fallback.signSync(claims({ nbf: now() + 120 }), key.sign, header)],
        ['another issuer', fallback.signSync(claims({ iss: 'https://other.example' }), key.sign, header)],
        ['another audience', fallback.signSync(claims({ aud: 'other' }), key.sign, header)],
        ['no sub', fallback.signSync({ ...claims(), sub: undefined }, key.sign, header)],
        [
          'tampered',
          `${byRust.slice(0, byRust.lastIndexOf('.') - 4)}AAAA${byRust.slice(byRust.lastIndexOf('.'))}`,
        ],
        ['a bad signature', `${byRust.slice(0, -4)}AAAA`],
        ['malformed', 'not.a.token'],
      ];
      for (const [what, token] of bad) {
        const theirs = errorOf(() => native.verifyJwtSync(token, key.verify, validation(alg)));
        const ours = errorOf(() => fallback.verifySync(token, key.verify, validation(alg)));
        assert.notEqual(theirs, 'accepted', `${what}: the addon refuses it`);
        assert.notEqual(ours, 'accepted', `${what}: the fallback refuses it too`);
        if (what === 'expired') assert.equal(ours, theirs, 'ExpiredSignature, which callers read');
      }
    });
  }

  it('refuses a token of another algorithm than the one asked for', () => {
    const hs = fallback.signSync(claims(), 'secret', { algorithm: 'HS256' });
    assert.equal(
      errorOf(() => fallback.verifySync(hs, KEYS.RS256.verify, validation('RS256'))),
      'InvalidAlgorithm',
    );
  });
});

describe('hash-wasm agrees with the Rust addons', () => {
  it('argon2id hashes verify both ways, bcrypt hashes verify, XXH64 digests are equal', async () => {
    const params = { memoryCost: 1024, timeCost: 1, parallelism: 1 };
    const rust = await hashPassword('correct horse', params);
    assert.equal(await argon2Verify({ password: 'correct horse', hash: rust }), true);
    const wasm = await argon2id({
      password: 'correct horse',
      salt: Buffer.alloc(16, 7),
      parallelism: 1,
      iterations: 1,
      memorySize: 1024,
      hashLength: 32,
      outputType: 'encoded',
    });
    assert.equal(await verifyPassword(wasm, 'correct horse'), true);
    assert.equal(await verifyPassword(wasm, 'wrong'), false);
    const b = await bcrypt({
      password: 'old',
      salt: Buffer.alloc(16, 3),
      costFactor: 4,
      outputType: 'encoded',
    });
    assert.equal(await bcryptVerify({ password: 'old', hash: b }), true);
    assert.equal(await verifyPassword(b, 'old'), true, 'the addon reads what hash-wasm wrote');
    const xx = await createXXHash64();
    for (const data of ['', 'hello world', 'é'.repeat(1000)]) {
      xx.init();
      xx.update(data);
      assert.equal(contentHash(data), xx.digest('hex'));
    }
  });
});

describe('the service with NATIVE_ADDONS=off', () => {
  const service = useCluster({ env: { NATIVE_ADDONS: 'off' } });

  it('registers, logs in, authenticates and hashes files on the fallbacks, and says so once', async () => {
    const { h1, cluster } = service;
    const user = await newUser(h1, cluster.http);
    const me = await h1.request(service.url('/api/auth/me'), { headers: bearer(user.token) });
    assert.equal(me.status, 200, me.text());
    const api = new Api(h1, cluster.http, user.token);
    const projectId = await api.createProject();
    const put = await api.put(projectId, 'a.txt', 'hello world');
    assert.equal(put.status, 201);
    const got = await api.get(projectId, 'a.txt');
    assert.equal(got.headers.etag, '"45ab6734b21e6968"', "XXH64 of the content, as the addon's");
    // The worker logs it right after it is ready; its log may reach the pipe after the
    // primary's "ferrite ready" (each process flushes its own), so wait for it.
    await cluster.waitForLog((l) => l.msg?.startsWith('prebuilt addons not used here'));
    const warnings = cluster.logs.filter((l) => l.msg?.startsWith('prebuilt addons not used here'));
    assert.equal(warnings.length, 1, `one warning for the whole service (${PROCESS_MODEL})`);
    const fallbacks = (warnings[0] as unknown as { fallbacks: Record<string, string> }).fallbacks;
    assert.deepEqual(Object.keys(fallbacks).sort(), ['argon2', 'jsonwebtoken', 'xxhash']);
  });
});
