import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { H1Client, h2once } from './helpers/clients.ts';
import { killOnExit, startCluster } from './helpers/cluster.ts';

function processesUnder(dir: string): string[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(dir));
}

describe('without DATABASE_URL', () => {
  it('runs on an embedded Postgres under DATA_DIR and leaves nothing running after SIGTERM', async () => {
    const cluster = await startCluster({ env: { DATABASE_URL: undefined } });
    killOnExit(cluster);
    const workers = cluster.workerPids();
    assert.equal(workers.length, 2);
    assert.ok(
      processesUnder(cluster.dataDir).some((l) => l.includes('postgres')),
      'postgres runs',
    );

    const h1 = new H1Client(cluster.ca);
    try {
      const ready = await h1.request(`${cluster.https}/api/ready`);
      assert.equal(ready.status, 200, ready.text());
      assert.equal((await h2once(cluster.https, '/api/health', {}, cluster.ca)).status, 200);
    } finally {
      await h1.close();
    }

    const dataDir = cluster.dataDir;
    cluster.process.kill('SIGTERM');
    assert.equal(await cluster.exited, 0);
    assert.deepEqual(processesUnder(dataDir), []);
    for (const pid of workers) assert.throws(() => process.kill(pid, 0), 'worker is gone');
    await cluster.stop();
  });
});
