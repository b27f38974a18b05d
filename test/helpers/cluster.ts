import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before } from 'node:test';
import { SIM_MINER } from '../../src/modules/rig/primary.ts';
import { H1Client } from './clients.ts';
import { createTestDatabase, releasePostgresServer, type TestDatabase } from './database.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const MAIN = path.join(ROOT, 'src/main.js');

/** Runs the bundled simulated miner as the host's miner. */
export const SIM_MINER_ENV = { MINER_CMD: process.execPath, MINER_ARGS: SIM_MINER };

export type Env = Record<string, string | undefined>;

/**
 * The process model this run of the suite starts the service in: `npm test` runs a subset of it
 * a second time with TEST_PROCESS_MODEL=single (test/run.ts).
 */
export const PROCESS_MODEL = process.env.TEST_PROCESS_MODEL === 'single' ? 'single' : 'cluster';

/** The `worker` a serving process reports (health, logs, metrics labels) in this model. */
export const WORKER_ID = PROCESS_MODEL === 'single' ? /^single$/ : /^\d+$/;
export const WORKER_LABEL = PROCESS_MODEL === 'single' ? 'single' : '\\d+';

/** Options of a test or suite about the cluster itself (workers, respawn, rolling restarts). */
export const clusterOnly = {
  skip: PROCESS_MODEL === 'single' ? 'about the cluster; PROCESS_MODEL=single has no workers' : false,
} as const;

export interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

export interface RunningCluster {
  process: ChildProcess;
  pid: number;
  dataDir: string;
  /** The ports the service reported binding (it binds ports the OS chooses). */
  readonly ports: { http: number; https: number; metrics: number };
  readonly http: string;
  readonly https: string;
  readonly metrics: string;
  /** The development CA (the self-signed certificate) for TLS clients. */
  ca: Buffer;
  logs: LogLine[];
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
  /** Pids of the primary's worker processes, read from the process table. */
  workerPids(): number[];
  /** What the service wrote to stderr so far. */
  readonly stderr: string;
  /** Pids of the processes below the primary (any depth) whose command line contains `text`. */
  descendantPids(text: string): number[];
}

export interface StartOptions {
  env?: Env;
  workers?: number;
  /** False: resolve at once, without waiting for "ferrite ready" (tests of the start-up itself). */
  waitReady?: boolean;
  /** `npm`: started as the README says, `npm start` (the process signalled is npm's). */
  via?: 'node' | 'npm';
  /** The address it binds and is reached at (HOST): a host of its own in test/helpers/hosts.ts. */
  address?: string;
  /** Runs the command through this one (e.g. `ip netns exec NAME`), which must exec it. */
  prefix?: string[];
  /** A DATA_DIR to keep using (a host that restarts); removed on stop only when created here. */
  dataDir?: string;
}

/** `npm start` as a command: the npm running this suite (`npm test`) when there is one. */
function npmStart(): [string, string[]] {
  const cli = process.env.npm_execpath;
  return cli && /\.c?js$/.test(cli) ? [process.execPath, [cli, 'start']] : ['npm', ['start']];
}

/** The process table as pid → [parent pid, command line]. */
function processTable(): Map<number, [number, string]> {
  const out = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' });
  const table = new Map<number, [number, string]>();
  for (const line of out.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s(.*)$/.exec(line);
    if (m) table.set(Number(m[1]), [Number(m[2]), m[3] as string]);
  }
  return table;
}

/**
 * Runs the real service (`node src/main.js`) on ports the OS chooses and a fresh DATA_DIR, and
 * resolves once it logs "ferrite ready" with the ports it bound.
 */
