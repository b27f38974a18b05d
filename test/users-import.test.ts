// Issue 15: `npm run users:import` brings the replaced service's users with their bcrypt or argon2
// hashes; they log in with their old passwords and are moved to argon2id at that login.
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { hashSync as argon2HashSync } from '@node-rs/argon2';
import pg from 'pg';
import { legacyUserId } from '../src/modules/auth/auth.legacy.ts';
import { runCli } from './helpers/cli.ts';
import { bearer } from './helpers/clients.ts';
import { ROOT, useCluster } from './helpers/cluster.ts';
import { newUser } from './helpers/workspace.ts';

// The binding the service verifies with (native/bcrypt.ts), here making hashes as a legacy
// service would have: cost 4, the given prefix.
const bcrypt = createRequire(import.meta.url)('@node-rs/bcrypt-linux-x64-gnu') as {
  hashSync(password: string, cost: number, salt: null, version: string, rejectLong: boolean): string;
};
const bcryptHashSync = (password: string, _opts: { cost: number }, version = '2b') =>
  bcrypt.hashSync(password, 4, null, version, false);

const CLI = path.join(ROOT, 'src/cli/users-import.ts');
const ISSUER = 'https://legacy.example.com';
const LEGACY_SECRET = randomBytes(32).toString('base64url');
const legacyEnv = {
  LEGACY_JWT_ISSUERS: ISSUER,
  LEGACY_JWT_SCOPE_MAP: 'write=projects:read+projects:write',
};

async function usersImport(args: string[], env: Record<string, string>) {
  const { code, stdout, stderr } = await runCli(CLI, args, env);
  return { code, summary: stdout ? JSON.parse(stdout) : undefined, stderr };
}

async function ndjson(lines: (object | string)[]): Promise<string> {
  const file = path.join(tmpdir(), `users-${randomBytes(4).toString('hex')}.ndjson`);
  await writeFile(file, `${lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n')}\n`);
  return file;
}

async function sql<R extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query<R>(text, values);
  } finally {
    await client.end();
  }
}

