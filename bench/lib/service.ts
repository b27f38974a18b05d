import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { createScratchDatabase } from '../../src/db/scratch.ts';
import { createLogger } from '../../src/log.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');

/** A Postgres for the run: DATABASE_URL's server when set, else an embedded one; a fresh database. */
export async function benchDatabase(): Promise<{ url: string; stop: () => Promise<void> }> {
  let adminUrl = process.env.DATABASE_URL;
  let stopServer: () => Promise<void> = async () => undefined;
  if (!adminUrl) {
    const dir = await mkdtemp(path.join(tmpdir(), 'ferrite-bench-pg-'));
    const embedded = await startEmbeddedPostgres(dir, 0, createLogger('silent', {}));
    adminUrl = embedded.url;
    stopServer = () => embedded.stop();
  }
  const scratch = await createScratchDatabase(adminUrl, 'ferrite_bench');
  return {
    url: scratch.url,
    stop: async () => {
      await scratch.drop();
      await stopServer();
    },
  };
}

export interface Service {
  child: ChildProcess;
  origin: string;
  metrics: string;
  /** Spawn to the first 200 on /api/health. */
  startupMs: number;
  stop(): Promise<number | null>;
}

/** Waits for a URL to answer 200, polling; resolves with the elapsed milliseconds. */
async function firstOk(url: string, since: number, limitMs = 60_000): Promise<number> {
  for (;;) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200) return performance.now() - since;
    } catch {
      // not listening yet
    }
    if (performance.now() - since > limitMs)
      throw new Error(`${url} did not answer 200 within ${limitMs} ms`);
    await sleep(5);
  }
}

/** Where a service of the lab runs: another host (`bench -- two-hosts`) gives all three. */
export interface Placement {
  /** The address it binds and is reached at (127.0.0.1). */
  host?: string;
  /** Its HTTP port (a free one). */
  port?: number;
  /** Runs it through this command (`ip netns exec NAME`), which must exec it. */
  prefix?: string[];
}

/** Starts the production service (NODE_ENV=production, all cores) against `databaseUrl`. */
export async function startService(
  databaseUrl: string,
  logFile: string,
  env: Record<string, string> = {},
  where: Placement = {},
): Promise<Service> {
  const host = where.host ?? '127.0.0.1';
  const http = where.port ?? (await freePort());
  const metrics = await freePort();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'ferrite-bench-'));
  const log = openSync(logFile, 'w');
  const started = performance.now();
  const [command, ...args] = [...(where.prefix ?? []), process.execPath, path.join(ROOT, 'src/main.js')];
  const child = spawn(command as string, args, {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      DATABASE_URL: databaseUrl,
      DATA_DIR: dataDir,
      HOST: host,
      HTTP_PORT: String(http),
      HTTPS_PORT: 'off',
      METRICS_HOST: host,
      METRICS_PORT: String(metrics),
      JWT_SECRET: randomBytes(48).toString('base64url'),
      ...env,
    },
    // The service writes its log straight to the file: piping it through this process would
    // make the load generator's event loop copy every request line.
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  const origin = `http://${host}:${http}`;
  const startupMs = await firstOk(`${origin}/api/health`, started);
  return {
    child,
    origin,
    metrics: `http://${host}:${metrics}/metrics`,
    startupMs,
    async stop() {
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      return code as number | null;
    },
  };
}

/** The calibration peer (bare node:http cluster) on a free port. */
export async function startCalibration(): Promise<{ origin: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(ROOT, 'bench/peers/calibration.ts')], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const origin = `http://127.0.0.1:${port}`;
  await firstOk(`${origin}/`, performance.now());
  return {
    origin,
    async stop() {
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}
