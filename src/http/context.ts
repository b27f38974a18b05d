import { randomBytes, randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../log.ts';
import type { WorkerMetrics } from '../metrics/worker.metrics.ts';

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

export function parseTraceparent(header: string | undefined): TraceContext {
  const spanId = randomBytes(8).toString('hex');
  const m = header ? TRACEPARENT.exec(header.trim()) : null;
  if (m && m[1] !== ZERO_TRACE && m[2] !== ZERO_SPAN) {
    return { traceId: m[1] as string, parentId: m[2], spanId, flags: m[3] as string };
  }
  return { traceId: randomBytes(16).toString('hex'), parentId: undefined, spanId, flags: '01' };
}

export function traceparent(trace: TraceContext): string {
  return `00-${trace.traceId}-${trace.spanId}-${trace.flags}`;
}

// Query parameters that may carry credentials (e.g. a WebSocket's ?token=) are not logged.
const SECRET_PARAMS = /([?&](?:token|access_token|refresh_token|password|api_key)=)[^&]*/gi;

export function redactUrl(url: string): string {
  return url.replace(SECRET_PARAMS, '$1[redacted]');
}

/** The route label for logs and metrics: the matched pattern, never the raw URL. */
function routeOf(req: Request): string {
  const pattern = req.route?.path;
  return typeof pattern === 'string' ? `${req.baseUrl}${pattern}` : 'unmatched';
}

/**
 * First middleware: request id (accepted when well-formed, else generated, always echoed),
 * W3C trace context, a child logger, and one log line (the logger's bindings name the worker)
 * plus metrics when the response ends.
 */
export function requestContext(log: Logger, metrics: WorkerMetrics) {
  return (req: Request, res: Response, next: NextFunction) => {
    const start = process.hrtime.bigint();
    const incoming = req.headers['x-request-id'];
    req.id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    const tp = req.headers.traceparent;
    req.trace = parseTraceparent(typeof tp === 'string' ? tp : undefined);
    // A child logger per request is costly (the lab measured it); most requests never log
    // anything but their one line, so the child is made on first use.
    let child: Logger | undefined;
    Object.defineProperty(req, 'log', {
      configurable: true,
      get: () => {
        child ??= log.child({ requestId: req.id, traceId: req.trace.traceId });
        return child;
      },
    });
    res.setHeader('X-Request-Id', req.id);

    let logged = false;
    const done = () => {
      if (logged) return;
      logged = true;
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const route = routeOf(req);
      const protocol = req.httpVersionMajor === 2 ? 'h2' : 'http/1.1';
      const status = res.headersSent ? res.statusCode : 499;
      metrics.observeRequest({ method: req.method, route, status_code: status, protocol }, seconds);
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
    };
    res.once('finish', done);
    res.once('close', done);
    next();
  };
}
