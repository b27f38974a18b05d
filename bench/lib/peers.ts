// The optional peers of `bench:compare`: Go net/http and nginx, each started only when its
// tool is installed; a missing tool is a reason string, never a failure.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../src/db/embedded.ts';
import { ROOT } from './service.ts';

export interface Peer {
  origin: string;
  /** `https://` origin serving TLS (h2 by ALPN), when the peer was asked to. */
  tlsOrigin?: string;
  stop(): Promise<void>;
}

export function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export async function waitOk(url: string, init?: RequestInit): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      const res = await fetch(url, init);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(`${url} never answered 200`);
}

function stopper(child: ChildProcess, dir: string): () => Promise<void> {
  return async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    await rm(dir, { recursive: true, force: true });
  };
}

/**
 * Builds and starts bench/peers/go; `statsBody` is what ferrite's /api/stats answered. With `tls`
 * (PEM file paths) it also listens with TLS, HTTP/2 by ALPN.
 */
export async function startGoPeer(
  secret: string,
  statsBody: Buffer,
  tls?: { cert: string; key: string },
): Promise<Peer | string> {
  if (!has('go')) return 'go is not installed (Debian golang-go)';
  const dir = await mkdtemp(path.join(tmpdir(), 'ferrite-go-peer-'));
  const bin = path.join(dir, 'peer');
  execFileSync('go', ['build', '-o', bin, '.'], {
    cwd: path.join(ROOT, 'bench/peers/go'),
    env: { ...process.env, GOFLAGS: '-mod=mod', GOPROXY: 'off', CGO_ENABLED: '0' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await writeFile(path.join(dir, 'stats.json'), statsBody);
  const port = await freePort();
  const tlsPort = tls ? await freePort() : undefined;
  const child = spawn(bin, [], {
    env: {
      PORT: String(port),
      JWT_SECRET: secret,
      STATS_FILE: path.join(dir, 'stats.json'),
      ...(tls ? { TLS_PORT: String(tlsPort), TLS_CERT: tls.cert, TLS_KEY: tls.key } : {}),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const origin = `http://127.0.0.1:${port}`;
  await waitOk(`${origin}/api/health`);
  return { origin, ...(tls ? { tlsOrigin: `https://127.0.0.1:${tlsPort}` } : {}), stop: stopper(child, dir) };
}

/**
 * nginx with one worker per core, everything in a temporary prefix, serving `http` (the body
 * of an `http {}` block, given the port to listen on); answers `probe` before it resolves.
 */
async function startNginxWith(http: (port: number) => string, probe: string): Promise<Peer | string> {
  if (!has('nginx')) return 'nginx is not installed';
  const dir = await mkdtemp(path.join(tmpdir(), 'ferrite-nginx-'));
  const port = await freePort();
  const conf = `worker_processes ${availableParallelism()};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
${http(port)}
}
`;
  await writeFile(path.join(dir, 'nginx.conf'), conf);
  const child = spawn('nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const origin = `http://127.0.0.1:${port}`;
  await waitOk(`${origin}${probe}`);
  return { origin, stop: stopper(child, dir) };
}

/** nginx answering /api/health's JSON from memory (the ceiling). */
export function startNginx(healthBody: string): Promise<Peer | string> {
  return startNginxWith(
    (port) => `  server {
    listen 127.0.0.1:${port};
    location / {
      default_type "application/json; charset=utf-8";
      return 200 '${healthBody.replaceAll("'", "\\'")}';
    }
  }`,
    '/',
  );
}

/** nginx `proxy_pass` to `upstream` with pooled keep-alive connections: the gateway's peer. */
export function startNginxProxy(upstream: string): Promise<Peer | string> {
  return startNginxWith(
    (port) => `  upstream task { server ${new URL(upstream).host}; keepalive 256; }
  server {
    listen 127.0.0.1:${port};
    location /v1/task/ {
      proxy_pass http://task/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $remote_addr;
    }
  }`,
    '/v1/task/ping',
  );
}

/**
 * bench/peers/express.ts: the plain express 5 cluster (`workers` processes) with the compare
 * routes; `statsBody` is what ferrite's /api/stats answered, `databaseUrl` the run's database.
 */
export async function startExpressPeer(
  secret: string,
  statsBody: Buffer,
  databaseUrl: string,
  workers: number,
): Promise<Peer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ferrite-express-peer-'));
  await writeFile(path.join(dir, 'stats.json'), statsBody);
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(ROOT, 'bench/peers/express.ts')], {
    env: {
      ...process.env,
      NODE_ENV: 'production',
      PORT: String(port),
      WORKERS: String(workers),
      JWT_SECRET: secret,
      STATS_FILE: path.join(dir, 'stats.json'),
      DATABASE_URL: databaseUrl,
      // ferrite's default budget: PG_POOL_TOTAL (20) shared by the workers.
      PG_POOL_SIZE: String(Math.max(2, Math.floor(20 / workers))),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const origin = `http://127.0.0.1:${port}`;
  await waitOk(`${origin}/api/health`);
  return { origin, stop: stopper(child, dir) };
}

/** bench/peers/upstream.ts: answers every request after `delayMs`. */
export async function startUpstream(delayMs = 20): Promise<Peer> {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(ROOT, 'bench/peers/upstream.ts')], {
    env: { ...process.env, PORT: String(port), DELAY_MS: String(delayMs) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const origin = `http://127.0.0.1:${port}`;
  await waitOk(`${origin}/`);
  return {
    origin,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    },
  };
}
