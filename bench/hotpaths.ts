// `npm run bench:hotpaths`: each hot path that runs in a Rust addon beside the JavaScript it
// replaced, in one process, one run: operations per second, and how long the event loop was
// blocked while they ran (max delay, from monitorEventLoopDelay). `--readme` writes the table into
// docs/performance.md (between hotpaths:start and hotpaths:end) and bench/baselines/hotpaths.json.
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { argon2id, argon2Verify } from 'hash-wasm';
import { jwtVerify, SignJWT } from 'jose';
import { hashPassword, verifyPassword } from '../src/native/argon2.ts';
import { signJwt, verifyJwtSync } from '../src/native/jwt.ts';
import { contentHash } from '../src/native/xxhash.ts';
import { PERFORMANCE_DOC, writeSections } from './lib/doc-section.ts';

const { values } = parseArgs({
  options: { readme: { type: 'boolean', default: false }, quick: { type: 'boolean', default: false } },
});
const seconds = values.quick ? 1 : 4;
const ROOT = path.resolve(import.meta.dirname, '..');
const say = (line: string) => process.stdout.write(`${line}\n`);

interface Measured {
  opsPerSec: number;
  loopBlockedMaxMs: number;
}

/** Runs `op` back to back for the duration (with `parallel` in flight) and watches the loop. */
async function measure(op: () => unknown, parallel = 1): Promise<Measured> {
  for (let i = 0; i < 3; i++) await op(); // warm-up
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const until = performance.now() + seconds * 1000;
  let n = 0;
  let yielded = performance.now();
  const lane = async () => {
    while (performance.now() < until) {
      await op();
      n++;
      // Let timers run at least every millisecond, as a server's loop would between requests, so
      // the monitor sees how long one operation holds the loop (not how long the whole run did).
      if (performance.now() - yielded > 1) {
        await new Promise((r) => setImmediate(r));
        yielded = performance.now();
      }
    }
  };
  const began = performance.now();
  await Promise.all(Array.from({ length: parallel }, lane));
  const elapsed = (performance.now() - began) / 1000;
  h.disable();
  return { opsPerSec: n / elapsed, loopBlockedMaxMs: h.percentile(99) / 1e6 };
}

const params = { memoryCost: 19_456, timeCost: 2, parallelism: 1 };
const password = 'correct horse battery staple';
const secret = randomBytes(48).toString('base64url');
const claims = {
  sub: '3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f',
  scope: 'miner:read miner:control',
  iss: 'ferrite',
  aud: 'ferrite',
  jti: 'x',
  iat: Math.floor(Date.now() / 1000),
  exp: Math.floor(Date.now() / 1000) + 900,
};
const statsBody = Buffer.from(JSON.stringify({ hashrate: 123.4, gpus: Array(8).fill({ t: 61, w: 180 }) }));
const megabyte = randomBytes(1 << 20);

const rustPhc = await hashPassword(password, params);
const wasmPhc = await argon2id({
  password,
  salt: randomBytes(16),
  iterations: params.timeCost,
  memorySize: params.memoryCost,
  parallelism: params.parallelism,
  hashLength: 32,
  outputType: 'encoded',
});
const rustToken = await signJwt(claims, secret, { algorithm: 'HS256', keyId: 'ferrite-1' });
const joseKey = new TextEncoder().encode(secret);
const joseToken = await new SignJWT(claims)
  .setProtectedHeader({ alg: 'HS256', kid: 'ferrite-1' })
  .sign(joseKey);
const validation = { algorithms: ['HS256' as const], iss: ['ferrite'], aud: ['ferrite'], validateExp: true };
const sha1Etag = (b: Buffer) => createHash('sha1').update(b).digest('base64');

const rows: { path: string; before: string; after: string; b: Measured; a: Measured }[] = [];
async function row(p: string, before: string, b: () => unknown, after: string, a: () => unknown, par = 1) {
  say(`${p}: ${before} …`);
  const mb = await measure(b, par);
  say(`${p}: ${after} …`);
  const ma = await measure(a, par);
  rows.push({ path: p, before, after, b: mb, a: ma });
}

await row(
  'argon2id verify (19 MiB, t=2)',
  'hash-wasm (WASM, on the event loop)',
  () => argon2Verify({ password, hash: wasmPhc }),
  '@node-rs/argon2 (Rust, libuv pool)',
  () => verifyPassword(rustPhc, password),
);
await row(
  'JWT HS256 verify',
  'jose',
  () => jwtVerify(joseToken, joseKey, { issuer: 'ferrite', audience: 'ferrite' }),
  '@node-rs/jsonwebtoken',
  () => verifyJwtSync(rustToken, secret, validation),
);
await row(
  `ETag of a ${statsBody.length}-byte JSON body`,
  "SHA-1 (express's default)",
  () => sha1Etag(statsBody),
  'XXH64 (@node-rs/xxhash)',
  () => contentHash(statsBody),
);
await row(
  'ETag of a 1 MiB file',
  "SHA-1 (express's default)",
  () => sha1Etag(megabyte),
  'XXH64 (@node-rs/xxhash)',
  () => contentHash(megabyte),
);

const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));
const markdown = [
  `Measured ${new Date().toISOString().slice(0, 10)} on ${availableParallelism()} cores, Node ${process.version}, by \`npm run bench:hotpaths\` (${seconds} s each, one process, one after the other).`,
  '',
  '| hot path | before | ops/s | loop delay p99 | after | ops/s | loop delay p99 | speed-up |',
  '|---|---|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.path} | ${r.before} | ${fmt(r.b.opsPerSec)} | ${r.b.loopBlockedMaxMs.toFixed(1)} ms | ${r.after} | ${fmt(r.a.opsPerSec)} | ${r.a.loopBlockedMaxMs.toFixed(1)} ms | ${(r.a.opsPerSec / r.b.opsPerSec).toFixed(1)}× |`,
  ),
].join('\n');
say(`\n${markdown}`);
if (values.readme) {
  await writeSections(PERFORMANCE_DOC, { hotpaths: markdown });
  await writeFile(
    path.join(ROOT, 'bench/baselines/hotpaths.json'),
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, seconds, rows }, null, 2)}\n`,
  );
  say(`${path.relative(ROOT, PERFORMANCE_DOC)} hot-path section and bench/baselines/hotpaths.json updated`);
}
