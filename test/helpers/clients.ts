import http2 from 'node:http2';
import { Agent, request } from 'undici';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text(): string;
  json<T = Record<string, unknown>>(): T;
}

export interface RequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/** The Authorization header for a bearer token. */
export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

function reply(status: number, headers: Reply['headers'], body: Buffer): Reply {
  return {
    status,
    headers,
    body,
    text: () => body.toString('utf8'),
    json: <T>() => JSON.parse(body.toString('utf8')) as T,
  };
}

/** HTTP/1.1 over TCP or TLS (undici); keeps connections alive like a real client. */
export class H1Client {
  readonly agent: Agent;
  /**
   * `connections: 1` pins every request to one connection, hence to one worker; `localAddress`
   * connects from that address (a client of its own, as far as per-address limits go).
   */
  constructor(ca?: Buffer, options: { connections?: number; localAddress?: string } = {}) {
    this.agent = new Agent({
      connect: ca ? { ca } : {},
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      connections: options.connections ?? null,
      allowH2: false,
      headersTimeout: 15_000,
      bodyTimeout: 15_000,
    });
  }
  async request(url: string, init: RequestInit = {}): Promise<Reply> {
    const res = await request(url, {
      dispatcher: this.agent,
      method: (init.method ?? 'GET') as 'GET',
      headers: init.headers,
      body: init.body,
    });
    const body = Buffer.from(await res.body.arrayBuffer());
    return reply(res.statusCode, res.headers, body);
  }
  close(): Promise<void> {
    return this.agent.close();
  }
}

/** HTTP/2, cleartext with prior knowledge (http://) or TLS with ALPN (https://). */
export class H2Client {
  readonly session: http2.ClientHttp2Session;
  goaway = false;
  constructor(origin: string, ca?: Buffer) {
    this.session = http2.connect(origin, ca ? { ca } : {});
    this.session.on('error', () => undefined);
    this.session.on('goaway', () => {
      this.goaway = true;
    });
  }
  request(path: string, init: RequestInit = {}): Promise<Reply> {
    return h2request(this.session, path, init);
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.session.close(() => resolve()));
  }
}

/** A request on an HTTP/2 session (so on the worker behind it). */
export function h2request(
  session: http2.ClientHttp2Session,
  path: string,
  init: RequestInit = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': init.method ?? 'GET', ':path': path, ...init.headers });
    const chunks: Buffer[] = [];
    let head: http2.IncomingHttpHeaders = {};
    stream.on('response', (h) => {
      head = h;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () =>
      resolve(reply(Number(head[':status']), head as Reply['headers'], Buffer.concat(chunks))),
    );
    stream.on('error', reject);
    stream.end(init.body);
  });
}

/** One request on a fresh HTTP/2 connection. */
export async function h2once(origin: string, path: string, init: RequestInit = {}, ca?: Buffer) {
  const c = new H2Client(origin, ca);
  try {
    return await c.request(path, init);
  } finally {
    await c.close();
  }
}
