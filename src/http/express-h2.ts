import http2, { type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import express, { type Express } from 'express';

/**
 * Express 5 swaps every request's and response's prototype for its own objects, which inherit
 * from http.IncomingMessage/ServerResponse. Done to node:http2's compatibility objects, that
 * breaks their streams ("reading 'readable' at IncomingMessage._read") and header handling
 * ("Cannot convert undefined or null to object at ServerResponse.removeHeader").
 *
 * The adapter builds a second pair of prototypes with express's methods on top of
 * Http2ServerRequest/Http2ServerResponse, and dispatches HTTP/2 requests through a view of the
 * app that uses them. Routing, settings and middleware are the app's own.
 */

// RFC 9113 §8.2.2: connection-specific fields are malformed in HTTP/2; node:http2 throws on them.
const CONNECTION_SPECIFIC = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);

const ignore = () => undefined;

function abortedError(): Error {
  return Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
}

interface PingBatch {
  inFlight: boolean;
  next: (() => void)[];
}
const pingBatches = new WeakMap<http2.Http2Session, PingBatch>();

function sendPing(session: http2.Http2Session, batch: PingBatch): void {
  const waiting = batch.next;
  batch.next = [];
  batch.inFlight = true;
  const settle = () => {
    batch.inFlight = false;
    for (const fn of waiting) fn();
    if (batch.next.length > 0) sendPing(session, batch);
  };
  let sent = false;
  try {
    sent = session.ping(settle);
  } catch {
    // a destroyed session: its streams are gone, which the callers check
  }
  if (!sent) setImmediate(settle);
}

/**
 * Runs `fn` once the peer has acknowledged a PING sent after this call: whatever the peer sent
 * before that (a RST_STREAM included) has been read by then, as TCP keeps the order. One PING
 * in flight per session serves every stream waiting when it was sent.
 */
function afterPeerCaughtUp(session: http2.Http2Session, fn: () => void): void {
  let batch = pingBatches.get(session);
  if (!batch) {
    batch = { inFlight: false, next: [] };
    pingBatches.set(session, batch);
  }
  batch.next.push(fn);
  if (!batch.inFlight) sendPing(session, batch);
}

/**
 * node's own http2 client cancels an open upload (`req.close()`) by ending the stream first
 * (END_STREAM) and sending RST_STREAM in a later write, so the server reads a complete body and
 * only then the reset; any client may do the same. The body's end is therefore passed on only
 * once the client has acknowledged a PING sent after END_STREAM arrived; a reset read before
 * that makes the request break off (below) instead of ending. Costs one round trip per request
 * body, never for a request whose HEADERS carried END_STREAM.
 */
function holdEndUntilConfirmed(req: Http2ServerRequest): void {
  const session = req.stream.session;
  // Reset before it was dispatched (frames that arrived together are read in one go): the
  // request is over before anyone reads it.
  if (!session || req.stream.rstCode) {
    req.destroy(abortedError());
    return;
  }
  const push = req.push;
  let held = false;
  req.push = function (this: Http2ServerRequest, chunk: unknown, encoding?: BufferEncoding) {
    if (chunk !== null) return push.call(this, chunk, encoding);
    if (held) return false;
    held = true;
    afterPeerCaughtUp(session, () => {
      if (req.destroyed) return;
      if (req.aborted || (req.stream.rstCode ?? 0) !== 0) req.destroy(abortedError());
      else push.call(req, null);
    });
    return false;
  };
}

function withPrototype<T extends object>(proto: T, methods: object, app: Express): T {
  const descriptors = Object.getOwnPropertyDescriptors(methods);
  return Object.create(proto, {
    ...descriptors,
    app: { configurable: true, enumerable: true, writable: true, value: app },
  });
}

export function createH2Handler(app: Express): (req: Http2ServerRequest, res: Http2ServerResponse) => void {
  const request = withPrototype(http2.Http2ServerRequest.prototype, express.request, app);
  const response = withPrototype(http2.Http2ServerResponse.prototype, express.response, app);

  const baseSetHeader = http2.Http2ServerResponse.prototype.setHeader;
  Object.defineProperties(response, {
    setHeader: {
      value(this: Http2ServerResponse, name: string, value: number | string | readonly string[]) {
        if (CONNECTION_SPECIFIC.has(name.toLowerCase())) return this;
        return baseSetHeader.call(this, name, value);
      },
    },
    // HTTP/2 has no reason phrase; node warns on every use, and express's final handler sets it.
    statusMessage: { get: () => '', set: () => undefined, configurable: true },
  });

  // Same routes and settings, different prototypes for what `handle` attaches.
  const view = Object.create(app, {
    request: { value: request },
    response: { value: response },
  }) as Express;

  return (req, res) => {
    const headers = req.headers;
    // HTTP/2 carries the host in :authority; express and its helpers read Host.
    if (headers.host === undefined && headers[':authority'] !== undefined) {
      headers.host = headers[':authority'];
    }
    // A request body without content-length is normal in HTTP/2, but body parsers
    // (type-is's hasBody) only look for content-length or transfer-encoding.
    if (
      headers['content-length'] === undefined &&
      headers['transfer-encoding'] === undefined &&
      !req.stream.endAfterHeaders &&
      !req.stream.readableEnded
    ) {
      headers['transfer-encoding'] = 'chunked';
    }
    if (!req.stream.endAfterHeaders) holdEndUntilConfirmed(req);
    // node:http2 ends a reset stream's request like a complete one (push(null) on close), so a
    // cancelled upload would look finished to whoever reads it. Like node:http does for
    // HTTP/1.1, an abort before the body ended destroys the request with an error instead.
    req.once('aborted', () => {
      if (!req.readableEnded) req.destroy(abortedError());
    });
    // node:http emits a request's errors only to listeners; so does this adapter.
    req.on('error', ignore);
    (view as unknown as { handle(req: unknown, res: unknown): void }).handle(req, res);
  };
}
