// A real load balancer in front of ferrite hosts: Debian's HAProxy, round-robin, HTTP/1.1 and
// h2c on one port, TLS (h2 and HTTP/1.1 by ALPN) on another, active health checks on
// /api/ready, and the stats page the tests read the servers' states from. The configuration is
// the one docs/scaling.md recommends, with the check interval shortened for tests.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePortOn } from './hosts.ts';

export interface Backend {
  name: string;
  address: string;
  port: number;
}

export interface BalancerOptions {
  /** Health-check interval in ms (HAProxy `inter`); a server is down after `fall` failed checks. */
  checkIntervalMs?: number;
  fall?: number;
  rise?: number;
  /** HAProxy threads (the lab gives it one core's worth). */
  threads?: number;
  /** False: a balancer that retries nothing (what the shutdown delay is for). */
  retries?: boolean;
}

export type ServerState = 'UP' | 'DOWN' | 'MAINT' | string;

/** Where HAProxy is, or why there is none (test/runner/system.ts installs it as root). */
export function haproxyPath(): string | undefined {
  for (const p of ['/usr/sbin/haproxy', '/usr/bin/haproxy', '/usr/local/sbin/haproxy']) {
    try {
      execFileSync(p, ['-v'], { stdio: 'ignore' });
      return p;
    } catch {
      // not there
    }
  }
  return undefined;
}

/** A self-signed certificate and key for `localhost` in one PEM, as HAProxy's `crt` wants. */
async function selfSigned(dir: string): Promise<{ pem: string; cert: Buffer }> {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  const pem = path.join(dir, 'balancer.pem');
  const certPem = await readFile(cert);
  await writeFile(pem, Buffer.concat([certPem, await readFile(key)]));
  return { pem, cert: certPem };
}

export class Balancer {
  readonly #opts: Required<BalancerOptions>;
  #child: ChildProcess | undefined;
  #dir = '';
  #stderr = '';
  ports = { http: 0, https: 0, stats: 0 };
  /** The certificate clients of the TLS port must trust. */
  ca: Buffer = Buffer.alloc(0);

  constructor(opts: BalancerOptions = {}) {
    this.#opts = { checkIntervalMs: 250, fall: 2, rise: 2, threads: 1, retries: true, ...opts };
  }

  /** `http://127.0.0.1:port` (HTTP/1.1 and h2 prior knowledge) followed by `p`. */
  url(p = ''): string {
    return `http://127.0.0.1:${this.ports.http}${p}`;
  }

  /** `https://localhost:port` (TLS; ALPN h2 or http/1.1) followed by `p`. */
  secureUrl(p = ''): string {
    return `https://localhost:${this.ports.https}${p}`;
  }

  config(backends: Backend[], pem: string): string {
    const { checkIntervalMs, fall, rise, threads, retries } = this.#opts;
    const servers = backends.map((b) => `  server ${b.name} ${b.address}:${b.port}`);
    // A test may pin a request to a server by name (`x-test-host`); a server that is down is
    // passed over as usual, which is how a client's reconnect finds the other host.
    const pins = backends.map((b) => `  use-server ${b.name} if { req.hdr(x-test-host) -m str ${b.name} }`);
    return [
      'global',
      `  nbthread ${threads}`,
      // Two descriptors a connection; the hard limit here is 20,000.
      '  maxconn 9000',
      '',
      'defaults',
      '  mode http',
      '  timeout connect 2s',
      '  timeout client 60s',
      '  timeout server 60s',
      '  timeout http-keep-alive 10s',
      // Event streams and WebSockets.
      '  timeout tunnel 1h',
      '  option http-keep-alive',
      '  option forwardfor',
      // A connection a host refused (it is stopping, or gone) is tried on another host, any
      // method: nothing was sent. Other failures are retried for safe methods only.
      ...(retries
        ? ['  retries 3', '  option redispatch 1', '  retry-on conn-failure empty-response response-timeout']
        : ['  retries 0', '  retry-on none']),
      '',
      'frontend web',
      `  bind 127.0.0.1:${this.ports.http}`,
      `  bind 127.0.0.1:${this.ports.https} ssl crt ${pem} alpn h2,http/1.1`,
      '  default_backend ferrite',
      '',
      'backend ferrite',
      '  balance roundrobin',
      '  http-request disable-l7-retry if !{ method GET HEAD OPTIONS }',
      '  option httpchk GET /api/ready',
      '  http-check expect status 200',
      `  default-server check inter ${checkIntervalMs} fall ${fall} rise ${rise} maxconn 5000`,
      ...pins,
      ...servers,
      '',
      'listen stats',
      `  bind 127.0.0.1:${this.ports.stats}`,
      '  stats enable',
      '  stats uri /stats',
      '',
    ].join('\n');
  }

  /** Starts HAProxy in front of `backends`; resolves once it listens. */
  async start(backends: Backend[]): Promise<void> {
    const bin = haproxyPath();
    if (!bin) throw new Error('HAProxy is not installed: apt-get install -y haproxy');
    this.#dir = await mkdtemp(path.join(tmpdir(), 'ferrite-balancer-'));
    const { pem, cert } = await selfSigned(this.#dir);
    this.ca = cert;
    this.ports = {
      http: await freePortOn('127.0.0.1'),
      https: await freePortOn('127.0.0.1'),
      stats: await freePortOn('127.0.0.1'),
    };
    const cfg = path.join(this.#dir, 'haproxy.cfg');
    await writeFile(cfg, this.config(backends, pem));
    // -db: in the foreground, no daemon.
    const child = spawn(bin, ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#child = child;
    child.stderr?.on('data', (d) => {
      this.#stderr += d;
    });
    process.once('exit', () => child.kill('SIGKILL'));
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error(`HAProxy exited: ${this.#stderr}`);
      try {
        await this.states();
        return;
      } catch {
        if (i > 100) throw new Error(`HAProxy did not start: ${this.#stderr}`);
        await sleep(50);
      }
    }
  }

  /** Each server's state as HAProxy sees it now (its stats page, CSV). */
  async states(): Promise<Record<string, ServerState>> {
    const res = await fetch(`http://127.0.0.1:${this.ports.stats}/stats;csv`);
    const text = await res.text();
    const [head, ...rows] = text.replace(/^# /, '').trim().split('\n');
    const cols = (head as string).split(',');
    const [px, sv, st] = ['pxname', 'svname', 'status'].map((c) => cols.indexOf(c)) as [
      number,
      number,
      number,
    ];
    const out: Record<string, ServerState> = {};
    for (const row of rows) {
      const f = row.split(',');
      if (f[px] === 'ferrite' && f[sv] !== 'BACKEND' && f[sv] !== 'FRONTEND') {
        // "UP 1/2" while rising, "DOWN 1/2" while falling: the state is the first word.
        out[f[sv] as string] = (f[st] as string).split(' ')[0] as string;
      }
    }
    return out;
  }

  /** Resolves once HAProxy reports `server` in `state` (polling its stats). */
  async waitFor(server: string, state: ServerState, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await this.states();
      if (states[server] === state) return;
      if (Date.now() > deadline) {
        throw new Error(`HAProxy never saw ${server} ${state} (now ${JSON.stringify(states)})`);
      }
      await sleep(50);
    }
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    if (this.#dir) await rm(this.#dir, { recursive: true, force: true });
  }
}
