import { z } from 'zod';
import { bool, int, list, listOf, optionalString, splitList } from './parsers.ts';
import { parseRoutePattern, type RoutePattern } from './route-pattern.ts';

// An upstream's base URL: its path is prepended to what is forwarded; query, fragment and
// credentials have no defined meaning there.
const upstreamUrl = optionalString
  .pipe(
    z
      .url({ protocol: /^https?$/ })
      .refine((u) => {
        const url = new URL(u);
        return !url.search && !url.hash && !url.username && !url.password;
      }, 'an http(s) URL without query, fragment or credentials')
      .optional(),
  )
  .meta({ values: 'http(s) URL without query, fragment or credentials' });

export interface GatewayRoute {
  prefix: string;
  /** Scope family: GET/HEAD need `<family>:read`, other methods `<family>:write`. */
  family: 'task' | 'trade' | 'projects';
  url: string;
}

const BUILTIN_PREFIXES = ['/v1/task', '/v1/trade'];
// Ferrite's own paths can never be handed to an upstream.
const RESERVED_PREFIX = /^\/(api|ws|assets)(\/|$)/;
const ROUTE_ENTRY = /^(\/[A-Za-z0-9._~!$&'()*+;:@%/-]*[^/])=(task|trade|projects):(\S+)$/;

// `prefix=family:url,…`, e.g. `/v1/orders=trade:http://orders.internal:8080`.
const gatewayRoutes = z
  .string()
  .default('')
  .transform((value, ctx) => {
    const routes: GatewayRoute[] = [];
    const seen = new Set(BUILTIN_PREFIXES);
    for (const entry of splitList(value)) {
      const m = ROUTE_ENTRY.exec(entry);
      const url = m?.[3] ?? '';
      const parsed = URL.canParse(url) ? new URL(url) : undefined;
      const problem = !m
        ? 'is not prefix=task|trade|projects:http(s)://host[:port][/path]'
        : !parsed || !/^https?:$/.test(parsed.protocol) || parsed.search || parsed.hash || parsed.username
          ? 'needs an http(s) URL without query, fragment or credentials'
          : RESERVED_PREFIX.test(m[1] as string) || /(^|\/)\.{0,2}(\/|$)/.test((m[1] as string).slice(1))
            ? 'has a reserved or malformed prefix'
            : seen.has(m[1] as string)
              ? 'repeats a prefix'
              : undefined;
      if (problem || !m) {
        ctx.addIssue({ code: 'custom', message: `"${entry}" ${problem}` });
        continue;
      }
      seen.add(m[1] as string);
      routes.push({ prefix: m[1] as string, family: m[2] as GatewayRoute['family'], url });
    }
    return routes;
  })
  .meta({ values: 'comma-separated `prefix=family:url` entries' });

// `METHOD /path` entries (`PUT /v1/items/:id`), one method each: the routes whose writes are
// safe to repeat, so the shadow may send them a second time.
const idempotentRoutes = z
  .string()
  .default('')
  .transform((value, ctx) => {
    const patterns: RoutePattern[] = [];
    for (const entry of splitList(value)) {
      const pattern = parseRoutePattern(entry);
      const problem =
        'problem' in pattern
          ? 'is not "METHOD /path" (":param" segments, a final "*")'
          : !pattern.methods
            ? 'names no method'
            : pattern.methods.includes('GET') || pattern.methods.includes('HEAD')
              ? 'names GET or HEAD, which are shadowed anyway'
              : undefined;
      if (problem || 'problem' in pattern) ctx.addIssue({ code: 'custom', message: `"${entry}" ${problem}` });
      else patterns.push(pattern);
    }
    return patterns;
  })
  .meta({ values: 'comma-separated `METHOD /path` entries' });

export const gatewayKeys = {
  TASK_UPSTREAM_URL: upstreamUrl.describe(
    'the task service (`http(s)://host[:port][/base]`) behind `/v1/task/*`; unset: 503 `UPSTREAM_NOT_CONFIGURED`, or the legacy service when `LEGACY_UPSTREAM_URL` is set',
  ),
  TRADE_UPSTREAM_URL: upstreamUrl.describe('the trade service behind `/v1/trade/*`, likewise'),
  GATEWAY_ROUTES: gatewayRoutes.describe(
    'more prefixes, e.g. `/v1/orders=trade:http://orders:8080`; `family` (`task`, `trade`, `projects`) names the `:read`/`:write` scopes; not under `/api`, `/ws`, `/assets`',
  ),
  GATEWAY_FORWARD_AUTHORIZATION: bool(false).describe(
    "`true`: upstreams also get the client's `Authorization`; always: `X-User-Id`, `X-User-Scopes`",
  ),
  GATEWAY_CONNECT_TIMEOUT_MS: int(1000, 10).describe('connecting to an upstream (then 504, or a retry)'),
  GATEWAY_HEADERS_TIMEOUT_MS: int(10_000, 10).describe(
    "from the request sent to the upstream's response headers (then 504, or a retry)",
  ),
  GATEWAY_BODY_TIMEOUT_MS: int(30_000, 10).describe(
    "longest silence inside an upstream's response body (then the response is cut short)",
  ),
  GATEWAY_POOL_CONNECTIONS: int(128, 1, 10_000).describe(
    'keep-alive connections per upstream per worker; more requests queue in the pool',
  ),
  GATEWAY_KEEP_ALIVE_TIMEOUT_MS: int(4000, 100).describe(
    'idle upstream connections are closed after this (below the 5 s of Node servers, so the gateway closes first)',
  ),
  GATEWAY_RETRIES: int(2, 0, 2).describe('retries of one request'),
  // Only idempotent methods may ever be retried.
  GATEWAY_RETRY_METHODS: listOf('GET,HEAD,OPTIONS', ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'], {
    problem: (method) => `${method} is not an idempotent method`,
    normalise: (method) => method.toUpperCase(),
  }).describe('methods that are retried; only idempotent ones are accepted'),
  GATEWAY_RETRY_BACKOFF_MS: int(25, 1, 10_000).describe(
    'backoff base: retry n waits a random 0..min(max, base × 2ⁿ⁻¹) ms (full jitter)',
  ),
  GATEWAY_RETRY_BACKOFF_MAX_MS: int(250, 1, 60_000).describe('backoff ceiling'),
  GATEWAY_RETRY_BUDGET_PERCENT: int(10, 0, 100).describe(
    'retries per upstream and worker stay under this share of requests over a rolling 10 s…',
  ),
  GATEWAY_RETRY_BUDGET_MIN: int(10, 0).describe('…plus this many, so a quiet upstream can still be retried'),
  GATEWAY_BREAKER_WINDOW_MS: int(10_000, 100).describe("rolling window of a breaker's error rate"),
  GATEWAY_BREAKER_MIN_REQUESTS: int(20, 1).describe('attempts in the window before a breaker may open'),
  GATEWAY_BREAKER_ERROR_PERCENT: int(50, 1, 100).describe(
    'failed attempts (connection errors, timeouts, 5xx) in percent that open it',
  ),
  GATEWAY_BREAKER_OPEN_MS: int(5000, 10).describe('how long it stays open before one probe is let through'),
  LEGACY_UPSTREAM_URL: upstreamUrl.describe(
    'the service ferrite replaces: whatever no ferrite route serves is proxied there as sent, instead of 404',
  ),
  ROUTES_FILE: optionalString.describe(
    'the cut-over routes file (JSON, or YAML by its `.yaml`/`.yml` name): per method and path, `ferrite`, `legacy` or a sticky `canary` share with automatic rollback (docs/migrating.md); read by each worker at start, so `SIGHUP` (a rolling restart) reloads it; needs LEGACY_UPSTREAM_URL',
  ),
  LEGACY_OPENAPI_FILE: optionalString.describe(
    "the existing service's OpenAPI document (3.0 or 3.1; JSON, or YAML by its `.yaml`/`.yml` name): requests on the gateway's and the legacy routes are checked against it before they are forwarded (400 problem naming each field; JSON bodies read up to BODY_LIMIT_BYTES), the shadow and `npm run replay -- --contract` check answers against it, and its operations are listed in `/api/openapi.json`; a bad document stops the start (exit 78)",
  ),
  GATEWAY_TUNNEL_IDLE_TIMEOUT_MS: int(300_000, 1000).describe(
    'a WebSocket (or other upgrade) tunnelled to the legacy service with no bytes either way for this long is closed',
  ),
  GATEWAY_TUNNELS_MAX: int(1000, 1, 1_000_000).describe(
    'upgrades tunnelled to the legacy service open at once per worker; more are refused with 503',
  ),
  CAPTURE_SAMPLE: z.coerce
    .number()
    .min(0)
    .max(100)
    .default(0)
    .describe(
      'percent of requests recorded with their answers (secrets redacted) as NDJSON under `DATA_DIR/capture`, for `npm run replay`; 0: none',
    ),
  CAPTURE_REDACT_HEADERS: list('authorization,proxy-authorization,cookie,set-cookie,x-api-key').describe(
    'request and response headers recorded as `[redacted]` (case-insensitive)',
  ),
  CAPTURE_REDACT_FIELDS: list(
    'password,newPassword,token,accessToken,refreshToken,access_token,refresh_token,secret,apiKey,api_key,passwordHash,password_hash',
  ).describe('JSON members recorded as `[redacted]`, at any depth, in request and response bodies'),
  CAPTURE_MAX_BODY_BYTES: int(65_536, 0, 16_777_216).describe(
    'a request or response body larger than this is recorded as omitted',
  ),
  CAPTURE_MAX_FILE_BYTES: int(104_857_600, 1024).describe(
    "each worker's capture file stops growing here (later samples are dropped)",
  ),
  SHADOW_UPSTREAM_URL: upstreamUrl.describe(
    'a service that gets a sample of GET requests (and of SHADOW_IDEMPOTENT routes) too, for comparison; unset: no shadow traffic',
  ),
  SHADOW_PERCENT: z.coerce
    .number()
    .min(0)
    .max(100)
    .default(5)
    .describe('share of GET requests (fractions allowed) mirrored to the shadow'),
  SHADOW_PATHS: list().describe('path prefixes whose GETs are sampled; unset: every GET'),
  SHADOW_IDEMPOTENT: idempotentRoutes.describe(
    'routes whose other methods are safe to send twice, mirrored like GETs (with their body, after the client had its answer), e.g. `PUT /v1/items/:id,DELETE /v1/items/:id`; `:param` is one segment, a final `*` the rest',
  ),
  SHADOW_IGNORE_FIELDS: list('requestId,timestamp,updatedAt').describe(
    'JSON keys left out of comparisons, at any depth',
  ),
  SHADOW_IGNORE_HEADERS: list(
    'date,x-request-id,traceparent,tracestate,content-length,connection,keep-alive,transfer-encoding,age,server,x-response-time,etag,content-encoding,vary,x-content-type-options,x-frame-options,content-security-policy,referrer-policy,cache-control',
  ).describe(
    "response headers not compared (case-insensitive); the default leaves out what differs on every answer and ferrite's own API headers",
  ),
  SHADOW_MAX_CONCURRENCY: int(16, 1, 10_000).describe(
    'shadow requests in flight per worker; sampled requests beyond are dropped, not queued',
  ),
  SHADOW_TIMEOUT_MS: int(5000, 10).describe('a shadow answer later than this counts as failed'),
  SHADOW_MAX_BODY_BYTES: int(262_144, 1024, 16_777_216).describe(
    'bodies (either side, decoded) larger than this are not compared',
  ),
  SHADOW_LOG_DIFFS: int(20, 0).describe(
    'differences each worker logs (with the request id); all are counted',
  ),
};
