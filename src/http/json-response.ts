import express, { type Response } from 'express';

/**
 * `res.json` that writes its body as the string it is. express's `res.send` turns a string into
 * a Buffer whenever ETags are on (to hash it once), and Node then writes the response head and
 * that Buffer with writev; a string body is written with the head in one plain write. On a
 * bare node:http server that was ~6 % of a small JSON answer's throughput (issue 12,
 * `bench/decisions/hot-path/`). Same headers, ETag, 304, HEAD and 204 handling as express's;
 * anything this does not cover (JSON settings, a preset Content-Type, a body that does not
 * serialise) goes to express's own.
 */
const expressJson = express.response.json;

function json(this: Response, obj: unknown): Response {
  const app = this.app;
  const body = JSON.stringify(obj);
  if (
    body === undefined ||
    this.getHeader('Content-Type') !== undefined ||
    app.get('json replacer') ||
    app.get('json spaces') ||
    app.get('json escape') ||
    this.getHeader('Transfer-Encoding') !== undefined ||
    this.statusCode === 205
  ) {
    return expressJson.call(this, obj);
  }
  const length = Buffer.byteLength(body, 'utf8');
  this.setHeader('Content-Type', 'application/json; charset=utf-8');
  this.setHeader('Content-Length', length);
  // A route that set its own ETag (a file's version) keeps it, as with express's send.
  if (this.getHeader('ETag') === undefined) {
    const etagFn = app.get('etag fn') as ((body: string, encoding: string) => string | undefined) | undefined;
    const etag = etagFn?.(body, 'utf8');
    if (etag) this.setHeader('ETag', etag);
  }
  if (this.req.fresh) this.status(304);
  if (this.statusCode === 204 || this.statusCode === 304) {
    this.removeHeader('Content-Type');
    this.removeHeader('Content-Length');
    this.end();
  } else {
    if (this.req.method === 'HEAD') this.end();
    else this.end(body, 'utf8');
  }
  return this;
}

// express's response prototype, like the request's `log` getter in context.ts: every app in
// the process, and the HTTP/2 adapter's copy of the prototype, get it.
express.response.json = json;
