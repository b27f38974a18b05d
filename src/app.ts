import compression from 'compression';
import express, { type Express, type RequestHandler } from 'express';
import helmet from 'helmet';
import { type Config, minerConfigured } from './config.ts';
import type { Database } from './db/pool.ts';
import { enableCompression } from './http/compression.ts';
import { requestContext } from './http/context.ts';
import './http/json-response.ts';
import { bearerToken, hasScopes } from './http/auth.ts';
import { openapiDocument } from './http/openapi.ts';
import { errorHandler, notFound } from './http/problem.ts';
import type { RouteSpec } from './http/route-spec.ts';
import { mountRoutes } from './http/routes.ts';
import { apiHeaders, staticHeaders } from './http/static-headers.ts';
import type { Logger } from './log.ts';
import type { WorkerMetrics } from './metrics/worker.metrics.ts';
import { LoginLimiter } from './modules/auth/auth.limiter.ts';
import { authRoutes } from './modules/auth/auth.routes.ts';
import { createAuthService } from './modules/auth/auth.service.ts';
import { StreamQuota } from './modules/auth/auth.streams.ts';
import { AccessTokens } from './modules/auth/auth.tokens.ts';
import { createEventsService } from './modules/events/events.service.ts';
import { sseRoutes } from './modules/events/sse.routes.ts';
import { createGateway } from './modules/gateway/gateway.routes.ts';
import { healthRoutes } from './modules/health/health.routes.ts';
import { projectsRoutes } from './modules/projects/projects.routes.ts';
import { createProjectsService } from './modules/projects/projects.service.ts';
import { normalisePath } from './modules/projects/vfs.paths.ts';
import { isFileUpload, vfsRoutes } from './modules/projects/vfs.routes.ts';
import { createVfsService } from './modules/projects/vfs.service.ts';
import { MinerClient } from './modules/rig/miner.client.ts';
import { NodeRpcClient } from './modules/rig/node.client.ts';
import { rigRoutes } from './modules/rig/rig.routes.ts';
import { createLiveUpdates, type LiveUpdates } from './modules/rig/rig.ws.ts';
import { webDir } from './modules/web/web.build.ts';
import { mountWeb } from './modules/web/web.routes.ts';
import { workflowRoutes } from './modules/workflow/workflow.routes.ts';
import { createWorkflowService } from './modules/workflow/workflow.service.ts';
import { strongEtag } from './native/xxhash.ts';

export interface AppDeps {
  config: Config;
  log: Logger;
  db: Database;
  metrics: WorkerMetrics;
  worker: string;
  version: string;
  draining: () => boolean;
}

