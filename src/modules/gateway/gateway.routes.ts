import path from 'node:path';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Config, Scope } from '../../config.ts';
import { AppError } from '../../errors.ts';
import { authenticate, requireScope, type TokenVerifier } from '../../http/auth.ts';
import type { Logger } from '../../log.ts';
import type { WorkerMetrics } from '../../metrics/worker.metrics.ts';
import { contractAdmission } from './gateway.admit.ts';
import { BREAKER_STATE_VALUE } from './gateway.breaker.ts';
import { createCapture } from './gateway.capture.ts';
import { Contract } from './gateway.contract.ts';
import { upstreamRequestHeaders, withReadBody } from './gateway.headers.ts';
import { canonicalPath, pathOf, underPrefix } from './gateway.paths.ts';
import { proxy, type RetryPolicy } from './gateway.proxy.ts';
import { createShadow } from './gateway.shadow.ts';
import { createTunnel } from './gateway.tunnel.ts';
import { Upstream, type UpstreamSettings } from './gateway.upstream.ts';

export interface GatewayDeps {
  config: Config;
  /** This worker's id (names its capture file). */
  worker: string;
  tokens: TokenVerifier;
  log: Logger;
  metrics: WorkerMetrics;
}

interface PrefixRoute {
  prefix: string;
  /** Lower-cased, for spotting the prefix in a path's canonical form. */
  loose: string;
  /** The route label in logs and metrics. */
  label: string;
  read: RequestHandler;
  write: RequestHandler;
  upstream: Upstream | undefined;
  /** The key that configures it, for the problem when it is not. */
  key: string;
}

const READS = new Set(['GET', 'HEAD']);

// authenticate and requireScope are synchronous; running them inline keeps the gateway's hot
// path one middleware instead of a router per prefix.
function check(mw: RequestHandler, req: Request, res: Response): void {
  let passed = false;
  let failure: unknown;
  mw(req, res, (err?: unknown) => {
    passed = true;
    failure = err;
  });
  if (failure) throw failure;
  if (!passed) throw new Error('an auth middleware neither passed nor failed');
}

function refusePath(problem: string): never {
  throw new AppError('BAD_REQUEST', { detail: `The request path ${problem}; it is not forwarded.` });
}

/**
 * The task/trade gateway: `/v1/task/*`, `/v1/trade/*` and the GATEWAY_ROUTES prefixes proxied
 * to their upstreams with scope checks; the strangler passthrough to LEGACY_UPSTREAM_URL for
 * whatever no ferrite route serves; and shadow sampling to SHADOW_UPSTREAM_URL.
 */
