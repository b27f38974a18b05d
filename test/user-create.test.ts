import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import pg from 'pg';
import { runCli } from './helpers/cli.ts';
import { bearer } from './helpers/clients.ts';
import { ROOT, withCluster } from './helpers/cluster.ts';
import { useTestDatabase } from './helpers/database.ts';

const CLI = path.join(ROOT, 'src/cli/user-create.ts');
const cheap = { ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' };

function userCreate(args: string[], password: string, env: Record<string, string | undefined>) {
  return runCli(CLI, args, { ...cheap, ...env }, `${password}\n`);
}

const db = useTestDatabase();

describe('npm run user:create', () => {
  it('creates an account with the given scopes that can log in to the running service', async () => {
    const created = await userCreate(
      ['--email', ' Root@Example.com ', '--scopes', 'admin,miner:read'],
      'operator password 1',
      { DATABASE_URL: db.url },
    );
    assert.equal(created.code, 0, created.stderr);
    const user = JSON.parse(created.stdout);
    assert.equal(user.email, 'root@example.com');
    assert.deepEqual(user.scopes, ['admin', 'miner:read']);

    const again = await userCreate(['--email', 'root@example.com'], 'operator password 1', {
      DATABASE_URL: db.url,
    });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already exists/);

    await withCluster({ env: { DATABASE_URL: db.url } }, async (cluster, h1) => {
      const login = await h1.request(`${cluster.http}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'root@example.com', password: 'operator password 1' }),
      });
      assert.equal(login.status, 200, login.text());
      const me = await h1.request(`${cluster.http}/api/auth/me`, {
        headers: bearer(login.json().accessToken as string),
      });
      assert.deepEqual(me.json().scopes, ['admin', 'miner:read']);
    });
  });

  it('refuses unknown scopes, bad emails and short passwords without creating anything', async () => {
    const env = { DATABASE_URL: db.url };
    const scopes = await userCreate(
      ['--email', 'x@example.com', '--scopes', 'root'],
      'long enough password',
      env,
    );
    assert.equal(scopes.code, 1);
    assert.match(scopes.stderr, /unknown scopes: root/);
    const email = await userCreate(['--email', 'not-an-email'], 'long enough password', env);
    assert.equal(email.code, 1);
    assert.match(email.stderr, /--email/);
    const short = await userCreate(['--email', 'x@example.com'], 'short', env);
    assert.equal(short.code, 1);
    assert.match(short.stderr, /12 to 256/);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const rows = await client.query("SELECT 1 FROM users WHERE email IN ('x@example.com', 'not-an-email')");
    await client.end();
    assert.equal(rows.rowCount, 0);
  });

  it('uses the embedded database under DATA_DIR when DATABASE_URL is unset', async () => {
    await withCluster({ env: { DATABASE_URL: undefined } }, async (cluster, h1) => {
      const created = await userCreate(
        ['--email', 'embedded@example.com', '--scopes', 'miner:control'],
        'embedded password',
        { DATABASE_URL: undefined, DATA_DIR: cluster.dataDir },
      );
      assert.equal(created.code, 0, created.stderr);
      const login = await h1.request(`${cluster.http}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'embedded@example.com', password: 'embedded password' }),
      });
      assert.equal(login.status, 200, login.text());
    });
  });
});
