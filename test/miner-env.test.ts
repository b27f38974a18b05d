import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { bearer } from './helpers/clients.ts';
import { useCluster } from './helpers/cluster.ts';
import { until } from './helpers/until.ts';
import { newUser } from './helpers/workspace.ts';

// The miner is a third-party binary: it must not see ferrite's secrets or configuration.
const JWT_SECRET = randomBytes(36).toString('base64url');
const ALLOWED = new Set(['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'MINER_POOL_URL']);

describe('the miner process environment', () => {
  const service = useCluster({
    workers: 1,
    env: {
      JWT_SECRET,
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

  it('when the miner starts, then it sees only PATH, HOME, LANG, LC_ALL, TZ and the passed-through names', async () => {
    const { cluster, h1 } = service;
    const { token } = await newUser(h1, cluster.http);
    const status = await until('the miner ran and exited', async () => {
      const res = await h1.request(`${cluster.http}/api/miner/status`, { headers: bearer(token) });
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
    for (const secret of [JWT_SECRET, service.db.url, cluster.dataDir, '127.0.0.1:9/task']) {
      assert.ok(!everything.includes(secret), 'ferrite configuration leaked into the miner');
    }
  });
});
