import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { H1Client } from './helpers/clients.ts';
import { killOnExit, type RunningCluster, startCluster } from './helpers/cluster.ts';
import { useTestDatabase } from './helpers/database.ts';
import { until } from './helpers/until.ts';

// The miner is a third-party binary: it must not see ferrite's secrets or configuration.
const JWT_SECRET = randomBytes(36).toString('base64url');
const ALLOWED = new Set(['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'MINER_POOL_URL']);

const db = useTestDatabase();

describe('the miner process environment', () => {
  let cluster: RunningCluster;
  let h1: H1Client;

  before(async () => {
    cluster = await startCluster({
      workers: 1,
      env: {
        DATABASE_URL: db.url,
        JWT_SECRET,
        ARGON2_MEMORY_KIB: '1024',
        ARGON2_TIME_COST: '1',
        // A real child that prints its whole environment, one NAME=value per line, and exits.
        MINER_CMD: '/usr/bin/env',
        MINER_ARGS: '',
        MINER_AUTOSTART: 'true',
        MINER_RESTART: 'never',
        MINER_ENV_PASSTHROUGH: 'MINER_POOL_URL, NOT_SET_ANYWHERE',
        MINER_POOL_URL: 'stratum+tcp://pool.example:3333',
        TASK_UPSTREAM_URL: 'http://127.0.0.1:9/task',
        LANG: 'C.UTF-8',
      },
    });
    killOnExit(cluster);
    h1 = new H1Client();
  });

  after(async () => {
    await h1?.close();
    assert.equal(await cluster?.stop(), 0);
  });

  it('when the miner starts, then it sees only PATH, HOME, LANG, LC_ALL, TZ and the passed-through names', async () => {
    const post = (p: string, body: unknown) =>
      h1.request(`${cluster.http}${p}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const account = {
      email: `env-${randomBytes(4).toString('hex')}@example.com`,
      password: 'miner env password',
    };
    assert.equal((await post('/api/auth/register', account)).status, 201);
    const token = (await post('/api/auth/login', account)).json<{ accessToken: string }>().accessToken;

    const status = await until('the miner ran and exited', async () => {
      const res = await h1.request(`${cluster.http}/api/miner/status`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(res.status, 200, res.text());
      const body = res.json<{ lastExit: unknown; recentLog: string[] }>();
      return body.lastExit && body.recentLog.length > 0 ? body : undefined;
    });

    const names = status.recentLog.map((line) => line.slice(0, line.indexOf('=')));
    for (const name of names) assert.ok(ALLOWED.has(name), `the miner saw ${name}`);
    assert.ok(names.includes('PATH'), names.join(','));
    assert.ok(status.recentLog.includes('LANG=C.UTF-8'), status.recentLog.join('\n'));
    assert.ok(
      status.recentLog.includes('MINER_POOL_URL=stratum+tcp://pool.example:3333'),
      status.recentLog.join('\n'),
    );
    const everything = status.recentLog.join('\n');
    for (const secret of [JWT_SECRET, db.url, cluster.dataDir, '127.0.0.1:9/task']) {
      assert.ok(!everything.includes(secret), 'ferrite configuration leaked into the miner');
    }
  });
});
