import { randomFillSync, randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from '../log.ts';
import type { WorkerMetrics } from '../metrics/worker.metrics.ts';
import { traceRequest, tracingOn } from '../tracing/index.ts';

export interface TraceContext {
  traceId: string;
  /** The caller's span, when the request carried a valid traceparent. */
  parentId: string | undefined;
  /** This request's span; outgoing calls send `00-traceId-spanId-flags`. */
  spanId: string;
  flags: string;
}

declare global {
  namespace Express {
    interface Request {
      id: string;
      log: Logger;
      trace: TraceContext;
    }
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

// Trace and span ids come from a pool refilled 8 KB at a time: a randomBytes call per id was
// 8 % of a worker's CPU on /api/health in the lab (`npm run profile -- health`).
const entropy = Buffer.allocUnsafe(8192);
let entropyUsed = entropy.length;

function randomHex(bytes: number): string {
  if (entropyUsed + bytes > entropy.length) {
    randomFillSync(entropy);
    entropyUsed = 0;
  }
  const hex = entropy.toString('hex', entropyUsed, entropyUsed + bytes);
  entropyUsed += bytes;
  return hex;
}

export function parseTraceparent(header: string | undefined): TraceContext {
  const spanId = randomHex(8);
  const m = header ? TRACEPARENT.exec(header.trim()) : null;
  if (m && m[1] !== ZERO_TRACE && m[2] !== ZERO_SPAN) {
    return { traceId: m[1] as string, parentId: m[2], spanId, flags: m[3] as string };
  }
  return { traceId: randomHex(16), parentId: undefined, spanId, flags: '01' };
}

export function traceparent(trace: TraceContext): string {
  return `00-${trace.traceId}-${trace.spanId}-${trace.flags}`;
}

// Query parameters that may carry credentials (e.g. a WebSocket's ?token=) are not logged.
const SECRET_PARAMS = /([?&](?:token|access_token|refresh_token|password|api_key)=)[^&]*/gi;

function hasTokenParam(url: string | undefined): boolean {
  return url?.includes('token=') === true && /[?&](?:access_)?token=/.test(url);
}

export function redactUrl(url: string): string {
  // Parameters follow a `?`; most URLs have none and skip the expression.
  return url.includes('?') ? url.replace(SECRET_PARAMS, '$1[redacted]') : url;
}

/**
 * The route label for logs and metrics: the matched pattern, or the label a handler outside
 * the router set in `res.locals.route` (the gateway's `/v1/task/*`), never the raw URL.
 */
export function routeOf(req: Request, res: Response): string {
  const pattern = req.route?.path;
  if (typeof pattern === 'string') return `${req.baseUrl}${pattern}`;
  const label = res.locals?.route;
  return typeof label === 'string' ? label : 'unmatched';
}

interface LazyLog {
  _rootLog: Logger;
  _log?: Logger;
}

// `req.log`: a child logger per request is costly and most requests never log anything but their
// one line, so it is made on first use, by a getter on express's request prototype (the HTTP/2
// adapter copies it). A getter defined on each request instead cost ~20 % of /api/health's
// throughput in the lab: it turns every request object into a slow dictionary-mode object.
Object.defineProperty(express.request, 'log', {
  configurable: true,
  get(this: Request & LazyLog): Logger {
    this._log ??= this._rootLog.child({ requestId: this.id, traceId: this.trace.traceId });
    return this._log;
  },
});

/** The request's id (a well-formed `X-Request-Id`, else a new one) and trace context. */
export function identify(req: Request): void {
  const incoming = req.headers['x-request-id'];
  req.id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
  const tp = req.headers.traceparent;
  req.trace = parseTraceparent(typeof tp === 'string' ? tp : undefined);
}

/**
 * First middleware: request id (accepted when well-formed, else generated, always echoed),
 * W3C trace context, a child logger, and one log line (the logger's bindings name the worker)
 * plus metrics when the response ends.
 */
export function requestContext(log: Logger, metrics: WorkerMetrics) {
  return (req: Request, res: Response, next: NextFunction) => {
    const start = performance.now();
    identify(req);
    (req as Request & LazyLog)._rootLog = log;
    res.setHeader('X-Request-Id', req.id);
    // An answer to a credentialed request is that user's data: no cache may keep it, unless the
    // route sets a policy of its own (revalidated files, event streams). `access_token=` is the
    // EventSource's Authorization.
    if (
      req.headers.authorization !== undefined ||
      req.headers.cookie !== undefined ||
      hasTokenParam(req.url)
    ) {
      res.setHeader('Cache-Control', 'no-store');
    }

    // 'close' follows 'finish' on a completed response and also ends an aborted one: one listener.
    res.once('close', () => {
      const seconds = (performance.now() - start) / 1e3;
      const route = routeOf(req, res);
      const protocol = req.httpVersionMajor === 2 ? 'h2' : 'http/1.1';
      const status = res.headersSent ? res.statusCode : 499;
      metrics.observeRequest(req.method, route, status, protocol, seconds);
      // The line's fields are gathered only when it is written (LOG_LEVEL=warn skips them).
      if (log.isLevelEnabled('info')) {
        log.info(
          {
            requestId: req.id,
            traceId: req.trace.traceId,
            method: req.method,
            route,
            url: redactUrl(req.originalUrl),
            status,
            durationMs: Math.round(seconds * 1e6) / 1e3,
            protocol,
            aborted: !res.writableFinished,
          },
          'request',
        );
      }
    });
    if (tracingOn()) traceRequest(req, res, next, () => routeOf(req, res));
    else next();
  };
}
