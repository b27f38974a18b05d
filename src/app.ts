import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import compression from 'compression';
import express, { type Express, type Request, type RequestHandler } from 'express';
import helmet from 'helmet';
import type { Config } from './config.ts';
import type { Database } from './db/pool.ts';
import { enableCompression } from './http/compression.ts';
import { identify, requestContext } from './http/context.ts';
import { corsMiddleware } from './http/cors.ts';
import './http/json-response.ts';
import { bearerToken, hasScopes } from './http/auth.ts';
import { openapiDocument } from './http/openapi.ts';
import { errorHandler, notFound } from './http/problem.ts';
import type { RouteSpec } from './http/route-spec.ts';
import { answerOtherMethods, mountRoutes, servedPaths } from './http/routes.ts';
import { apiHeaders, staticHeaders } from './http/static-headers.ts';
import { StreamQuota } from './http/stream-quota.ts';
import type { Channel } from './ipc.ts';
import type { Logger } from './log.ts';
import type { WorkerMetrics } from './metrics/worker.metrics.ts';
import { createAuth } from './modules/auth/index.ts';
import { createCutover } from './modules/cutover/index.ts';
import { createEvents } from './modules/events/index.ts';
import { createGateway } from './modules/gateway/index.ts';
import { createHealth } from './modules/health/index.ts';
import { createProjects, isFileUpload } from './modules/projects/index.ts';
import { createRig, type LiveUpdates } from './modules/rig/index.ts';
import { mountDashboard } from './modules/web/index.ts';
import { createWorkflow } from './modules/workflow/index.ts';
import { strongEtag } from './native/xxhash.ts';
import { license } from './version.ts';

export interface AppDeps {
  config: Config;
  log: Logger;
  db: Database;
  metrics: WorkerMetrics;
  worker: string;
  /** The link to the supervising side (the miner's supervisor): the primary, or in-process. */
  supervisor: Channel;
  version: string;
  draining: () => boolean;
}

