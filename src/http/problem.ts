import type { NextFunction, Request, Response } from 'express';
import { AppError, type ErrorCode, errorCodes, toProblem } from '../errors.ts';

// Conditions logged once where they start (pool, drain, a breaker opening) or chosen by the
// deployment (a gateway prefix without an upstream), not once per request they affect.
const EXPECTED_OUTAGES = new Set<ErrorCode>([
  'DATABASE_UNAVAILABLE',
  'SHUTTING_DOWN',
  'UPSTREAM_CIRCUIT_OPEN',
  'UPSTREAM_NOT_CONFIGURED',
]);

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

// body-parser and raw-body report their failures with a `type`; each maps to one code.
const BODY_ERRORS: Record<string, ErrorCode> = {
  'entity.parse.failed': 'MALFORMED_JSON',
  'entity.too.large': 'PAYLOAD_TOO_LARGE',
  'entity.verify.failed': 'BAD_REQUEST',
  'encoding.unsupported': 'UNSUPPORTED_MEDIA_TYPE',
  'charset.unsupported': 'UNSUPPORTED_MEDIA_TYPE',
  'request.aborted': 'BAD_REQUEST',
  'request.size.invalid': 'BAD_REQUEST',
  'stream.encoding.set': 'BAD_REQUEST',
  'parameters.too.many': 'BAD_REQUEST',
};

// pg's DatabaseError, recognised by shape so that the HTTP layer does not import the driver.
function isDatabaseError(err: unknown): err is { code: string; severity: string } {
  const e = err as { code?: unknown; severity?: unknown } | undefined;
  return typeof e?.code === 'string' && typeof e.severity === 'string';
}

function toAppError(err: unknown): AppError | undefined {
  if (err instanceof AppError) return err;
  const type = (err as { type?: unknown })?.type;
  if (typeof type === 'string' && type in BODY_ERRORS) {
    const code = BODY_ERRORS[type] as ErrorCode;
    const detail =
      code === 'PAYLOAD_TOO_LARGE'
        ? `Request body exceeds the limit of ${(err as { limit?: number }).limit} bytes.`
        : code === 'MALFORMED_JSON'
          ? 'The request body is not valid JSON.'
          : (err as Error).message;
    return new AppError(code, { detail, cause: err });
  }
  // Safety net: Postgres refused a value (class 22, data exception: bad text representation,
  // out-of-range date, NUL, untranslatable character). Validation should have caught it first;
  // the SQL message names tables and functions, so it goes to the log only.
  if (isDatabaseError(err) && /^22[0-9A-Z]{3}$/.test(err.code)) {
    return new AppError('BAD_REQUEST', {
      detail: 'A value in the request cannot be stored or compared (wrong form or out of range).',
      cause: err,
    });
  }
  // Client errors raised by express and its router, e.g. a path parameter that is not valid
  // percent-encoding (a plain Error with status 400).
  const status = (err as { status?: unknown })?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = (Object.keys(errorCodes) as ErrorCode[]).find((c) => errorCodes[c].status === status);
    return new AppError(code ?? 'BAD_REQUEST', { detail: (err as Error).message, cause: err });
  }
  return undefined;
}

/**
 * Writes `err` as problem+json. Straight to Node's response rather than through express's
 * `type` and `send` (which parse and re-format the content type and hash the body for an ETag
 * no problem document needs): an error is an answer as common as any on the hot path, and
 * 401/404 are what scanners and expired tokens get by the thousand (issue 12).
 */
export function sendProblem(req: Request, res: Response, err: AppError): void {
  if (err.headers) res.set(err.headers);
  const body = JSON.stringify(toProblem(err, req.originalUrl, req.id));
  const length = Buffer.byteLength(body, 'utf8');
  res.statusCode = err.status;
  res.setHeader('Content-Type', PROBLEM_CONTENT_TYPE);
  res.setHeader('Content-Length', length);
  if (req.method === 'HEAD') res.end();
  else res.end(body, 'utf8');
}

/**
 * Unknown routes answer 404 in the same problem form as every other error. Handed to `next`
 * rather than thrown: a throw caught by the router cost a 404 ~3.5 µs more (issue 12, profiled
 * side by side with the express peer), and scanners send 404s by the thousand.
 */
export function notFound(req: Request, _res: Response, next: NextFunction): void {
  next(new AppError('NOT_FOUND', { detail: `No route for ${req.method} ${req.path}` }));
}

/**
 * The one error middleware. Known errors become their problem document; anything else is a
 * 500 that says only "Internal server error" and the request id: its message and stack stay in
 * the log, and reach the body only with EXPOSE_ERRORS=true (whatever NODE_ENV says).
 */
export function errorHandler(exposeErrors: boolean) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    let appErr = toAppError(err);
    if (!appErr || appErr.code === 'INTERNAL') {
      req.log.error({ err }, 'unhandled error');
      const exposed =
        exposeErrors && err instanceof Error ? { message: err.message, stack: err.stack } : undefined;
      appErr = new AppError('INTERNAL', { detail: 'Internal server error', extensions: exposed, cause: err });
    } else if (appErr.status >= 500 && !EXPECTED_OUTAGES.has(appErr.code)) {
      req.log.warn({ code: appErr.code, err: appErr.cause ?? appErr }, appErr.message);
    } else if (appErr.code === 'BAD_REQUEST' && isDatabaseError(appErr.cause)) {
      // A refused value reached the database: a validation gap worth finding in the log.
      req.log.warn({ err: appErr.cause }, appErr.message);
    }
    if (res.headersSent) {
      // Part of a response already went out; the only honest signal left is to cut it short.
      res.destroy();
      return;
    }
    sendProblem(req, res, appErr);
  };
}