function legacyToken(sub: string, scopes: string): string {
  const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const data = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, scope: scopes, iss: ISSUER, exp: now + 600 })}`;
  return `${data}.${createHmac('sha256', LEGACY_SECRET).update(data).digest('base64url')}`;
}

describe('npm run users:import', () => {
  const service = useCluster({
    env: { ...legacyEnv, LEGACY_JWT_ALGORITHM: 'HS256', LEGACY_JWT_SECRET: LEGACY_SECRET },
  });
  const login = (email: string, password: string) =>
    service.h1.request(service.url('/api/auth/login'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    });
  const hashOf = async (email: string) =>
    (
      await sql<{ password_hash: string }>(
        service.db.url,
        'SELECT password_hash FROM users WHERE email = $1',
        [email],
      )
    ).rows[0]?.password_hash;

  it('imports bcrypt and argon2 users, refuses bad lines by number, and their old passwords log in', async () => {
    const tag = randomBytes(3).toString('hex');
    const existing = await newUser(service.h1, service.cluster.http);
    // A legacy user who used the service with a token before being imported: their project
    // stays theirs once they log in with their password.
    const early = `early-${tag}`;
    const made = await service.h1.request(service.url('/api/projects'), {
      method: 'POST',
      headers: { ...bearer(legacyToken(early, 'write')), 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'made with a legacy token' }),
    });
    assert.equal(made.status, 201, made.text());

    const users = {
      bcrypt: { email: `bcrypt-${tag}@example.com`, password: 'old bcrypt password' },
      bcrypt2y: { email: `php-${tag}@example.com`, password: 'old php password 2y' },
      argon2i: { email: `argon-${tag}@example.com`, password: 'old argon2i password' },
      early: { email: `early-${tag}@example.com`, password: 'early user password' },
    };
    const file = await ndjson([
      {
        id: 101,
        email: users.bcrypt.email,
        passwordHash: bcryptHashSync(users.bcrypt.password, { cost: 4 }),
      },
      {
        id: `php-${tag}`,
        email: users.bcrypt2y.email.toUpperCase(),
        password_hash: bcryptHashSync(users.bcrypt2y.password, { cost: 4 }, '2y'),
        scopes: 'write',
      },
      {
        id: `argon-${tag}`,
        email: users.argon2i.email,
        passwordHash: argon2HashSync(users.argon2i.password, { algorithm: 1 }),
        scopes: ['write', 'unknown-scope'],
      },
      {
        id: early,
        email: users.early.email,
        passwordHash: bcryptHashSync(users.early.password, { cost: 4 }),
      },
      '{not json',
      { id: 'no-email', passwordHash: bcryptHashSync('x', { cost: 4 }) },
      { id: 'md5', email: `md5-${tag}@example.com`, passwordHash: '5f4dcc3b5aa765d61d8327deb882cf99' },
      { id: 'taken', email: existing.email, passwordHash: bcryptHashSync('x', { cost: 4 }) },
      '',
      { email: `noid-${tag}@example.com`, passwordHash: bcryptHashSync('x', { cost: 4 }) },
    ]);
    const run = await usersImport([file], { ...legacyEnv, DATABASE_URL: service.db.url });
    assert.equal(run.code, 1, run.stderr);
    assert.deepEqual(run.summary, {
      dryRun: false,
      issuer: ISSUER,
      imported: 3,
      completed: 1,
      present: 0,
      refused: 5,
    });
    const refusedLines = [...run.stderr.matchAll(/^line (\d+): /gm)].map((m) => Number(m[1]));
    assert.deepEqual(refusedLines, [5, 6, 7, 8, 10]);
    assert.match(run.stderr, /line 6: \/email/);
    assert.match(run.stderr, /line 7: \/passwordHash/);
    assert.match(run.stderr, /line 8: another account has the email/);

    // Ids are the ones legacy tokens map to; scopes mapped, unknown ones dropped.
    const row = await sql<{ id: string; scopes: string[] }>(
      service.db.url,
      'SELECT id, scopes FROM users WHERE email = $1',
      [users.argon2i.email],
    );
    assert.equal(row.rows[0]?.id, legacyUserId(ISSUER, `argon-${tag}`));
    assert.deepEqual(row.rows[0]?.scopes, ['projects:read', 'projects:write']);

    for (const { email, password } of Object.values(users)) {
      assert.equal((await login(email, 'not the password at all')).status, 401, email);
      assert.doesNotMatch(
        String(await hashOf(email)),
        /^\$argon2id\$/,
        `${email}: not upgraded by a failed login`,
      );
      const ok = await login(email, password);
      assert.equal(ok.status, 200, `${email}: ${ok.text()}`);
      assert.match(String(await hashOf(email)), /^\$argon2id\$v=19\$m=1024,t=1,p=1\$/, `${email}: upgraded`);
      assert.equal((await login(email, password)).status, 200, `${email}: logs in after the upgrade`);
    }
    // The early user's project is theirs under their password login too.
    const token = (await login(users.early.email, users.early.password)).json().accessToken as string;
    const list = await service.h1.request(service.url('/api/projects'), { headers: bearer(token) });
    assert.deepEqual(
      list.json<{ items: { name: string }[] }>().items.map((p) => p.name),
      ['made with a legacy token'],
    );
    // The account an existing email belongs to is untouched.
    assert.match(String(await hashOf(existing.email)), /^\$argon2id\$/);
    assert.equal((await login(existing.email, existing.password)).status, 200);

    // Again: nothing changes, no password is put back, exit 0 for the valid lines.
    const valid = await ndjson([
      { id: 101, email: users.bcrypt.email, passwordHash: bcryptHashSync('another password', { cost: 4 }) },
    ]);
    const again = await usersImport([valid], { ...legacyEnv, DATABASE_URL: service.db.url });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.summary.present, 1);
    assert.equal((await login(users.bcrypt.email, users.bcrypt.password)).status, 200);
  });

  it('--dry-run checks every line and writes nothing; it needs an issuer', async () => {
    const email = `dry-${randomBytes(3).toString('hex')}@example.com`;
    const file = await ndjson([{ id: 'dry', email, passwordHash: bcryptHashSync('x', { cost: 4 }) }, '[]']);
    const dry = await usersImport([file, '--dry-run'], { ...legacyEnv, DATABASE_URL: service.db.url });
    assert.equal(dry.code, 1);
    assert.equal(dry.summary.refused, 1);
    assert.match(dry.stderr, /line 2: \/: must be an object/);
    assert.equal((await sql(service.db.url, 'SELECT 1 FROM users WHERE email = $1', [email])).rowCount, 0);

    const noIssuer = await usersImport([file, '--dry-run'], {
      DATABASE_URL: service.db.url,
      LEGACY_JWT_ISSUERS: '',
    });
    assert.match(noIssuer.stderr, /line 1: \/issuer/);
    const withFlag = await usersImport([file, '--dry-run', '--issuer', 'https://other.example.com'], {
      DATABASE_URL: service.db.url,
      LEGACY_JWT_ISSUERS: '',
    });
    assert.doesNotMatch(withFlag.stderr, /line 1/);
  });
});
