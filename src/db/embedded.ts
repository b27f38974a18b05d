import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.ts';
import {
  bundledBinaries,
  installBinaries,
  type PgBinaries,
  type PgLayout,
  type PgOwner,
  postgresOwner,
  prepareLayout,
} from './embedded.runtime.ts';
import { withSession } from './session.ts';

export interface EmbeddedPostgres {
  /** Connects over the private Unix socket (`?host=<socket dir>`) with the stored password. */
  readonly url: string;
  /** Names the socket; also the TCP port on 127.0.0.1 when `EMBEDDED_PG_PORT` asked for one. */
  readonly port: number;
  readonly socketDir: string;
  readonly passwordFile: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** A directory with bin/, lib/ and share/ to run instead of the bundled binaries. */
  binaries?: string;
}

const USER = 'postgres';
const DATABASE = 'ferrite';
/** The port that names the socket when no TCP listener was asked for (the socket dir is private). */
const SOCKET_ONLY_PORT = 5432;
const READY_TIMEOUT_MS = 60_000;
/** Postgres gets a clean environment: none of ferrite's secrets, messages in English. */
const PG_ENV = { LC_ALL: 'C', LANG: 'C' };

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function urlFor(socketDir: string, port: number, password: string): string {
  const url = new URL(`postgres://${USER}:${password}@localhost:${port}/${DATABASE}`);
  url.searchParams.set('host', socketDir);
  return url.toString();
}

/** postmaster.pid: pid, data dir, start time, port, socket dir, listen address, shmem key, status. */
async function readPidFile(pgdata: string): Promise<string[] | undefined> {
  const text = await readFile(path.join(pgdata, 'postmaster.pid'), 'utf8').catch(() => undefined);
  return text?.split('\n');
}

/** The URL of the embedded server under `dataDir` when one is running (e.g. the service's). */
export async function runningEmbeddedUrl(dataDir: string): Promise<string | undefined> {
  const lines = await readPidFile(path.join(dataDir, 'postgres'));
  const pid = Number.parseInt(lines?.[0] ?? '', 10);
  const port = Number.parseInt(lines?.[3] ?? '', 10);
  const socketDir = lines?.[4]?.trim();
  if (!Number.isInteger(pid) || !alive(pid) || !Number.isInteger(port) || !socketDir) return undefined;
  const password = await readPassword(path.join(dataDir, 'postgres-password'));
  return password ? urlFor(socketDir, port, password) : undefined;
}

/** A postmaster left behind by a primary that was killed outright is shut down before we start. */
async function stopLeftover(pgdata: string, log: Logger): Promise<void> {
  const pid = Number.parseInt((await readPidFile(pgdata))?.[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return;
  log.warn({ pid }, 'embedded postgres from an earlier run is still running; stopping it');
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100 && alive(pid); i++) await sleep(100);
  if (alive(pid)) throw new Error(`embedded postgres (pid ${pid}) under ${pgdata} did not stop`);
}

async function readPassword(file: string): Promise<string | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  const password = text?.trim();
  if (!password) return undefined;
  await chmod(file, 0o600);
  return password;
}

async function writePassword(file: string, password: string): Promise<void> {
  const tmp = `${file}.${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, `${password}\n`, { mode: 0o600, flag: 'wx' });
  await rename(tmp, file);
}

/** Runs a Postgres program as `owner`, resolving with its output, rejecting with it on failure. */
function runPg(bin: string, args: string[], owner: PgOwner, input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { ...owner, env: PG_ENV, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${path.basename(bin)} failed (${code ?? signal}): ${out.slice(-2000)}`));
    });
    child.stdin.end(input ?? '');
  });
}

/**
 * Sets a new random superuser password offline (single-user mode, no listener open): for a new
 * cluster, and for one made by earlier versions with a password compiled into the source.
 */
async function rotatePassword(bins: PgBinaries, layout: PgLayout, owner: PgOwner): Promise<string> {
  const password = randomBytes(32).toString('hex');
  const sql = `SET password_encryption = 'scram-sha-256';\nALTER ROLE ${USER} WITH PASSWORD '${password}';\n`;
  await runPg(
    bins.postgres,
    ['--single', '-D', layout.pgdata, '-c', 'log_min_messages=fatal', 'postgres'],
    owner,
    sql,
  ).catch((err: Error) => {
    throw new Error(err.message.replaceAll(password, '<password>'));
  });
  await writePassword(layout.passwordFile, password);
  return password;
}

