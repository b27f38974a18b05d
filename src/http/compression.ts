import http from 'node:http';
import http2 from 'node:http2';
import compression from 'compression';
import express, { type Express, type Request, type Response } from 'express';

/**
 * Response compression (the `compression` package), set up on a response when it first writes
 * rather than on every request. As a middleware, compression wraps `write`, `end`, `on` and
 * `writeHead` of each response and adds a `close` listener before anything is known about the
 * body; on the API's small JSON answers that was the largest single piece of per-request work
 * after the log line (`bench/decisions/hot-path/`, issue 12). Here:
 *
 * - a body sent whole and known to be below the threshold (`res.json`, problem documents: see
 *   `endWhole`) gets only what compression would have given it, `Vary: Accept-Encoding`;
 * - any other response gets the middleware, unchanged, at its first `writeHead`, `write`, `end`
 *   or `on('drain')` (the listener compression moves onto its compressor), while its headers can
 *   still change: negotiation, threshold, streaming, `flush` and backpressure are the package's.
 *
 * `installNow` sets it up at once, for a middleware that wraps the response methods itself and
 * must see the body before compression does (the gateway's shadow capture).
 */

type Filter = (req: Request, res: Response) => boolean;
type Middleware = (req: Request, res: Response, next: () => void) => void;

interface Compressor {
  middleware: Middleware;
  filter: Filter;
  threshold: number;
}

const compressors = new WeakMap<object, Compressor>();
/** Set once compression has been decided for a response: set up, or skipped by `endWhole`. */
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

/** Compresses `app`'s responses with these options (the package's, filter and threshold included). */
export function enableCompression(app: Express, options: { threshold: number; filter: Filter }): void {
  compressors.set(app, {
    middleware: compression(options as compression.CompressionOptions) as unknown as Middleware,
    filter: options.filter,
    threshold: options.threshold,
  });
}

/** Sets compression up on `res` now (see the module's comment). */
export function installNow(res: Response): void {
  install(res);
}

/**
 * Ends `res` with `body` (`length` bytes, or no body for HEAD, 204 and 304), bypassing
 * compression when it would leave the body as is: below the threshold and not yet set up.
 * Otherwise `res.end` as usual.
 */
export function endWhole(res: Response, body: string | undefined, length: number): void {
  const c = compressors.get(res.app);
  if (c && !(res as Target)[DECIDED] && length < c.threshold) {
    // Decided: node's `end` writes the head through `writeHead`, which must not set the
    // middleware up after all (it did until this was marked: issue 12's GC trace).
    (res as Target)[DECIDED] = true;
    // What compression does for a body below its threshold: Vary, when the filter passes.
    if (c.filter(res.req, res) && !NO_TRANSFORM.test(String(res.getHeader('Cache-Control') ?? ''))) {
      res.vary('Accept-Encoding');
    }
    base(res, 'end').call(res, body, 'utf8');
    return;
  }
  if (body === undefined) res.end();
  else res.end(body, 'utf8');
}

// Every response of every app goes through these; an app without `enableCompression` and a
// response already set up go straight to node's method.
for (const name of ['end', 'write', 'writeHead'] as const) {
  Object.defineProperty(express.response, name, {
    configurable: true,
    writable: true,
    value(this: Target, ...args: unknown[]) {
      if (!this[DECIDED] && install(this)) return (this[name] as (...a: unknown[]) => unknown)(...args);
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
