import net from 'node:net';

/**
 * A TCP forwarder between the service and Postgres that a test can cut and restore,
 * to make the database unreachable without touching the database itself.
 */
export class TcpProxy {
  readonly #target: { host: string; port: number } | { path: string };
  readonly #sockets = new Set<net.Socket>();
  #server: net.Server | undefined;
  port = 0;
  host = '127.0.0.1';

  constructor(targetUrl: string) {
    const u = new URL(targetUrl);
    const port = Number(u.port || 5432);
    // The embedded server is reached over its Unix socket: `?host=<socket dir>`.
    const socketDir = u.searchParams.get('host');
    this.#target = socketDir?.startsWith('/')
      ? { path: `${socketDir}/.s.PGSQL.${port}` }
      : { host: u.hostname, port };
  }

  /** Listens on `host` (127.0.0.1 unless given); resolves with the port. */
  async start(port = 0, host = this.host): Promise<number> {
    this.host = host;
    const server = net.createServer((client) => {
      const upstream = net.connect(this.#target);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, resolve);
    });
    this.#server = server;
    this.port = (server.address() as net.AddressInfo).port;
    return this.port;
  }

  /** Refuses new connections and drops the open ones, like a database that went away. */
  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Listens again on the same port. */
  async restore(): Promise<number> {
    if (this.#server) return this.port;
    return this.start(this.port);
  }

  urlFor(databaseUrl: string): string {
    const u = new URL(databaseUrl);
    u.hostname = this.host;
    u.port = String(this.port);
    u.searchParams.delete('host');
    return u.toString();
  }
}
