import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  chmod,
  chown,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  realpath,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { bundledBinaries, postgresOwner } from '../src/db/embedded.runtime.ts';
import { freePort, startEmbeddedPostgres } from '../src/db/embedded.ts';
import { createLogger } from '../src/log.ts';

const silent = createLogger('silent', {});
const OLD_PASSWORD = 'ferrite-embedded'; // compiled into ferrite up to issue 11
const asRoot = process.getuid?.() === 0;
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function tempDir(mode = 0o755): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ferrite-pg-sec-'));
  await chmod(dir, mode);
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Resolves when a client with these settings got in, rejects with the server's refusal. */
async function tryConnect(config: pg.ClientConfig): Promise<void> {
  const client = new pg.Client({
    user: 'postgres',
    database: 'postgres',
    connectionTimeoutMillis: 5000,
    ...config,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The uid Postgres should run as: `postgres` for root, else ourselves. */
async function serverUid(): Promise<number> {
  return (await postgresOwner())?.uid ?? (process.getuid?.() as number);
}

describe('embedded Postgres credentials', () => {
  it('generates a random password stored 0600, and accepts only SCRAM over a private socket', async () => {
    const dataDir = await tempDir();
    const port = await freePort();
    const pgsrv = await startEmbeddedPostgres(dataDir, port, silent);
    cleanups.push(() => pgsrv.stop());

    const file = await stat(path.join(dataDir, 'postgres-password'));
    assert.equal(file.mode & 0o777, 0o600);
    assert.equal(file.uid, process.getuid?.());
    const password = (await readFile(path.join(dataDir, 'postgres-password'), 'utf8')).trim();
    assert.notEqual(password, OLD_PASSWORD);
    assert.ok(password.length >= 32, 'long enough');
    assert.equal(new URL(pgsrv.url).password, password);

    const socketDir = await stat(pgsrv.socketDir);
    assert.equal(socketDir.mode & 0o777, 0o700);
    assert.equal(socketDir.uid, await serverUid());
    assert.equal(new URL(pgsrv.url).searchParams.get('host'), pgsrv.socketDir, 'clients use the socket');

    const socket = { host: pgsrv.socketDir, port };
    const tcp = { host: '127.0.0.1', port };
    for (const where of [socket, tcp]) {
      await assert.rejects(
        tryConnect({ ...where, password: OLD_PASSWORD }),
        /password authentication failed/,
      );
      await assert.rejects(tryConnect({ ...where }), 'no password, no entry');
      await assert.rejects(tryConnect({ ...where, password: '' }));
      await tryConnect({ ...where, password });
    }

    const client = new pg.Client({ connectionString: pgsrv.url });
    await client.connect();
    try {
      const rules = await client.query<{ type: string; address: string | null; auth_method: string }>(
        'SELECT type, address, auth_method FROM pg_hba_file_rules',
      );
      assert.ok(rules.rows.length > 0);
      for (const rule of rules.rows) {
        assert.equal(rule.auth_method, 'scram-sha-256', JSON.stringify(rule));
        assert.ok(rule.type === 'local' || rule.address === '127.0.0.1', JSON.stringify(rule));
      }
      const listen = await client.query<{ listen_addresses: string }>('SHOW listen_addresses');
      assert.equal(listen.rows[0]?.listen_addresses, '127.0.0.1');
    } finally {
      await client.end();
    }
    await pgsrv.stop();

    // Without EMBEDDED_PG_PORT there is no TCP listener at all, and the password stays.
    const again = await startEmbeddedPostgres(dataDir, 0, silent);
    cleanups.push(() => again.stop());
    assert.equal(new URL(again.url).password, password);
    await tryConnect({ connectionString: again.url });
    await assert.rejects(tryConnect({ ...tcp, password }), /ECONNREFUSED/);
  });

  it('rotates the fixed password of a data dir made by earlier versions, which still starts', async () => {
    const dataDir = await tempDir();
    const pgdata = path.join(dataDir, 'postgres');
    const owner = await postgresOwner();
    // What the old code did: initdb with password auth and the compiled-in password.
    await mkdir(pgdata, { mode: 0o700 });
    const pwfile = path.join(dataDir, 'old-pw');
    await writeFile(pwfile, `${OLD_PASSWORD}\n`, { mode: 0o644 });
    if (owner) await chown(pgdata, owner.uid, owner.gid);
    const initdb = path.join(await bundledBinaries(), 'bin', 'initdb');
    execFileSync(
      initdb,
      [`--pgdata=${pgdata}`, '--auth=password', '--username=postgres', `--pwfile=${pwfile}`],
      {
        ...owner,
        stdio: 'ignore',
      },
    );
    await rm(pwfile);

    const pgsrv = await startEmbeddedPostgres(dataDir, 0, silent);
    cleanups.push(() => pgsrv.stop());
    const file = await stat(path.join(dataDir, 'postgres-password'));
    assert.equal(file.mode & 0o777, 0o600);
    const password = (await readFile(path.join(dataDir, 'postgres-password'), 'utf8')).trim();
    assert.notEqual(password, OLD_PASSWORD);
    const socket = { host: pgsrv.socketDir, port: pgsrv.port };
    await assert.rejects(tryConnect({ ...socket, password: OLD_PASSWORD }), /password authentication failed/);
    await tryConnect({ ...socket, password });
    const hba = await readFile(path.join(pgdata, 'pg_hba.conf'), 'utf8');
    assert.doesNotMatch(hba, /\b(trust|md5|password)\s*$/m);
  });

  it('keeps local users other than the server out of the socket directory', {
    skip: !asRoot && 'needs root to switch users',
  }, async () => {
    const dataDir = await tempDir();
    const pgsrv = await startEmbeddedPostgres(dataDir, 0, silent);
    cleanups.push(() => pgsrv.stop());
    const socketPath = path.join(pgsrv.socketDir, `.s.PGSQL.${pgsrv.port}`);
    const probe = spawn(
      process.execPath,
      [
        '-e',
        `require('net').connect(${JSON.stringify(socketPath)}).on('connect',()=>{console.log('connected');process.exit(0)}).on('error',e=>{console.log(e.code);process.exit(0)})`,
      ],
      { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    probe.stdout.on('data', (d) => {
      out += d;
    });
    await once(probe, 'close');
    assert.equal(out.trim(), 'EACCES');
  });
});

describe('embedded Postgres wherever the checkout lives', () => {
  it('starts with its binaries and DATA_DIR inside a 0700 directory', async () => {
    // Like a checkout cloned into /root: the binaries are reached through the private directory.
    const home = await tempDir(0o700);
    const native = path.join(home, 'checkout', 'native');
    await mkdir(path.dirname(native), { recursive: true });
    await symlink(await bundledBinaries(), native);
    const dataDir = path.join(home, 'checkout', '.data');

    const pgsrv = await startEmbeddedPostgres(dataDir, 0, silent, { binaries: native });
    cleanups.push(() => pgsrv.stop());
    await tryConnect({ connectionString: pgsrv.url });
    const pid = Number(
      (await readFile(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0],
    );
    const exe = await readlink(`/proc/${pid}/exe`);
    const server = await stat(`/proc/${pid}`);
    assert.equal(server.uid, await serverUid());
    assert.equal((await stat(path.join(dataDir, 'postgres-password'))).mode & 0o777, 0o600);
    assert.equal((await stat(pgsrv.socketDir)).mode & 0o777, 0o700);

    if (asRoot) {
      // Root runs Postgres as `postgres`, from a root-owned copy nobody else can change, with its
      // data where `postgres` can reach it (DATA_DIR/postgres links there).
      assert.ok(exe.startsWith('/var/lib/ferrite/'), exe);
      for (let dir = path.dirname(exe); dir !== '/'; dir = path.dirname(dir)) {
        const st = await stat(dir);
        assert.equal(st.uid, 0, dir);
        assert.equal(st.mode & 0o022, 0, `${dir} is not group/world-writable`);
      }
      assert.ok((await lstat(path.join(dataDir, 'postgres'))).isSymbolicLink());
      const pgdata = await realpath(path.join(dataDir, 'postgres'));
      assert.ok(!pgdata.startsWith(home), pgdata);
      cleanups.push(() => rm(path.dirname(pgdata), { recursive: true, force: true }));
    } else {
      // Not root: Postgres runs as us, in place, with its data under DATA_DIR.
      assert.equal(exe, await realpath(path.join(native, 'bin', 'postgres')));
      assert.ok((await lstat(path.join(dataDir, 'postgres'))).isDirectory());
    }
  });

  it('puts the socket in a private temporary directory when DATA_DIR is too deep for one', async () => {
    const deep = path.join(await tempDir(), 'd'.repeat(60), 'e'.repeat(60));
    const pgsrv = await startEmbeddedPostgres(deep, 0, silent);
    await tryConnect({ connectionString: pgsrv.url });
    assert.ok(pgsrv.socketDir.startsWith(tmpdir()), pgsrv.socketDir);
    assert.equal((await stat(pgsrv.socketDir)).mode & 0o777, 0o700);
    await pgsrv.stop();
    await assert.rejects(stat(pgsrv.socketDir), /ENOENT/, 'removed on stop');
  });
});
