import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from '../../src/db/embedded.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const MAIN = path.join(ROOT, 'src/main.ts');

export interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

export interface RunningCluster {
  process: ChildProcess;
  pid: number;
  dataDir: string;
  ports: { http: number; https: number; metrics: number };
  http: string;
  https: string;
  metrics: string;
  /** The development CA (the self-signed certificate) for TLS clients. */
  ca: Buffer;
  logs: LogLine[];
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
  /** Pids of the primary's worker processes, read from the process table. */
  workerPids(): number[];
}

export interface StartOptions {
  env?: Record<string, string | undefined>;
  workers?: number;
  /** Resolve as soon as the process is spawned instead of waiting for "ferrite ready". */
  noWait?: boolean;
}

/** Runs the real service (`node src/main.ts`) on ephemeral ports and a fresh DATA_DIR. */
export async function startCluster(opts: StartOptions = {}): Promise<RunningCluster> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'ferrite-test-'));
  await chmod(dataDir, 0o755);
  const ports = { http: await freePort(), https: await freePort(), metrics: await freePort() };
  const env: Record<string, string | undefined> = {
    ...process.env,
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    WORKERS: String(opts.workers ?? 2),
    HTTP_PORT: String(ports.http),
    HTTPS_PORT: String(ports.https),
    METRICS_PORT: String(ports.metrics),
    DATA_DIR: dataDir,
    SHUTDOWN_TIMEOUT_MS: '8000',
    // Every test client is 127.0.0.1: tests that cross the registration limit set their own.
    REGISTER_MAX_PER_IP: '100000',
    ...opts.env,
  };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];

  const child = spawn(process.execPath, [MAIN], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
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
    for (const w of waiters) {
      if (w.predicate(line)) {
        waiters.delete(w);
        w.resolve(line);
      }
    }
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);

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
    http: `http://127.0.0.1:${ports.http}`,
    https: `https://localhost:${ports.https}`,
    metrics: `http://127.0.0.1:${ports.metrics}/metrics`,
    ca: Buffer.alloc(0),
    logs,
    waitForLog,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const code = await exited;
      await rm(dataDir, { recursive: true, force: true }).catch(() => undefined);
      return code;
    },
    workerPids() {
      let out = '';
      try {
        out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(child.pid)], { encoding: 'utf8' });
      } catch {
        return []; // ps exits 1 when the primary has no children
      }
      return out
        .split('\n')
        .filter((l) => l.includes('ferrite-worker'))
        .map((l) => Number.parseInt(l.trim(), 10));
    },
  };
  if (opts.noWait) return cluster;
  await waitForLog((l) => l.msg === 'ferrite ready', 60_000);
  cluster.ca = await readFile(path.join(dataDir, 'tls/dev-cert.pem'));
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