/** Only SCRAM, only over the private socket or loopback; written at every start. */
async function writeHba(layout: PgLayout, owner: PgOwner, tcp: boolean): Promise<void> {
  const file = path.join(layout.pgdata, 'pg_hba.conf');
  const lines = [
    '# Written by ferrite at every start (src/db/embedded.ts): password (SCRAM) only.',
    'local all all scram-sha-256',
    ...(tcp ? ['host all all 127.0.0.1/32 scram-sha-256'] : []),
  ];
  await writeFile(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  if (owner) await chown(file, owner.uid, owner.gid);
}

async function initdb(bins: PgBinaries, layout: PgLayout, owner: PgOwner, log: Logger): Promise<void> {
  if ((await readdir(layout.pgdata)).length > 0) {
    throw new Error(`${layout.pgdata} is neither empty nor a Postgres data directory`);
  }
  log.info({ dir: layout.pgdata }, 'initialising embedded postgres');
  // Trust only until the first start: pg_hba.conf is replaced and a password set before that.
  await runPg(
    bins.initdb,
    [
      `--pgdata=${layout.pgdata}`,
      `--username=${USER}`,
      '--auth=trust',
      '--encoding=UTF8',
      '--locale=C',
      '--locale-provider=builtin',
      '--builtin-locale=C.UTF-8',
      '--no-instructions',
    ],
    owner,
  );
}

/** Starts the postmaster and resolves once postmaster.pid says it accepts connections. */
async function startPostmaster(
  bins: PgBinaries,
  layout: PgLayout,
  owner: PgOwner,
  port: number,
  tcp: boolean,
  log: Logger,
): Promise<ChildProcess> {
  const args = ['-D', layout.pgdata, '-p', String(port)];
  for (const setting of [
    `listen_addresses=${tcp ? '127.0.0.1' : ''}`,
    `unix_socket_directories=${layout.socketDir}`,
    'unix_socket_permissions=0700',
    'password_encryption=scram-sha-256',
  ]) {
    args.push('-c', setting);
  }
  const child = spawn(bins.postgres, args, { ...owner, env: PG_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const onOutput = (d: Buffer) => {
    const text = String(d);
    tail = (tail + text).slice(-4000);
    for (const line of text.split('\n')) if (line.trim()) log.debug(line.trim());
  };
  child.stdout?.on('data', onOutput);
  child.stderr?.on('data', onOutput);
  let failure: Error | undefined;
  child.on('error', (err) => {
    failure = err;
  });
  child.on('exit', (code, signal) => {
    failure ??= new Error(`postgres exited (${code ?? signal}) during start-up`);
  });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (failure) throw new Error(`${failure.message}: ${tail.slice(-2000)}`, { cause: failure });
    const lines = await readPidFile(layout.pgdata);
    if (Number(lines?.[0]) === child.pid && lines?.[7]?.trim() === 'ready') return child;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`postgres did not become ready in ${READY_TIMEOUT_MS} ms: ${tail.slice(-2000)}`);
    }
    await sleep(50);
  }
}

function stopPostmaster(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGINT'); // fast shutdown: roll back open transactions, then exit
  });
}

/**
 * Starts (initialising on first use) a PostgreSQL server under `dataDir/postgres`, reachable by
 * password over a private Unix socket (and 127.0.0.1 only when `requestedPort` is set).
 * Only the primary calls this, before forking workers.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  requestedPort: number,
  log: Logger,
  opts: EmbeddedOptions = {},
): Promise<EmbeddedPostgres> {
  const owner = await postgresOwner();
  const bins = await installBinaries(opts.binaries ?? (await bundledBinaries()), owner);
  const layout = await prepareLayout(dataDir, owner);
  const tcp = requestedPort > 0;
  const port = tcp ? requestedPort : SOCKET_ONLY_PORT;
  const pgLog = log.child({ component: 'embedded-postgres' });

  const fresh = !existsSync(path.join(layout.pgdata, 'PG_VERSION'));
  if (fresh) await initdb(bins, layout, owner, log);
  await stopLeftover(layout.pgdata, log);
  let password = fresh ? undefined : await readPassword(layout.passwordFile);
  if (!password) {
    if (!fresh)
      log.warn({ dir: layout.pgdata }, 'embedded postgres had no stored password; setting a new one');
    password = await rotatePassword(bins, layout, owner);
  }
  await writeHba(layout, owner, tcp);

  const child = await startPostmaster(bins, layout, owner, port, tcp, pgLog).catch(async (err) => {
    if (layout.socketDirIsTemp) await rm(layout.socketDir, { recursive: true, force: true });
    throw new Error(`embedded postgres failed to start (${layout.pgdata})`, { cause: err });
  });
  const stop = async () => {
    await stopPostmaster(child);
    if (layout.socketDirIsTemp) await rm(layout.socketDir, { recursive: true, force: true });
  };

  const adminUrl = new URL(urlFor(layout.socketDir, port, password));
  adminUrl.pathname = '/postgres';
  try {
    await withSession(adminUrl.toString(), 'ferrite-embedded', async (client) => {
      const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
      if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${DATABASE}`);
    });
  } catch (err) {
    await stop();
    throw err;
  }

  log.info(
    { dir: layout.pgdata, socketDir: layout.socketDir, tcpPort: tcp ? port : null },
    'embedded postgres started',
  );
  return {
    url: urlFor(layout.socketDir, port, password),
    port,
    socketDir: layout.socketDir,
    passwordFile: layout.passwordFile,
    stop,
  };
}
