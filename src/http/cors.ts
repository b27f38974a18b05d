// Cross-origin requests (issue 16): a browser app on another origin (seed 003's Next.js
// frontend) calls the API. The `cors` package answers preflights and sets the response headers;
// it is loaded only when CORS_ORIGINS names an origin, and requests without an `Origin` (every
// non-browser client) pass by without entering it.
import { createRequire } from 'node:module';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';

type CorsConfig = Pick<
  Config,
  'CORS_ORIGINS' | 'CORS_CREDENTIALS' | 'CORS_EXPOSED_HEADERS' | 'CORS_MAX_AGE_SECONDS'
>;

/**
 * The CORS middleware for `config`, or undefined when CORS is off. Mounted before every route
 * (ferrite's, the gateway's, the legacy passthrough), so a preflight is answered before any
 * authentication. A preflight from an origin not allowed is refused with 403; any other request
 * from one goes on without CORS headers, so the browser keeps its answer from the page.
 */
export function corsMiddleware(config: CorsConfig): RequestHandler | undefined {
  if (config.CORS_ORIGINS.length === 0) return undefined;
  const cors = createRequire(import.meta.url)('cors') as typeof import('cors');
  const any = config.CORS_ORIGINS.includes('*');
  const origins = new Set(config.CORS_ORIGINS);
  const allowed = (origin: string) => any || origins.has(origin);
  const handle = cors({
    // The request's own origin, echoed when allowed (`*` only without credentials).
    origin: any && !config.CORS_CREDENTIALS ? '*' : (origin, done) => done(null, allowed(origin ?? '')),
    credentials: config.CORS_CREDENTIALS,
    exposedHeaders: config.CORS_EXPOSED_HEADERS,
    maxAge: config.CORS_MAX_AGE_SECONDS,
    optionsSuccessStatus: 204,
  });
  return (req: Request, res: Response, next: NextFunction) => {
    const origin = req.headers.origin;
    if (origin === undefined) {
      next();
      return;
    }
    const preflight = req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
    if (preflight && !allowed(origin)) {
      next(
        new AppError('FORBIDDEN', {
          detail: `Cross-origin requests from ${origin.slice(0, 200)} are not allowed (CORS_ORIGINS).`,
        }),
      );
      return;
    }
    handle(req, res, next);
  };
}
