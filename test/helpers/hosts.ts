// Several ferrite hosts on one machine, for the scale-out tests and the lab's `two-hosts`
// scenario: each host is a whole service (primary, workers, its own DATA_DIR) in a network
// namespace of its own when the machine allows it (root, iproute2), reached over a veth pair
// like a host on a LAN; elsewhere on an address of its own on the loopback interface.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Env, killOnExit, type RunningCluster, startCluster } from './cluster.ts';
import { TcpProxy } from './tcp-proxy.ts';

/** Where a host lives on the network. */
export interface HostNet {
  readonly kind: 'netns' | 'loopback';
  /** The address the host binds and the balancer reaches it at. */
  readonly address: string;
  /** The address the host sees the balancer (and the test) connect from: its TRUST_PROXY. */
  readonly peer: string;
  /** Prefix that runs a command on the host (`ip netns exec NAME`), or none. */
  readonly prefix: string[];
  /** Makes a server of the test's (`url`) reachable from the host; resolves with its URL there. */
  reach(url: string): Promise<string>;
  close(): Promise<void>;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

let netnsUsable: boolean | undefined;

/**
 * Whether hosts get network namespaces: root, `ip netns` working, and TEST_HOSTS_NET not set to
 * `loopback` (which forces the fallback).
 */
export function namespacesUsable(): boolean {
  if (netnsUsable !== undefined) return netnsUsable;
  netnsUsable = false;
  if (process.env.TEST_HOSTS_NET === 'loopback' || process.getuid?.() !== 0) return false;
  const probe = `fx${process.pid}p`;
  const added = spawnSync('ip', ['netns', 'add', probe], { stdio: 'ignore' });
  if (added.status !== 0) return false;
  spawnSync('ip', ['netns', 'del', probe], { stdio: 'ignore' });
  netnsUsable = true;
  return true;
}

/** Second octet of this process's 10.x.0.0/16: distinct for concurrent test processes. */
const subnet = 64 + (process.pid % 180);
/** Third octet of the 127.x.y.0/24 used by the loopback fallback. */
const loopbackNet = 1 + (process.pid % 250);

const namespaces = new Set<string>();
process.once('exit', () => {
  for (const ns of namespaces) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
});

/**
 * Host `index` (1, 2, …) of this test process on the network: in a namespace of its own where
 * that can be made, unless `loopback` is asked for (the lab: a namespace's database connections
 * pass through a forwarder in this process, which would weigh on what it measures).
 */
export async function hostNet(index: number, prefer: 'netns' | 'loopback' = 'netns'): Promise<HostNet> {
  const forwarders: TcpProxy[] = [];
  if (prefer === 'loopback' || !namespacesUsable()) {
    const address = `127.${loopbackNet}.0.${index + 1}`;
    return {
      kind: 'loopback',
      address,
      // Not all of loopback: the tests' clients connect from other 127.0.0.x addresses, and a
      // client must not be believed when it forges X-Forwarded-For.
      peer: '127.0.0.1',
      prefix: [],
      reach: async (url) => url,
      close: async () => undefined,
    };
  }
  // Interface names are limited to 15 characters.
  const ns = `fx${process.pid}h${index}`;
  const outside = `fx${process.pid}a${index}`;
  const inside = `fx${process.pid}b${index}`;
  const gateway = `10.${subnet}.${index}.1`;
  const address = `10.${subnet}.${index}.2`;
  ip('netns', 'add', ns);
  namespaces.add(ns);
  ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', inside, 'netns', ns);
  ip('addr', 'add', `${gateway}/30`, 'dev', outside);
  ip('link', 'set', outside, 'up');
  ip('-n', ns, 'addr', 'add', `${address}/30`, 'dev', inside);
  ip('-n', ns, 'link', 'set', inside, 'up');
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  return {
    kind: 'netns',
    address,
    peer: gateway,
    prefix: ['ip', 'netns', 'exec', ns],
    async reach(url) {
      // A forwarder on this host's side of the link, as a router would be.
      const proxy = new TcpProxy(url);
      await proxy.start(0, gateway);
      forwarders.push(proxy);
      const u = new URL(url);
      if (u.protocol.startsWith('postgres')) return proxy.urlFor(url);
      u.hostname = gateway;
      u.port = String(proxy.port);
      return u.toString().replace(/\/$/, url.endsWith('/') ? '/' : '');
    },
    async close() {
      await Promise.all(forwarders.map((f) => f.cut()));
      // Deleting the namespace deletes its end of the pair, and with it ours.
      spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      namespaces.delete(ns);
    },
  };
}

/** A port free on `address` now (for a host that must come back on the same port). */
export async function freePortOn(address: string): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, address, resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface HostOptions {
  /** DATABASE_URL as the test sees it; each host reaches it through its own link. */
  databaseUrl: string;
  /** Environment of every start of this host (on top of the test defaults). */
  env?: Env;
  /** Variables naming a server of the test's (a URL): each host gets the URL it reaches it at. */
  reachEnv?: Record<string, string>;
  workers?: number;
}

/**
 * One ferrite host: a whole service with its own DATA_DIR, bound to its own address on a fixed
 * port (so the balancer finds it again after a restart), TLS left to the balancer.
 */
export class FerriteHost {
  readonly name: string;
  readonly net: HostNet;
  readonly port: number;
  readonly #opts: HostOptions;
  readonly #dataDir: string;
  #reached: Env | undefined;
  #cluster: RunningCluster | undefined;