export async function startCluster(opts: StartOptions = {}): Promise<RunningCluster> {
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'ferrite-test-')));
  await chmod(dataDir, 0o755);
  const address = opts.address ?? '127.0.0.1';
  const env: Env = {
    ...process.env,
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    HOST: address,
    WORKERS: String(opts.workers ?? 2),
    // `npm test` runs a subset of the suite a second time in the single-process model; a test
    // about the cluster itself names PROCESS_MODEL in its own env.
    PROCESS_MODEL,
    HTTP_PORT: 'any',
    HTTPS_PORT: 'any',
    METRICS_PORT: 'any',
    DATA_DIR: dataDir,
    SHUTDOWN_TIMEOUT_MS: '8000',
    // Every test client is 127.0.0.1: tests that cross the registration limit set their own.
    REGISTER_MAX_PER_IP: '100000',
    // Cheap hashing; the tests of the hashing parameters set their own.
    ARGON2_MEMORY_KIB: '1024',
    ARGON2_TIME_COST: '1',
    ...opts.env,
  };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];

  const [cmd, cmdArgs] = opts.via === 'npm' ? npmStart() : [process.execPath, [MAIN]];
  const [command, ...args] = [...(opts.prefix ?? []), cmd, ...cmdArgs] as [string, ...string[]];
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const ports = { http: 0, https: 0, metrics: 0 };
  const logs: LogLine[] = [];
  const waiters = new Set<{ predicate: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      return;
    }
    logs.push(line);
    // Workers share the ports while one of them holds them; replacements of a cluster whose
    // every worker died bind new ones, and say so.
    if (line.msg === 'worker ready') Object.assign(ports, line.ports);
    for (const w of waiters) {
      if (w.predicate(line)) {
        waiters.delete(w);
        w.resolve(line);
      }
    }
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  let stopping: Promise<number | null> | undefined;

  const waitForLog = (predicate: (l: LogLine) => boolean, timeoutMs = 30_000) => {
    const seen = logs.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise<LogLine>((resolve, reject) => {
      const w = { predicate, resolve };
      waiters.add(w);
      const timer = setTimeout(() => {
        waiters.delete(w);
        reject(new Error(`no matching log line in ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`));
      }, timeoutMs);
      exited.then((code) => {
        if (!waiters.has(w)) return;
        clearTimeout(timer);
        waiters.delete(w);
        reject(new Error(`service exited (${code}) before the log line; stderr: ${stderr.slice(-2000)}`));
      });
      const orig = w.resolve;
      w.resolve = (l) => {
        clearTimeout(timer);
        orig(l);
      };
    });
  };

  const cluster: RunningCluster = {
    process: child,
    pid: child.pid as number,
    dataDir,
    ports,
    get http() {
      return `http://${address}:${ports.http}`;
    },
    get https() {
      return `https://localhost:${ports.https}`;
    },
    get metrics() {
      return `http://${env.METRICS_HOST ?? '127.0.0.1'}:${ports.metrics}/metrics`;
    },
    ca: Buffer.alloc(0),
    logs,
    get stderr() {
      return stderr;
    },
    waitForLog,
    exited,
    stop(signal: NodeJS.Signals = 'SIGTERM') {
      // One stop per cluster: a second SIGTERM while it drains would make the primary exit at
      // once with 1 (`second signal`), and a test would read that as a failed shutdown.
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
        const code = await exited;
        if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true }).catch(() => undefined);
        return code;
      })();
      return stopping;
    },
    workerPids() {
      return [...processTable()]
        .filter(([, [ppid, args]]) => ppid === child.pid && args.includes('ferrite-worker'))
        .map(([pid]) => pid);
    },
    descendantPids(text: string) {
      const table = processTable();
      const below = new Set([child.pid as number]);
      // A parent is listed before its children only by chance: sweep until nothing is added.
      for (let grew = true; grew; ) {
        grew = false;
        for (const [pid, [ppid]] of table) {
          if (below.has(ppid) && !below.has(pid)) {
            below.add(pid);
            grew = true;
          }
        }
      }
      return [...table]
        .filter(([pid, [, args]]) => pid !== child.pid && below.has(pid) && args.includes(text))
        .map(([pid]) => pid);
    },
  };
  if (opts.waitReady === false) return cluster;
  try {
    const ready = await waitForLog((l) => l.msg === 'ferrite ready', 60_000);
    Object.assign(ports, { http: ready.http, https: ready.https, metrics: ready.metrics });
    // No TLS port (a host behind a balancer that terminates TLS): no certificate either.
    if (env.HTTPS_PORT !== 'off')
      cluster.ca = await readFile(env.TLS_CERT ?? path.join(dataDir, 'tls/dev-cert.pem'));
  } catch (err) {
    // The caller never gets the cluster to stop: nothing it started may outlive the test.
    for (const pid of [...cluster.descendantPids(''), cluster.pid]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    throw err;
  }
  return cluster;
}

/** Kills a leftover service if a test failed before stopping it. */
export function killOnExit(cluster: RunningCluster): void {
  process.once('exit', () => {
    try {
      cluster.process.kill('SIGKILL');
    } catch {
      // already gone
    }
  });
}