export function createGateway({ config, tokens, log, metrics, worker }: GatewayDeps) {
  const settings: UpstreamSettings = {
    connections: config.GATEWAY_POOL_CONNECTIONS,
    connectTimeoutMs: config.GATEWAY_CONNECT_TIMEOUT_MS,
    headersTimeoutMs: config.GATEWAY_HEADERS_TIMEOUT_MS,
    bodyTimeoutMs: config.GATEWAY_BODY_TIMEOUT_MS,
    keepAliveTimeoutMs: config.GATEWAY_KEEP_ALIVE_TIMEOUT_MS,
    breaker: {
      windowMs: config.GATEWAY_BREAKER_WINDOW_MS,
      minRequests: config.GATEWAY_BREAKER_MIN_REQUESTS,
      errorPercent: config.GATEWAY_BREAKER_ERROR_PERCENT,
      openMs: config.GATEWAY_BREAKER_OPEN_MS,
    },
    budget: { percent: config.GATEWAY_RETRY_BUDGET_PERCENT, minPerWindow: config.GATEWAY_RETRY_BUDGET_MIN },
  };
  const policy: RetryPolicy = {
    retries: config.GATEWAY_RETRIES,
    methods: new Set(config.GATEWAY_RETRY_METHODS),
    backoffMs: config.GATEWAY_RETRY_BACKOFF_MS,
    backoffMaxMs: config.GATEWAY_RETRY_BACKOFF_MAX_MS,
  };
  const upstreams = new Map<string, Upstream>();
  const upstream = (name: string, url: string) => {
    const u = new Upstream(name, url, settings, log);
    upstreams.set(name, u);
    return u;
  };

  const table: PrefixRoute[] = [];
  const add = (prefix: string, family: string, name: string, url: string | undefined, key: string) => {
    // Unconfigured, the legacy service keeps serving the prefix (the strangler's starting point).
    if (!url && config.LEGACY_UPSTREAM_URL) return;
    table.push({
      prefix,
      loose: prefix.toLowerCase(),
      label: `${prefix}/*`,
      read: requireScope(`${family}:read` as Scope),
      write: requireScope(`${family}:write` as Scope),
      upstream: url ? upstream(name, url) : undefined,
      key,
    });
  };
  add('/v1/task', 'task', 'task', config.TASK_UPSTREAM_URL, 'TASK_UPSTREAM_URL');
  add('/v1/trade', 'trade', 'trade', config.TRADE_UPSTREAM_URL, 'TRADE_UPSTREAM_URL');
  for (const r of config.GATEWAY_ROUTES) add(r.prefix, r.family, r.prefix, r.url, 'GATEWAY_ROUTES');
  // Longest prefix first, so a nested prefix wins over its parent.
  table.sort((a, b) => b.prefix.length - a.prefix.length);
  const legacy = config.LEGACY_UPSTREAM_URL ? upstream('legacy', config.LEGACY_UPSTREAM_URL) : undefined;
  const tunnel = config.LEGACY_UPSTREAM_URL
    ? createTunnel({
        url: config.LEGACY_UPSTREAM_URL,
        connectTimeoutMs: config.GATEWAY_CONNECT_TIMEOUT_MS,
        headersTimeoutMs: config.GATEWAY_HEADERS_TIMEOUT_MS,
        idleTimeoutMs: config.GATEWAY_TUNNEL_IDLE_TIMEOUT_MS,
        max: config.GATEWAY_TUNNELS_MAX,
        log,
      })
    : undefined;
  // Loaded (and checked) by `prepare` first, so a bad file has stopped the start already.
  const contract = config.LEGACY_OPENAPI_FILE ? Contract.load(config.LEGACY_OPENAPI_FILE) : undefined;
  const admit = contract && contractAdmission(contract, config.BODY_LIMIT_BYTES);
  /** The upstream request: path, headers, and the body when the contract's check read it. */
  const forwarded = async (req: Request, res: Response, path: string, headers: string[]) => {
    const body = admit ? await admit(req, res, path) : undefined;
    return body ? { headers: withReadBody(headers, body), body } : { headers };
  };
  const capture =
    config.CAPTURE_SAMPLE > 0
      ? createCapture(
          {
            dir: path.join(config.DATA_DIR, 'capture'),
            percent: config.CAPTURE_SAMPLE,
            redactHeaders: new Set(config.CAPTURE_REDACT_HEADERS.map((h) => h.toLowerCase())),
            redactFields: new Set(config.CAPTURE_REDACT_FIELDS),
            maxBodyBytes: config.CAPTURE_MAX_BODY_BYTES,
            maxFileBytes: config.CAPTURE_MAX_FILE_BYTES,
            worker,
          },
          log,
        )
      : undefined;
  const shadow = config.SHADOW_UPSTREAM_URL
    ? createShadow(
        {
          url: config.SHADOW_UPSTREAM_URL,
          percent: config.SHADOW_PERCENT,
          paths: config.SHADOW_PATHS,
          idempotent: config.SHADOW_IDEMPOTENT,
          ignoreFields: new Set(config.SHADOW_IGNORE_FIELDS),
          ignoreHeaders: new Set(config.SHADOW_IGNORE_HEADERS.map((h) => h.toLowerCase())),
          maxConcurrency: config.SHADOW_MAX_CONCURRENCY,
          timeoutMs: config.SHADOW_TIMEOUT_MS,
          maxBodyBytes: config.SHADOW_MAX_BODY_BYTES,
          logDiffs: config.SHADOW_LOG_DIFFS,
        },
        { log, metrics, contract },
      )
    : undefined;

  metrics.trackBreakers(function* () {
    for (const [name, u] of upstreams) yield [name, BREAKER_STATE_VALUE[u.breaker.state]];
  });
  const authn = authenticate(tokens);
  const forwardAuthorization = config.GATEWAY_FORWARD_AUTHORIZATION;

  /**
   * Serves the gateway prefixes; every other request goes on to ferrite's own routes. Not an
   * async function: most requests only pass through here, and a promise per request showed in
   * the hot path (issue 12); the proxied ones return the proxy's promise to express.
   */
  const routes = (req: Request, res: Response, next: NextFunction): Promise<void> | undefined => {
    const path = pathOf(req.url);
    const canonical = canonicalPath(path);
    // Longest prefix first: the route as sent, and the route a normalising reader would see.
    const route = table.find((r) => underPrefix(path, r.prefix));
    const claimed = table.find((r) => underPrefix(canonical.loose, r.loose));
    if (!route && !claimed) {
      next();
      return undefined;
    }
    res.locals.route = (route ?? claimed)?.label;
    // A variant of an owned prefix (case, encoding, `;`, `//`) is refused, never handed to the
    // legacy service, which would see the caller's token on a route ferrite authorises.
    if (!route || route !== claimed) {
      refusePath(
        `is a variant of ${(claimed ?? route)?.prefix} (case, encoding, parameters or empty segments)`,
      );
    }
    if (canonical.problem) refusePath(canonical.problem);
    check(authn, req, res);
    check(READS.has(req.method) ? route.read : route.write, req, res);
    if (!route.upstream) {
      throw new AppError('UPSTREAM_NOT_CONFIGURED', {
        detail: `No upstream is configured for ${route.prefix} (${route.key}).`,
      });
    }
    const up = route.upstream;
    const target = { path: up.path(req.url.slice(route.prefix.length)) };
    const headers = upstreamRequestHeaders(req, { forwardAuthorization, prefix: route.prefix });
    if (!admit) return proxy(req, res, up, { ...target, headers }, policy, metrics);
    return forwarded(req, res, path, headers).then((checked) =>
      proxy(req, res, up, { ...target, ...checked }, policy, metrics),
    );
  };

  /** The strangler passthrough: what no ferrite route served goes to the legacy service as is. */
  const passthrough =
    legacy &&
    (async (req: Request, res: Response) => {
      res.locals.route = 'legacy';
      const url = req.originalUrl;
      if (url.charCodeAt(0) !== 47 /* / */) {
        throw new AppError('BAD_REQUEST', { detail: 'Only origin-form request targets are forwarded.' });
      }
      const path = pathOf(url);
      const { problem } = canonicalPath(path);
      if (problem) refusePath(problem);
      // The legacy service authenticates its callers itself.
      const checked = await forwarded(
        req,
        res,
        path,
        upstreamRequestHeaders(req, { forwardAuthorization: true }),
      );
      await proxy(req, res, legacy, { path: legacy.path(url), faithful: true, ...checked }, policy, metrics);
    });

  return {
    routes,
    legacy: passthrough,
    /** Upgrades (WebSocket) no ferrite route serves, tunnelled to the legacy service. */
    legacyUpgrade: tunnel?.upgrade,
    /** Ends the tunnels to the legacy service (a draining worker). */
    closeTunnels: () => tunnel?.close(),
    shadow: shadow?.middleware,
    /** Records a sample of requests and answers (CAPTURE_SAMPLE); mounted ahead of everything it records. */
    capture: capture?.middleware,
    /** Ends the capture file (a draining worker). */
    closeCapture: () => capture?.close(),
    /** The existing service's operations (LEGACY_OPENAPI_FILE), for /api/openapi.json. */
    contract: contract?.description,
    /** Breaker states for `/api/ready`; an open breaker does not make the worker unready. */
    readiness: (): Record<string, unknown> =>
      upstreams.size === 0
        ? {}
        : {
            upstreams: Object.fromEntries(
              [...upstreams].map(([name, u]) => [
                name,
                { state: u.breaker.state, window: u.breaker.counts() },
              ]),
            ),
          },
    async close(): Promise<void> {
      await Promise.all([...[...upstreams.values()].map((u) => u.close()), shadow?.close()]);
    },
  };
}

export type Gateway = ReturnType<typeof createGateway>;
