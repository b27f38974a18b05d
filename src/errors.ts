/**
 * Every error code the API can answer with. Each becomes an RFC 9457 problem document
 * (`type` = `${PROBLEM_BASE}${code}`, `title`); `description` says when it is answered, for
 * docs/errors.md, which `npm run docs` generates from this table.
 */
export const errorCodes = {
  BAD_REQUEST: {
    status: 400,
    title: 'Bad request',
    description:
      'a request that cannot be read (aborted body, bad encoding), or a value Postgres refused (SQLSTATE class 22; the SQL text stays in the log)',
  },
  MALFORMED_JSON: {
    status: 400,
    title: 'Malformed JSON body',
    description: 'the body is not valid JSON',
  },
  VALIDATION_FAILED: {
    status: 400,
    title: 'Request failed validation',
    description:
      'path, query or body violate the OpenAPI contract, hold NUL or a lone surrogate in any string or key, nest deeper than 64 levels, or a `cursor` this service did not issue; `errors` lists each violation',
  },
  UNAUTHORIZED: {
    status: 401,
    title: 'Authentication required',
    description: 'missing or invalid credentials',
  },
  FORBIDDEN: {
    status: 403,
    title: 'Forbidden',
    description: 'authenticated but not allowed',
  },
  NOT_FOUND: {
    status: 404,
    title: 'Not found',
    description: 'no such route or resource',
  },
  METHOD_NOT_ALLOWED: {
    status: 405,
    title: 'Method not allowed',
    description: 'the route exists but not for this method',
  },
  REQUEST_TIMEOUT: {
    status: 408,
    title: 'Request timeout',
    description:
      'an HTTP/2 request body did not end within `REQUEST_TIMEOUT_MS` or paused longer than `BODY_IDLE_TIMEOUT_MS`',
  },
  CONFLICT: {
    status: 409,
    title: 'Conflict',
    description: 'the resource already exists or changed',
  },
  PAYLOAD_TOO_LARGE: {
    status: 413,
    title: 'Payload too large',
    description: 'body over `BODY_LIMIT_BYTES` (JSON) or `VFS_MAX_FILE_BYTES` (a file)',
  },
  HEADERS_TOO_LARGE: {
    status: 431,
    title: 'Request header fields too large',
    description: "the request's headers (HTTP/1.1) or header list (HTTP/2) are over `MAX_HEADER_SIZE`",
  },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    title: 'Unsupported media type',
    description: 'a JSON endpoint received another media type',
  },
  TOO_MANY_REQUESTS: {
    status: 429,
    title: 'Too many requests',
    description: 'rate limited; see `Retry-After`',
  },
  INTERNAL: {
    status: 500,
    title: 'Internal server error',
    description:
      'unexpected; the body says only "Internal server error" and the `requestId`, details are in the log (message and stack in the body only with `EXPOSE_ERRORS=true`)',
  },
  DATABASE_UNAVAILABLE: {
    status: 503,
    title: 'Database unavailable',
    description: 'Postgres unreachable; see `Retry-After`',
  },
  DATABASE_BUSY: {
    status: 503,
    title: 'Database busy',
    description: 'every database connection of the worker is in use (not an outage); see `Retry-After`',
  },
  SHUTTING_DOWN: {
    status: 503,
    title: 'Service is shutting down',
    description: 'the worker is draining',
  },
  MINER_UNAVAILABLE: {
    status: 503,
    title: 'Miner unavailable',
    description: 'no miner is configured on this host, or its supervisor did not answer',
  },
  NODE_UNAVAILABLE: {
    status: 503,
    title: 'Node unavailable',
    description: '`POST /api/node/rpc` without a configured node (`NODE_RPC_URL`)',
  },
  UPSTREAM_UNAVAILABLE: {
    status: 502,
    title: 'Upstream unavailable',
    description:
      'a gateway upstream refused the connection, does not resolve, or reset it before answering; `upstream` names it',
  },
  UPSTREAM_TIMEOUT: {
    status: 504,
    title: 'Upstream timed out',
    description:
      'a gateway upstream did not connect or answer within `GATEWAY_CONNECT_TIMEOUT_MS` / `GATEWAY_HEADERS_TIMEOUT_MS`',
  },
  UPSTREAM_CIRCUIT_OPEN: {
    status: 503,
    title: 'Upstream circuit open',
    description: "the upstream's circuit breaker is open; see `Retry-After`",
  },
  UPSTREAM_NOT_CONFIGURED: {
    status: 503,
    title: 'Upstream not configured',
    description: '`/v1/task/*` or `/v1/trade/*` without its `*_UPSTREAM_URL` (and no legacy service)',
  },
  INVALID_PLAN: {
    status: 400,
    title: 'Invalid workflow plan',
    description:
      'a workflow plan names an unknown or unavailable tool, has bad arguments, a missing dependency or a cycle; `errors` lists each problem',
  },
  INVALID_PROMPT: {
    status: 400,
    title: 'Prompt not understood',
    description: 'the rule-based planner cannot read the prompt; `grammar` lists what it understands',
  },
  MODEL_UNAVAILABLE: {
    status: 502,
    title: 'Model unavailable',
    description: 'the model (Gemini) failed or answered something unusable, e.g. an invalid plan',
  },
  MODEL_TIMEOUT: {
    status: 504,
    title: 'Model timed out',
    description: 'the model did not answer within `GEMINI_TIMEOUT_MS`',
  },
  INVALID_PATH: {
    status: 400,
    title: 'Invalid file path',
    description:
      'a file path breaks a path rule (`..`, absolute, control characters, too long or deep); `reason` names the rule',
  },
  PRECONDITION_FAILED: {
    status: 412,
    title: 'Precondition failed',
    description:
      '`If-Match` / `If-None-Match` did not hold: the file changed (or exists) since the client read it',
  },
  QUOTA_EXCEEDED: {
    status: 413,
    title: 'Quota exceeded',
    description:
      'the write would take the project past `VFS_QUOTA_BYTES` or `VFS_MAX_FILES`, or its owner past `USER_QUOTA_BYTES`; or a new project would pass `PROJECTS_MAX_PER_USER`; `kind` names the limit',
  },
} as const satisfies Record<string, { status: number; title: string; description: string }>;

