import { createHash } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * A stand-in for an upstream service (node:http, HTTP/1.1). By default it echoes what it
 * received as JSON (method, url, headers, body size and SHA-256); `on(prefix, handler)` gives a
 * path its own behaviour. Every request is recorded, and requests whose connection closed
 * before the answer finished are counted in `cutShort`.
 */
export class UpstreamDouble {
  readonly received: Received[] = [];
  readonly cutShort: string[] = [];
  readonly #handlers: [string, Handler][] = [];
  #server: http.Server | undefined;
  url = '';

  on(prefix: string, handler: Handler): this {
    this.#handlers.unshift([prefix, handler]);
    return this;
  }

  /** Requests received whose path starts with `prefix`. */
  count(prefix: string): number {
    return this.received.filter((r) => r.url.startsWith(prefix)).length;
  }

  async start(): Promise<string> {
    this.#server = http.createServer({ keepAliveTimeout: 5000 }, (req, res) => {
      this.received.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
      });
      res.once('close', () => {
        if (!res.writableFinished) this.cutShort.push(req.url ?? '');
      });
      const handler = this.#handlers.find(([prefix]) => (req.url ?? '').startsWith(prefix))?.[1] ?? echo;
      handler(req, res);
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this.url;
  }

  close(): Promise<void> {
    this.#server?.closeAllConnections();
    return new Promise((resolve) => this.#server?.close(() => resolve()) ?? resolve());
  }
}

/** Reads the body, answering {method, url, headers, bytes, sha256}. */
export function echo(req: IncomingMessage, res: ServerResponse, extraHeaders: http.OutgoingHttpHeaders = {}) {
  const hash = createHash('sha256');
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    hash.update(chunk);
  });
  req.on('end', () => {
    const body = JSON.stringify({
      method: req.method,
      url: req.url,
      headers: req.headers,
      bytes,
      sha256: hash.digest('hex'),
    });
    res.writeHead(200, { 'content-type': 'application/json', ...extraHeaders }).end(body);
  });
}

/** `size` bytes of a repeating pattern, written with backpressure. */
export function streamBytes(res: ServerResponse, size: number, chunk: Buffer): void {
  let sent = 0;
  const pump = () => {
    while (sent < size) {
      const piece = chunk.subarray(0, Math.min(chunk.length, size - sent));
      sent += piece.length;
      if (!res.write(piece)) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}
