import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

type Middleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/**
 * Runs a middleware that only sets fixed response headers (helmet with static options) once,
 * at start-up, against a recording response, and returns one middleware that sets the recorded
 * headers. helmet's chain of ~15 small middlewares per request showed in the `stats`
 * flamegraph; the headers it sets do not depend on the request.
 */
export function staticHeaders(middleware: Middleware): RequestHandler {
  const headers = new Map<string, string | number | readonly string[]>();
  const removed = new Set<string>();
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers.set(name, value);
      return recorder;
    },
    removeHeader(name: string) {
      headers.delete(name);
      removed.add(name);
    },
    getHeader: (name: string) => headers.get(name),
    hasHeader: (name: string) => headers.has(name),
  };
  let finished = false;
  middleware(
    { headers: {}, method: 'GET', url: '/' } as IncomingMessage,
    recorder as unknown as ServerResponse,
    (err) => {
      if (err) throw err;
      finished = true;
    },
  );
  if (!finished) throw new Error('the header middleware did not complete synchronously');
  const entries = [...headers];
  const removals = [...removed];
  return (_req: Request, res: Response, next: NextFunction) => {
    for (const [name, value] of entries) res.setHeader(name, value);
    for (const name of removals) res.removeHeader(name);
    next();
  };
}

/**
 * What every API response carries (OWASP REST Security cheat sheet): JSON is never sniffed into
 * HTML, framed, or allowed to load anything if a browser does render it. helmet's full set is for
 * the HTML page (see `mountWeb`); on JSON it is ~700 bytes of headers per response that no client
 * reads, which the lab measured as a large share of a small route's cost.
 */
export function apiHeaders(): RequestHandler {
  return (_req: Request, res: Response, next: NextFunction) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
    res.setHeader('Referrer-Policy', 'no-referrer');
    next();
  };
}