  private constructor(name: string, hostNet: HostNet, port: number, dataDir: string, opts: HostOptions) {
    this.name = name;
    this.net = hostNet;
    this.port = port;
    this.#dataDir = dataDir;
    this.#opts = opts;
  }

  static async create(index: number, opts: HostOptions): Promise<FerriteHost> {
    const where = await hostNet(index);
    // A namespace has its ports to itself: every host uses the service's usual port.
    const port = where.kind === 'netns' ? 8080 : await freePortOn(where.address);
    const dataDir = await mkdtemp(path.join(tmpdir(), `ferrite-host${index}-`));
    return new FerriteHost(`host${index}`, where, port, dataDir, opts);
  }

  get cluster(): RunningCluster {
    if (!this.#cluster) throw new Error(`${this.name} is not running`);
    return this.#cluster;
  }

  get running(): boolean {
    const c = this.#cluster;
    return c !== undefined && c.process.exitCode === null && c.process.signalCode === null;
  }

  /** `http://address:port` followed by `p`: the host itself, not through the balancer. */
  url(p = ''): string {
    return `http://${this.net.address}:${this.port}${p}`;
  }

  /** Starts (or starts again) the service; resolves once it is ready. */
  async start(env: Env = {}): Promise<RunningCluster> {
    if (!this.#reached) {
      const reached: Env = { DATABASE_URL: await this.net.reach(this.#opts.databaseUrl) };
      for (const [k, url] of Object.entries(this.#opts.reachEnv ?? {}))
        reached[k] = await this.net.reach(url);
      this.#reached = reached;
    }
    this.#cluster = await startCluster({
      workers: this.#opts.workers ?? 2,
      address: this.net.address,
      prefix: this.net.prefix,
      dataDir: this.#dataDir,
      env: {
        HTTP_PORT: String(this.port),
        HTTPS_PORT: 'off',
        METRICS_HOST: this.net.address,
        // X-Forwarded-For from the balancer (and only from it) names the client.
        TRUST_PROXY: this.net.peer,
        ...this.#reached,
        ...this.#opts.env,
        ...env,
      },
    });
    killOnExit(this.#cluster);
    return this.#cluster;
  }

  /** A graceful stop (SIGTERM): resolves with the exit code. */
  async stop(): Promise<number | null> {
    const c = this.#cluster;
    if (!c || !this.running) return c ? c.exited : null;
    return c.stop('SIGTERM');
  }

  /** The host dies at once: SIGKILL to the primary and every process below it. */
  async kill(): Promise<void> {
    const c = this.#cluster;
    if (!c || !this.running) return;
    const pids = [c.pid, ...c.descendantPids('')];
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await c.exited;
  }

  async close(): Promise<void> {
    await this.kill();
    await this.net.close();
    await rm(this.#dataDir, { recursive: true, force: true });
  }
}
