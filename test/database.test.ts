import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { migrate } from '../src/db/migrate.ts';
import { Database } from '../src/db/pool.ts';
import { AppError } from '../src/errors.ts';
import { createLogger } from '../src/log.ts';
import { type H1Client, h2once } from './helpers/clients.ts';
import { type RunningCluster, useCluster } from './helpers/cluster.ts';
import { createTestDatabase, type TestDatabase, usePostgresServer } from './helpers/database.ts';
import { TcpProxy } from './helpers/tcp-proxy.ts';
import { until } from './helpers/until.ts';

const silent = createLogger('silent', {});

usePostgresServer();

describe('when Postgres becomes unreachable', () => {
  let proxy: TcpProxy;
  const service = useCluster(
    {
      // The service reaches Postgres through a proxy the test can cut.
      env: async (db) => {
        proxy = new TcpProxy(db.url);
        await proxy.start();
        return {
          DATABASE_URL: proxy.urlFor(db.url),
          PG_CONNECT_TIMEOUT_MS: '1000',
          DB_RETRY_AFTER_SECONDS: '3',
        };
      },
    },
    () => {
      ({ cluster, h1 } = service);
    },
  );
  let cluster: RunningCluster;
  let h1: H1Client;
  after(() => proxy?.cut());

  it('answers requests that need it with 503 problem+json and Retry-After, then recovers', async () => {
    assert.equal((await h1.request(`${cluster.http}/api/ready`)).status, 200);
    await proxy.cut();

    for (const send of [
      () => h1.request(`${cluster.http}/api/ready`),
      () => h2once(cluster.http, '/api/ready'),
    ]) {
      const res = await send();
      assert.equal(res.status, 503, res.text());
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
      assert.equal(res.headers['retry-after'], '3');
      const body = res.json<{ code: string; checks: { database: { ok: boolean } } }>();
      assert.equal(body.code, 'DATABASE_UNAVAILABLE');
      assert.equal(body.checks.database.ok, false);
    }
    // Liveness does not depend on the database.
    assert.equal((await h1.request(`${cluster.http}/api/health`)).status, 200);

    await proxy.restore();
    await until('the service to recover by itself', async () => {
      const res = await h1.request(`${cluster.http}/api/ready`, { headers: { connection: 'close' } });
      return res.status === 200 ? true : undefined;
    });
    assert.ok(cluster.workerPids().length === 2, 'no worker crashed');
  });
});

describe('when every pooled client is in use', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(() => db.drop());

  it('answers 503 DATABASE_BUSY with Retry-After and does not take the database for down', async () => {
    const pool = new Database(
      {
        connectionString: db.url,
        max: 1,
        connectTimeoutMs: 200,
        idleTimeoutMs: 1000,
        statementTimeoutMs: 5000,
        retryAfterSeconds: 2,
        applicationName: 'busy-test',
      },
      silent,
    );
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let acquired: () => void = () => undefined;
    const holding = new Promise<void>((resolve) => {
      acquired = resolve;
    });
    // The one pooled connection is taken until `release`.
    const holder = pool.transaction(() => {
      acquired();
      return held;
    });
    try {
      await holding;
      await assert.rejects(pool.query('SELECT 1'), (err: unknown) => {
        assert.ok(err instanceof AppError);
        assert.equal(err.code, 'DATABASE_BUSY');
        assert.equal(err.status, 503);
        assert.equal(err.headers?.['Retry-After'], '2');
        return true;
      });
      assert.equal(pool.available, true, 'a busy pool is not a database outage');
      release();
      await holder;
      assert.equal((await pool.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one, 1);
    } finally {
      release();
      await holder.catch(() => undefined);
      await pool.close();
    }
  });
});

describe('migrations', () => {
  let db: TestDatabase;
  let dir: string;

  before(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(path.join(tmpdir(), 'ferrite-migrations-'));
    await writeFile(
      path.join(dir, '0001_items.sql'),
      'CREATE TABLE items (id serial PRIMARY KEY, name text);',
    );
    await writeFile(path.join(dir, '0002_seed.sql'), "INSERT INTO items (name) VALUES ('first');");
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await db.drop();
  });

  it('applies each migration exactly once when several hosts start together', async () => {
    const results = await Promise.all(Array.from({ length: 4 }, () => migrate(db.url, silent, dir)));
    assert.deepEqual(results.flat().sort(), [1, 2]);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const items = await client.query('SELECT name FROM items');
      assert.deepEqual(items.rows, [{ name: 'first' }]);
      const applied = await client.query('SELECT version FROM schema_migrations ORDER BY version');
      assert.deepEqual(
        applied.rows.map((r) => r.version),
        [1, 2],
      );
    } finally {
      await client.end();
    }
    assert.deepEqual(await migrate(db.url, silent, dir), []);
  });

  it('refuses to start when an applied migration was edited', async () => {
    await writeFile(path.join(dir, '0001_items.sql'), 'CREATE TABLE items (id bigserial PRIMARY KEY);');
    await assert.rejects(migrate(db.url, silent, dir), /0001_items changed after it was applied/);
  });

  it('rolls back a failing migration and leaves earlier ones in place', async () => {
    const other = await createTestDatabase();
    const bad = await mkdtemp(path.join(tmpdir(), 'ferrite-migrations-'));
    try {
      await writeFile(path.join(bad, '0001_ok.sql'), 'CREATE TABLE ok (id int);');
      await writeFile(
        path.join(bad, '0002_bad.sql'),
        'CREATE TABLE half (id int); SELECT nope FROM missing;',
      );
      await assert.rejects(migrate(other.url, silent, bad), /0002_bad failed/);
      const client = new pg.Client({ connectionString: other.url });
      await client.connect();
      const tables = await client.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
      );
      await client.end();
      assert.deepEqual(
        tables.rows.map((r) => r.table_name),
        ['ok', 'schema_migrations'],
      );
    } finally {
      await rm(bad, { recursive: true, force: true });
      await other.drop();
    }
  });
});