/** Assembles the express app (and the WebSocket upgrade handler); listening is the worker's job. */
export function createApp(deps: AppDeps): {
  app: Express;
  live: LiveUpdates;
  /** The 'upgrade' handler: `/ws` is the rig's live feed; others go to the legacy service, if any. */
  upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** What must be read before serving (the cut-over's overrides); after the pool answers. */
  ready: () => Promise<void>;
  /** Re-reads ROUTES_FILE in place (the single process's SIGHUP); throws when it is bad. */
  reloadRoutes: () => void;
  /** Releases what the modules hold (event streams, their LISTEN subscriptions); called while draining. */
  close: () => Promise<void>;
  /** Closes the gateway's upstream and shadow pools; called once no request is left in flight. */
  closeAfterDrain: () => Promise<void>;
} {
  const { config } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.TRUST_PROXY);
  app.set('query parser', 'simple');
  // Response ETags hash with XXH64 (Rust) instead of express's default SHA-1 (docs/decisions.md, Rust addons).
  app.set('etag', (body: string | Buffer) => strongEtag(body));

  app.use(requestContext(deps.log, deps.metrics));
  app.use(apiHeaders());
  // Before every route (the gateway's and the legacy's too): a preflight never meets authentication.
  const cors = corsMiddleware(config);
  if (cors) app.use(cors);
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
  const { db, log } = deps;
  const auth = createAuth({ db, config, log });
  const { tokens } = auth;
  // The gateway streams bodies both ways, so it comes before any body parser; the shadow's
  // capture sits outside the compressor, where it sees what handlers write.
  const gateway = createGateway({ config, tokens, log, metrics: deps.metrics, worker: deps.worker });
  // The capture sees every answer as the client gets it, whoever served it.
  if (gateway.capture) app.use(gateway.capture);
  // The routes file's split comes first: a route it gives the legacy service never reaches
  // ferrite's handlers (nor the shadow, which compares ferrite's answers).
  const cutover = createCutover({
    db,
    config,
    log,
    metrics: deps.metrics,
    worker: deps.worker,
    legacy: gateway.legacy,
  });
  if (cutover) app.use(cutover.split);
  if (gateway.shadow) app.use(gateway.shadow);
  app.use(gateway.routes);
  // A file upload's body is the file itself, in any media type: its route reads it raw.
  const json = express.json({ limit: config.BODY_LIMIT_BYTES, strict: true });
  const parseBody: RequestHandler = (req, res, next) => (isFileUpload(req) ? next() : json(req, res, next));

  // One count of a user's SSE streams and WebSockets in this worker.
  const streams = new StreamQuota(config.STREAMS_MAX_PER_USER);
  const rig = createRig({ db, config, tokens, streams, log, supervisor: deps.supervisor });
  const events = createEvents({ db, config, log });
  const projects = createProjects({ db, config, events, tokens, streams, log });
  const workflow = createWorkflow({
    db,
    config,
    log,
    tokens,
    events,
    metrics: deps.metrics,
    projects: projects.projects,
    vfs: projects.vfs,
    checkPath: projects.checkPath,
  });
  const health = createHealth({
    db,
    version: deps.version,
    worker: deps.worker,
    draining: deps.draining,
    details: gateway.readiness,
    dependencies: rig.readiness,
    mayInspect: (req) => {
      const token = bearerToken(req);
      try {
        return token ? hasScopes(tokens.verify(token).scopes, ['admin']) : false;
      } catch {
        return false; // a bad token still gets the anonymous answer, not a 401
      }
    },
  });
  const closers: (() => Promise<void>)[] = [
    () => events.close(),
    // Runs executing here get most of the drain deadline to finish; the rest are recorded as failed.
    () => workflow.close(Math.max(0, config.SHUTDOWN_TIMEOUT_MS - 3000)),
    () => rig.close(),
    async () => gateway.closeTunnels(),
    async () => cutover?.close(),
    async () => gateway.closeCapture(),
  ];

  const specs: RouteSpec[] = [
    ...health.routes,
    ...auth.routes,
    ...rig.routes,
    ...projects.routes,
    ...workflow.routes,
  ];
  const contract = JSON.stringify(
    openapiDocument(specs, { version: deps.version, license }, gateway.contract),
  );

  // 405 and OPTIONS for the paths the routes serve (filled in below, once every route is known).
  const otherMethods = express.Router();
  // Straight on the app, not on a router of their own: every router a request passes through
  // is another dispatch loop with its closures (issue 12's allocation profile).
  mountRoutes(app, specs, { bodyParser: parseBody, options: otherMethods });
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
  const page = mountDashboard(app, config.DATA_DIR, log, pageHeaders);

  // What no ferrite route served goes to the legacy service, whatever the method: the old
  // service may serve a method on a path where ferrite serves others. Without one, ferrite is
  // the end of the line: the body is still read (400/413 for a bad one), then a path some route
  // serves answers 405 (204 to OPTIONS) with Allow, any other 404.
  app.use(gateway.legacy ?? parseBody);
  answerOtherMethods(otherMethods, [
    ...servedPaths(specs),
    { method: 'get', path: '/api/openapi.json' },
    ...page,
  ]);
  app.use(otherMethods);
  app.use(notFound);
  app.use(errorHandler(config.EXPOSE_ERRORS));
  return {
    app,
    live: rig.live,
    upgrade(req, socket, head) {
      const legacy = gateway.legacyUpgrade;
      if (!legacy || (req.url ?? '').split('?')[0] === '/ws') {
        rig.live.upgrade(req, socket, head);
        return;
      }
      // The request as express would see it (protocol, host, `trust proxy`), with its id and trace.
      const request = Object.setPrototypeOf(req, app.request) as Request;
      request.app = app;
      identify(request);
      legacy(request, socket, head);
    },
    ready: async () => {
      await cutover?.ready();
    },
    reloadRoutes: () => cutover?.reloadFile(),
    close: async () => {
      await Promise.all(closers.map((close) => close()));
    },
    closeAfterDrain: () => gateway.close(),
  };
}