/** Assembles the express app (and the WebSocket upgrade handler); listening is the worker's job. */
export function createApp(deps: AppDeps): {
  app: Express;
  live: LiveUpdates;
  /** Releases what the modules hold (event streams, their LISTEN subscriptions); called while draining. */
  close: () => Promise<void>;
} {
  const { config } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.TRUST_PROXY);
  app.set('query parser', 'simple');
  // Response ETags hash with XXH64 (Rust) instead of express's default SHA-1 (see README, Rust hot paths).
  app.set('etag', (body: string | Buffer) => strongEtag(body));

  app.use(requestContext(deps.log, deps.metrics));
  app.use(apiHeaders());
  const compressibleTypes = new Map<string, boolean>();
  enableCompression(app, {
    threshold: config.COMPRESSION_THRESHOLD_BYTES,
    // Event streams and upgrades must never sit in a compressor's buffer.
    filter: (req, res) => {
      const type = String(res.getHeader('Content-Type') ?? '');
      if (type.startsWith('text/event-stream')) return false;
      if (req.headers.upgrade) return false;
      // A partial body's byte ranges count the identity encoding (proxied 206 answers), and
      // 204/304 answers have no body to encode, whatever Content-Length an upstream sent.
      if (res.getHeader('Content-Range') || res.statusCode === 204) return false;
      if (res.statusCode === 304) {
        // A 304 carries the Vary its 200 would have (RFC 9110 §15.4.5), which the compressor
        // adds only to what it encodes.
        res.vary('Accept-Encoding');
        return false;
      }
      // The package's filter reads only Content-Type (its `compressible` lookup); answers are
      // remembered per type, a few hundred at most (an upstream may send any type).
      let compressible = compressibleTypes.get(type);
      if (compressible === undefined) {
        compressible = compression.filter(req, res);
        if (compressibleTypes.size < 256) compressibleTypes.set(type, compressible);
      }
      return compressible;
    },
  });
  const tokens = new AccessTokens(config);
  // The gateway streams bodies both ways, so it comes before any body parser; the shadow's
  // capture sits outside the compressor, where it sees what handlers write.
  const gateway = createGateway({ config, tokens, log: deps.log, metrics: deps.metrics });
  if (gateway.shadow) app.use(gateway.shadow);
  app.use(gateway.routes);
  // A file upload's body is the file itself, in any media type: its route reads it raw.
  const json = express.json({ limit: config.BODY_LIMIT_BYTES, strict: true });
  const parseBody: RequestHandler = (req, res, next) => (isFileUpload(req) ? next() : json(req, res, next));

  const auth = createAuthService({
    db: deps.db,
    config,
    tokens,
    limiter: new LoginLimiter(deps.db, config),
    log: deps.log,
  });

  const miner = new MinerClient(minerConfigured(config), config.MINER_STOP_TIMEOUT_MS + 5000);
  // One count of a user's SSE streams and WebSockets in this worker.
  const streams = new StreamQuota(config.STREAMS_MAX_PER_USER);
  const live = createLiveUpdates({
    tokens,
    streams,
    allowedOrigins: config.WS_ALLOWED_ORIGINS,
    miner,
    log: deps.log,
    pushIntervalMs: config.STATS_PUSH_INTERVAL_MS,
    pingIntervalMs: config.WS_PING_INTERVAL_MS,
  });

  const events = createEventsService({ db: deps.db, config, log: deps.log });
  const projects = createProjectsService({ db: deps.db, events, config });
  const vfs = createVfsService({ db: deps.db, config, events });
  const closers: (() => Promise<void>)[] = [() => events.close()];
  const workflows = createWorkflowService({
    db: deps.db,
    config,
    log: deps.log,
    projects,
    vfs,
    events,
    checkPath: (path) =>
      normalisePath(path, { maxBytes: config.VFS_MAX_PATH_BYTES, maxDepth: config.VFS_MAX_PATH_DEPTH }),
    metrics: deps.metrics,
  });
  // Runs executing here get most of the drain deadline to finish; the rest are recorded as failed.
  closers.push(() => workflows.close(Math.max(0, config.SHUTDOWN_TIMEOUT_MS - 3000)));
  // Exports stream from a pool of their own: clients slow to read them cannot starve the rest.
  const exportDb = deps.db.secondary(config.EXPORT_POOL_SIZE, 'export');
  closers.push(() => exportDb.close());

  const specs: RouteSpec[] = [
    ...healthRoutes({
      db: deps.db,
      version: deps.version,
      worker: deps.worker,
      draining: deps.draining,
      details: gateway.readiness,
      mayInspect: (req) => {
        const token = bearerToken(req);
        try {
          return token ? hasScopes(tokens.verify(token).scopes, ['admin']) : false;
        } catch {
          return false; // a bad token still gets the anonymous answer, not a 401
        }
      },
    }),
    ...authRoutes(auth, tokens),
    ...rigRoutes({
      miner,
      tokens,
      db: deps.db,
      exportDb,
      node: config.NODE_RPC_URL
        ? new NodeRpcClient(config.NODE_RPC_URL, config.NODE_RPC_TIMEOUT_MS)
        : undefined,
      config,
    }),
    ...projectsRoutes(projects, tokens),
    ...vfsRoutes({ vfs, projects, tokens, config }),
    ...sseRoutes({ events, projects, tokens, streams, config, log: deps.log }),
    ...workflowRoutes(workflows, tokens),
  ];
  const contract = JSON.stringify(openapiDocument(specs, deps.version));

  // Straight on the app, not on a router of their own: every router a request passes through
  // is another dispatch loop with its closures (issue 12's allocation profile).
  mountRoutes(app, specs, parseBody);
  app.get('/api/openapi.json', (_req, res) => {
    res.type('application/json').send(contract);
  });
  // The page gets helmet's full set (it replaces the API set, whose CSP would block the page).
  const pageHeaders = staticHeaders(
    helmet({
      // Both cleartext and TLS are served on purpose; upgrading would break the cleartext page.
      contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
    }),
  );
  mountWeb(app, webDir(config.DATA_DIR), deps.log, pageHeaders);

  // What no ferrite route served goes to the legacy service. Without one, ferrite is the end of
  // the line: the body is still read (400/413 for a bad one) before the 404.
  app.use(gateway.legacy ?? parseBody);
  app.use(notFound);
  app.use(errorHandler(config.EXPOSE_ERRORS));
  return {
    app,
    live,
    close: async () => {
      await Promise.all(closers.map((close) => close()));
    },
  };
}
