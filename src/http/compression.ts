import http2 from 'node:http2';
import compression from 'compression';
import express, { type Express, type Request, type Response } from 'express';
import { http } from '../builtins.ts';

/**
 * Response compression (the `compression` package), set up on a response when it first writes
 * rather than on every request. As a middleware, compression wraps `write`, `end`, `on` and
 * `writeHead` of each response with closures and adds a `close` listener before anything is
 * known about the body; on the API's small JSON answers that was the largest single piece of
 * per-request work after the log line, and V8 came to allocate those closures straight in old
 * space (pretenured), where they cost a mark-compact every few hundred milliseconds
 * (`bench/decisions/hot-path/`, issue 12). Here:
 *
 * - a body sent whole by `end` (`res.json`, `res.send`, problem documents, anything that ends
 *   without writing first) whose length is below the threshold gets only what compression
 *   would have given it, `Vary: Accept-Encoding`, and node's `end`;
 * - any other response gets the middleware, unchanged, at its first `writeHead`, `write`, `end`
 *   or `on('drain')` (the listener compression moves onto its compressor), while its headers can
 *   still change: negotiation, threshold, streaming, `flush` and backpressure are the package's.
 */

type Filter = (req: Request, res: Response) => boolean;
type Middleware = (req: Request, res: Response, next: () => void) => void;

interface Compressor {
  middleware: Middleware;
  filter: Filter;
  threshold: number;
}

const compressors = new WeakMap<object, Compressor>();
/** Set once compression has been decided for a response: set up, or skipped for a small whole body. */
const DECIDED = Symbol('compression decided');
const NO_TRANSFORM = /(?:^|,)\s*?no-transform\s*?(?:,|$)/i;
const noop = () => undefined;

type Method = 'end' | 'write' | 'writeHead' | 'on';
type Target = Response & { [DECIDED]?: true };

/** The method below express's response prototype: node's, for HTTP/1.1 or HTTP/2. */
function base(res: Response, name: Method): (...args: unknown[]) => unknown {
  const proto =
    res instanceof http.ServerResponse ? http.ServerResponse.prototype : http2.Http2ServerResponse.prototype;
  return proto[name] as (...args: unknown[]) => unknown;
}

function install(res: Target): boolean {
  if (res[DECIDED] || res.headersSent) return false;
  const c = compressors.get(res.app);
  if (!c) return false;
  res[DECIDED] = true;
  c.middleware(res.req, res, noop);
  return true;
}

/** Leaves `res` as it is written: the legacy passthrough relays another service's bytes. */
export function leaveUncompressed(res: Response): void {
  (res as Target)[DECIDED] = true;
}

/** Compresses `app`'s responses with these options (the package's, filter and threshold included). */
export function enableCompression(app: Express, options: { threshold: number; filter: Filter }): void {
  compressors.set(app, {
    middleware: compression(options as compression.CompressionOptions) as unknown as Middleware,
    filter: options.filter,
    threshold: options.threshold,
  });
}

/**
 * Whether `end(chunk, encoding)` on a response that has not written yet sends a body compression
 * would leave as is, measured as the package measures it: by Content-Length when one is set,
 * else by the chunk. If so, does what the package does for such a body and marks it decided.
 */
function skippedWhole(res: Target, chunk: unknown, encoding: unknown): boolean {
  const c = compressors.get(res.app);
  if (!c || res.headersSent) return false;
  const declared = res.getHeader('Content-Length');
  let length: number;
  if (declared !== undefined) length = Number(declared);
  else if (typeof chunk === 'string')
    length = Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  else if (chunk instanceof Uint8Array) length = chunk.byteLength;
  else if (chunk === undefined || chunk === null || typeof chunk === 'function') length = 0;
  else return false;
  if (!(length < c.threshold)) return false;
  // Decided: node's `end` writes the head through `writeHead`, which must not set the
  // middleware up after all (it did until issue 12's GC trace showed it).
  res[DECIDED] = true;
  // What compression does for a body below its threshold: Vary, when the filter passes.
  if (c.filter(res.req, res) && !NO_TRANSFORM.test(String(res.getHeader('Cache-Control') ?? ''))) {
    res.vary('Accept-Encoding');
  }
  return true;
}

// Every response of every app goes through these; an app without `enableCompression` and a
// response already set up go straight to node's method.
for (const name of ['end', 'write', 'writeHead'] as const) {
  Object.defineProperty(express.response, name, {
    configurable: true,
    writable: true,
    value(this: Target, ...args: unknown[]) {
      if (!this[DECIDED]) {
        if (name === 'end' && skippedWhole(this, args[0], args[1])) return base(this, name).apply(this, args);
        if (install(this)) return (this[name] as (...a: unknown[]) => unknown)(...args);
      }
      return base(this, name).apply(this, args);
    },
  });
}
Object.defineProperty(express.response, 'on', {
  configurable: true,
  writable: true,
  value(this: Target, type: string | symbol, listener: (...a: unknown[]) => void) {
    if (type === 'drain' && !this[DECIDED] && install(this)) return this.on(type, listener);
    return base(this, 'on').call(this, type, listener);
  },
});