export type ErrorCode = keyof typeof errorCodes;

export const PROBLEM_BASE = 'https://ferrite.dev/problems/';

export interface AppErrorOptions {
  detail?: string;
  /** Extra members of the problem document, e.g. the list of validation errors. */
  extensions?: Record<string, unknown>;
  /** Response headers such as Retry-After. */
  headers?: Record<string, string>;
  cause?: unknown;
}

/** The one error type routes throw; the error middleware turns it into problem+json. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly title: string;
  readonly extensions: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(code: ErrorCode, options: AppErrorOptions = {}) {
    const entry = errorCodes[code];
    // A client's error (4xx) is answered, never logged with a stack: capturing one 30 frames deep
    // in express's middleware chain costs ~2.8 µs against ~0.55 µs without (issue 12,
    // measured in one process). Server errors keep theirs.
    const limit = Error.stackTraceLimit;
    if (entry.status < 500) Error.stackTraceLimit = 0;
    super(options.detail ?? entry.title, { cause: options.cause });
    Error.stackTraceLimit = limit;
    this.name = 'AppError';
    this.code = code;
    this.status = entry.status;
    this.title = entry.title;
    this.extensions = options.extensions;
    this.headers = options.headers;
  }
}

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail: string;
  instance: string;
  requestId: string;
  [extension: string]: unknown;
}

export function toProblem(err: AppError, instance: string, requestId: string): ProblemDocument {
  return {
    ...err.extensions,
    type: `${PROBLEM_BASE}${err.code}`,
    title: err.title,
    status: err.status,
    code: err.code,
    detail: err.message,
    instance,
    requestId,
  };
}