/** A server the service talks to in tests (an upstream, the node, Gemini). */
export interface Double {
  start(): Promise<unknown>;
  close(): Promise<void>;
}

export interface ClusterSetup {
  workers?: number;
  /**
   * Environment on top of the test defaults; a function is called once the database and the
   * doubles exist. DATABASE_URL defaults to a fresh test database; an object that names it (even
   * as undefined, for the embedded server) gets none.
   */
  env?: Env | ((db: TestDatabase) => Env | Promise<Env>);
  /** Started before the cluster, closed after it. */
  doubles?: Double[];
}

export interface TestCluster {
  readonly cluster: RunningCluster;
  /** The fresh database the cluster runs on (undefined when the setup named its own). */
  readonly db: TestDatabase;
  /** An HTTP/1.1 client that trusts the cluster's development certificate. */
  readonly h1: H1Client;
  /** `cluster.http` followed by `path`. */
  url(path: string): string;
}

/** What `setup` describes: `start` starts it, `stop` undoes whatever of it was started. */
function testCluster(setup: ClusterSetup) {
  const parts: { db?: TestDatabase; cluster?: RunningCluster; h1?: H1Client } = {};
  const doubles = setup.doubles ?? [];
  return {
    parts,
    async start(): Promise<void> {
      const named = typeof setup.env === 'object' && 'DATABASE_URL' in setup.env;
      if (!named) parts.db = await createTestDatabase();
      await Promise.all(doubles.map((d) => d.start()));
      const env = typeof setup.env === 'function' ? await setup.env(parts.db as TestDatabase) : setup.env;
      const database = parts.db ? { DATABASE_URL: parts.db.url } : {};
      parts.cluster = await startCluster({ workers: setup.workers, env: { ...database, ...env } });
      killOnExit(parts.cluster);
      parts.h1 = new H1Client(parts.cluster.ca);
    },
    /** Resolves with the service's exit code (undefined when it never started). */
    async stop(): Promise<number | null | undefined> {
      await parts.h1?.close();
      const code = await parts.cluster?.stop();
      await Promise.all(doubles.map((d) => d.close()));
      await parts.db?.drop();
      await releasePostgresServer();
      return code;
    },
  };
}

/**
 * The service for the enclosing suite (or file): before its tests, a fresh database, the doubles
 * and the cluster on them, then `ready` (the suite's own set-up: node runs a file's top-level
 * `before` hooks concurrently, so set-up that needs the cluster goes there); after them, the
 * cluster stopped (asserting exit code 0), the doubles closed and the database dropped.
 */
export function useCluster(
  setup: ClusterSetup = {},
  ready?: (service: TestCluster) => Promise<void> | void,
): TestCluster {
  const tc = testCluster(setup);
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the cluster exists only once its before hook has run');
    return value;
  };
  const service: TestCluster = {
    get cluster() {
      return started(tc.parts.cluster);
    },
    get db() {
      return started(tc.parts.db);
    },
    get h1() {
      return started(tc.parts.h1);
    },
    url: (p: string) => `${started(tc.parts.cluster).http}${p}`,
  };
  before(async () => {
    await tc.start();
    await ready?.(service);
  });
  after(async () => {
    const code = await tc.stop();
    const cluster = tc.parts.cluster;
    if (cluster && code !== 0) {
      // What the service said last explains a failed shutdown better than its exit code.
      const said = cluster.logs.filter((l) => l.level !== 'info' && l.level !== 'debug').slice(-5);
      assert.fail(`the service exited ${code} when stopped; its last warnings: ${JSON.stringify(said)}`);
    }
  });
  return service;
}

/**
 * Runs `fn` against a cluster of its own (a test that needs a configuration of its own), then
 * stops it, asserting exit code 0 when `fn` succeeded.
 */
export async function withCluster<T>(
  setup: ClusterSetup,
  fn: (cluster: RunningCluster, h1: H1Client, db: TestDatabase | undefined) => Promise<T>,
): Promise<T> {
  const tc = testCluster(setup);
  let result: T;
  try {
    await tc.start();
    const { cluster, h1, db } = tc.parts as Required<typeof tc.parts>;
    result = await fn(cluster, h1, db);
  } catch (err) {
    await tc.stop();
    throw err;
  }
  assert.equal(await tc.stop(), 0, 'the service exits 0 when stopped');
  return result;
}
