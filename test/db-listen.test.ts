import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type Database, openDatabase } from '../src/db/pool.ts';
import { createLogger } from '../src/log.ts';
import { useTestDatabase } from './helpers/database.ts';
import { until } from './helpers/until.ts';

const testDb = useTestDatabase();
const settings = {
  PG_CONNECT_TIMEOUT_MS: 3000,
  PG_IDLE_TIMEOUT_MS: 1000,
  PG_STATEMENT_TIMEOUT_MS: 5000,
  DB_RETRY_AFTER_SECONDS: 1,
};

describe('db.listen', () => {
  let db: Database;
  let closed: boolean;
  // Unique per test, so counting sessions by name never sees another test's.
  let listenName: string;

  const notify = (channel: string, payload: string) =>
    db.query('SELECT pg_notify($1, $2)', [channel, payload]);
  const listenSessions = async () =>
    (
      await db.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [
        listenName,
      ])
    ).rows.map((r) => r.pid);
  /** Resolves once `received` holds `n` payloads. */
  const heard = (what: string, received: string[], n: number) =>
    until(what, () => (received.length >= n ? received : undefined));

  beforeEach(() => {
    closed = false;
    listenName = `listen-test-${randomBytes(4).toString('hex')}`;
    db = openDatabase(
      settings,
      {
        connectionString: testDb.url,
        max: 2,
        applicationName: 'listen-test',
        listenApplicationName: listenName,
      },
      createLogger('silent', {}),
    );
  });
  afterEach(async () => {
    if (!closed) await db.close();
  });

  it("delivers two channels, and a secondary pool's channel, over one session", async () => {
    const a: string[] = [];
    const b: string[] = [];
    const c: string[] = [];
    const exportDb = db.secondary(1, 'export');
    try {
      const subs = [
        db.listen('test_a', (p) => a.push(p)),
        db.listen('test_b', (p) => b.push(p)),
        exportDb.listen('test_c', (p) => c.push(p)),
      ];
      await until('every channel listening', () => (subs.every((s) => s.listening) ? true : undefined));
      assert.equal((await listenSessions()).length, 1, 'one LISTEN session for every channel');

      await notify('test_a', 'one');
      await notify('test_b', 'two');
      await notify('test_c', 'three');
      await heard('test_a', a, 1);
      await heard('test_b', b, 1);
      await heard('test_c', c, 1);
      assert.deepEqual([a, b, c], [['one'], ['two'], ['three']]);
    } finally {
      await exportDb.close();
    }
  });

  it('reconnects after Postgres terminates its backend, calls onListening again and delivers again', async () => {
    const received: string[] = [];
    let caughtUp = 0;
    const sub = db.listen('test_cancel', (p) => received.push(p), { onListening: () => caughtUp++ });
    const other: string[] = [];
    db.listen('test_events', (p) => other.push(p));
    await until('listening', () => (sub.listening && caughtUp === 1 ? true : undefined));
    const [before] = await listenSessions();
    assert.ok(before, 'the LISTEN session is in pg_stat_activity');

    const killed = await db.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [before]);
    assert.equal(killed.rows[0]?.ok, true);
    await until('onListening after the reconnect', () => (caughtUp === 2 ? true : undefined));
    assert.equal(sub.listening, true);
    const after = await listenSessions();
    assert.equal(after.length, 1, 'still one session');
    assert.notEqual(after[0], before, 'a new backend');

    await notify('test_cancel', 'after-reconnect');
    await notify('test_events', 'also');
    await heard('test_cancel', received, 1);
    await heard('test_events', other, 1);
    assert.deepEqual(received, ['after-reconnect']);
    assert.deepEqual(other, ['also']);
  });

  it('stops delivering to a subscriber that left, keeps the others, and ends with the database', async () => {
    const first: string[] = [];
    const second: string[] = [];
    const barrier: string[] = [];
    const one = db.listen('test_shared', (p) => first.push(p));
    const two = db.listen('test_shared', (p) => second.push(p));
    const gone = db.listen('test_gone', (p) => first.push(`gone:${p}`));
    const keep = db.listen('test_barrier', (p) => barrier.push(p));
    await until('listening', () => ([one, two, gone, keep].every((s) => s.listening) ? true : undefined));

    one.close();
    gone.close();
    assert.equal(one.listening, false);
    // Notifications of one transaction arrive in order: once the barrier's is in, the others
    // would have been too.
    await db.transaction(async (tx) => {
      await tx.query("SELECT pg_notify('test_shared', 'x'), pg_notify('test_gone', 'y')");
      await tx.query("SELECT pg_notify('test_barrier', 'z')");
    });
    await heard('test_barrier', barrier, 1);
    assert.deepEqual(first, []);
    assert.deepEqual(second, ['x']);

    // A subscriber that joins a channel already listened to is told so too.
    let joined = false;
    const late = db.listen('test_shared', () => undefined, { onListening: () => (joined = true) });
    await until('the late subscriber', () => (joined && late.listening ? true : undefined));

    assert.equal((await listenSessions()).length, 1);
    const watcher = openDatabase(
      settings,
      { connectionString: testDb.url, max: 1, applicationName: 'listen-test-watcher' },
      createLogger('silent', {}),
    );
    try {
      closed = true;
      await db.close();
      assert.equal(two.listening, false);
      await until('the session ended', async () => {
        const { rows } = await watcher.query('SELECT 1 FROM pg_stat_activity WHERE application_name = $1', [
          listenName,
        ]);
        return rows.length === 0 ? true : undefined;
      });
      // A subscription after close is inert: it opens nothing.
      assert.equal(db.listen('test_shared', () => undefined).listening, false);
    } finally {
      await watcher.close();
    }
  });

  it('refuses a channel name it would have to quote', () => {
    assert.throws(() => db.listen('Robert"; DROP TABLE users', () => undefined), /bad channel name/);
  });
});
