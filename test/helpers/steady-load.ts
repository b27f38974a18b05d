import http2 from 'node:http2';
import { setTimeout as sleep } from 'node:timers/promises';
import { H1Client, type Reply } from './clients.ts';

/** One request of the load that did not get the answer it should have. */
export interface Failure {
  /** ms since the load started, when the request was sent and when it failed. */
  sentAt: number;
  failedAt: number;
  what: string;
}

export interface LoadResult {
  ok: number;
  failures: Failure[];
}

export interface SteadyLoadOptions {
  /** The balancer's cleartext origin (HTTP/1.1 loops). */
  origin: string;
  /** The balancer's TLS origin and its certificate (HTTP/2 loops). */
  secureOrigin: string;
  ca: Buffer;
  token: string;
  projectId: string;
  /** Concurrent HTTP/1.1 loops and HTTP/2 streams. */
  h1Loops?: number;
  h2Loops?: number;
}

/**
 * What a client fleet would send, without pause, until stopped: over HTTP/1.1 keep-alive
 * connections and one HTTP/2 (TLS) connection, a health check, an authenticated read from
 * Postgres and a file write (not retried by the balancer: it is not idempotent). Any network
 * error, 5xx or unexpected status is a failure, recorded with when it was sent.
 */
export class SteadyLoad {
  readonly #o: Required<SteadyLoadOptions>;
  readonly #started = performance.now();
  readonly #result: LoadResult = { ok: 0, failures: [] };
  #running = true;
  #loops: Promise<void>[] = [];
  #h1: H1Client;
  #h2: http2.ClientHttp2Session | undefined;

  constructor(opts: SteadyLoadOptions) {
    this.#o = { h1Loops: 6, h2Loops: 4, ...opts };
    this.#h1 = new H1Client();
    for (let i = 0; i < this.#o.h1Loops; i++) this.#loops.push(this.#loop(`h1-${i}`, (r) => this.#viaH1(r)));
    for (let i = 0; i < this.#o.h2Loops; i++) this.#loops.push(this.#loop(`h2-${i}`, (r) => this.#viaH2(r)));
  }

  /** ms since the load started. */
  now(): number {
    return performance.now() - this.#started;
  }

  get ok(): number {
    return this.#result.ok;
  }

  async stop(): Promise<LoadResult> {
    this.#running = false;
    await Promise.all(this.#loops);
    await this.#h1.close();
    this.#h2?.close();
    return this.#result;
  }

  async #loop(name: string, send: (r: Req) => Promise<Reply>): Promise<void> {
    const { token, projectId } = this.#o;
    const auth = { authorization: `Bearer ${token}` };
    const requests: Req[] = [
      { path: '/api/health', expect: 200 },
      { path: `/api/projects/${projectId}`, headers: auth, expect: 200 },
      {
        method: 'PUT',
        path: `/api/projects/${projectId}/files/load/${name}.txt`,
        headers: { ...auth, 'content-type': 'text/plain' },
        body: `${name} ${Date.now()}`,
        expect: [200, 201],
      },
    ];
    for (let i = 0; this.#running; i++) {
      const r = requests[i % requests.length] as Req;
      const sentAt = this.now();
      try {
        const res = await send(r);
        const expected = Array.isArray(r.expect) ? r.expect : [r.expect];
        if (expected.includes(res.status)) this.#result.ok++;
        else this.#fail(sentAt, `${r.method ?? 'GET'} ${r.path}: ${res.status} ${res.text().slice(0, 200)}`);
      } catch (err) {
        this.#fail(sentAt, `${r.method ?? 'GET'} ${r.path}: ${(err as Error).message}`);
        // A broken connection is replaced, as a client library would.
        await sleep(5);
      }
    }
  }

  #fail(sentAt: number, what: string): void {
    this.#result.failures.push({ sentAt, failedAt: this.now(), what });
  }

  #viaH1(r: Req): Promise<Reply> {
    return this.#h1.request(`${this.#o.origin}${r.path}`, {
      method: r.method,
      headers: r.headers,
      body: r.body,
    });
  }

  #session(): http2.ClientHttp2Session {
    if (!this.#h2 || this.#h2.closed || this.#h2.destroyed) {
      const session = http2.connect(this.#o.secureOrigin, { ca: this.#o.ca });
      session.on('error', () => undefined);
      this.#h2 = session;
    }
    return this.#h2;
  }

  #viaH2(r: Req): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const stream = this.#session().request({
        ':method': r.method ?? 'GET',
        ':path': r.path,
        ...r.headers,
      });
      const chunks: Buffer[] = [];
      let status = 0;
      stream.setTimeout(15_000, () => stream.close(http2.constants.NGHTTP2_CANCEL));
      stream.on('response', (h) => {
        status = Number(h[':status']);
      });
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({
          status,
          headers: {},
          body,
          text: () => body.toString('utf8'),
          json: <T>() => JSON.parse(body.toString('utf8')) as T,
        });
      });
      stream.on('close', () => {
        if (status === 0) reject(new Error(`stream closed (${stream.rstCode})`));
      });
      stream.on('error', reject);
      stream.end(r.body);
    });
  }
}

interface Req {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  expect: number | number[];
}
