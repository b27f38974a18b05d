// The serving side: the express app, its Postgres pool and its listeners. A cluster worker runs
// one (src/worker.ts); `PROCESS_MODEL=single` runs one inside the only process (src/single.ts).
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createApp } from './app.ts';
import type { Config } from './config.ts';
import { openDatabase } from './db/pool.ts';
import { HttpServers } from './http/servers.ts';
import { warmValidators } from './http/validation.ts';
import type { Channel } from './ipc.ts';
import type { Logger } from './log.ts';
import { setupWorkerMetrics, type WorkerMetrics } from './metrics/worker.metrics.ts';
import { usedFallbacks } from './native/addons.ts';
import { startTracing, stopTracing } from './tracing/index.ts';
import { version } from './version.ts';

export interface ServeOptions {
  config: Config;
  log: Logger;
  /** The `worker` label of metrics, logs and Postgres application names. */
  workerId: string;
  poolSize: number;
  /** The link to the miner's supervisor. */
  supervisor: Channel;
  /** Where the primary scrapes metrics from (the cluster); unset: the caller serves them. */
  metricsScrape?: Channel;
}

export interface Serving {
  readonly metrics: WorkerMetrics;
  readonly draining: boolean;
  /** Resolves with the bound ports once Postgres answered and the listeners are up. */
  listen(): Promise<{ http?: number; https?: number }>;
  /**
   * Stops accepting, drains open requests within `drainMs`, closes the modules and the pool.
   * With `delayMs`, first reports not ready for that long while still serving everything, so a
   * load balancer's health checks take the host out before it stops accepting.
   */
  shutdown(reason: string, drainMs: number, delayMs?: number): Promise<void>;
  /** Re-reads TLS_CERT/TLS_KEY; new connections use them, open ones keep theirs. */
  reloadTls(): void;
  /** Re-reads ROUTES_FILE; throws (keeping the current routes) when it is bad. */
  reloadRoutes(): void;
}

function readTls(cfg: Config): { cert: Buffer; key: Buffer } | undefined {
  return cfg.HTTPS_PORT !== null && cfg.TLS_CERT && cfg.TLS_KEY
    ? { cert: readFileSync(cfg.TLS_CERT), key: readFileSync(cfg.TLS_KEY) }
    : undefined;
}

export function createServing({
  config: cfg,
  log,
  workerId,
  poolSize,
  supervisor,
  metricsScrape,
}: ServeOptions): Serving {
  const databaseUrl = cfg.DATABASE_URL;
  if (!databaseUrl) throw new Error('serving without DATABASE_URL; the start-up provides it');

  const metrics = setupWorkerMetrics(workerId, metricsScrape);
  const db = openDatabase(
    cfg,
    {
      connectionString: databaseUrl,
      max: poolSize,
      applicationName: `ferrite-worker-${workerId}`,
      listenApplicationName: `ferrite-listener-${workerId}`,
    },
    log,
  );
  metrics.trackPool(db.pool);

  // Start-up time line, in ms since this process started (`npm run bench -- footprint` reads it).
  const startup: Record<string, number> = { modules: Math.round(performance.now()) };
  let servers: HttpServers | undefined;
  let stopping: Promise<void> | undefined;
  /** Readiness already says "draining" while the shutdown delay runs. */
  let leaving = false;
  const {
    app,
    live,
    upgrade,
    ready: modulesReady,
    reloadRoutes,
    close: closeModules,
    closeAfterDrain,
  } = createApp({
    config: cfg,
    log,
    db,
    metrics,
    worker: workerId,
    supervisor,
    version,
    draining: () => leaving || (servers?.draining ?? stopping !== undefined),
  });
  startup.app = Math.round(performance.now());

  servers = new HttpServers(
    app,
    {
      host: cfg.HOST,
      httpPort: cfg.HTTP_PORT,
      httpsPort: cfg.HTTPS_PORT,
      tls: readTls(cfg),
      keepAliveTimeoutMs: cfg.KEEP_ALIVE_TIMEOUT_MS,
      headersTimeoutMs: cfg.HEADERS_TIMEOUT_MS,
      requestTimeoutMs: cfg.REQUEST_TIMEOUT_MS,
      bodyIdleTimeoutMs: cfg.BODY_IDLE_TIMEOUT_MS,
      maxHeaderSize: cfg.MAX_HEADER_SIZE,
      h2MaxConcurrentStreams: cfg.H2_MAX_CONCURRENT_STREAMS,
      h2MaxSessionMemoryMb: cfg.H2_MAX_SESSION_MEMORY_MB,
    },
    log,
  );
  servers.onUpgrade(upgrade);
  const listeners = servers;

  return {
    metrics,
    get draining() {
      return listeners.draining || stopping !== undefined;
    },
    async listen() {
      // Traces, when an OTLP endpoint is configured, before the first request.
      await startTracing({ version, role: workerId });
      // Ready means: the pool has answered a query and the listeners are up.
      for (let attempt = 1; stopping === undefined; attempt++) {
        try {
          await db.ping();
          break;
        } catch (err) {
          if (attempt === 1 || attempt % 10 === 0) log.warn({ err, attempt }, 'waiting for postgres');
          await sleep(500);
        }
      }
      await modulesReady();
      startup.postgres = Math.round(performance.now());
      const ports = await listeners.listen();
      startup.listening = Math.round(performance.now());
      log.info({ ports, startup }, 'worker ready');
      // Said once per service, by the first worker (or the only process), not once per worker.
      const fallbacks = usedFallbacks();
      if (Object.keys(fallbacks).length > 0 && (workerId === '1' || workerId === 'single')) {
        log.warn(
          { platform: `${process.platform}-${process.arch}`, fallbacks },
          'prebuilt addons not used here; their fallbacks run instead (slower)',
        );
      }
      // Request validators not yet needed compile now, between requests (see warmValidators).
      void warmValidators();
      return ports;
    },
    shutdown(reason, drainMs, delayMs = 0) {
      stopping ??= (async () => {
        leaving = true;
        if (delayMs > 0) {
          log.info({ reason, delayMs }, 'worker leaving: not ready, still serving');
          await sleep(delayMs);
        }
        log.info({ reason }, 'worker draining');
        live.close();
        // drain() stops accepting at once; streams ended after that reconnect to another worker.
        const drained = listeners.drain(drainMs);
        await closeModules().catch((err) => log.warn({ err }, 'closing modules failed'));
        await drained;
        // Nothing is proxied any more: the upstream connections can go.
        // undici finishes what it holds; a stuck one does not hold the exit up past a second.
        await Promise.race([
          closeAfterDrain().catch((err) => log.warn({ err }, 'closing the upstream pools failed')),
          sleep(1000, undefined, { ref: false }),
        ]);
        await db.close().catch((err) => log.warn({ err }, 'closing the pool failed'));
        await stopTracing();
      })();
      return stopping;
    },
    reloadRoutes,
    reloadTls() {
      const tls = readTls(cfg);
      if (!tls || !listeners.secure) return;
      listeners.setCertificate(tls);
      log.info({ cert: cfg.TLS_CERT }, 'TLS certificate reloaded');
    },
  };
}
