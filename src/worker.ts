import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createApp } from './app.ts';
import { config, poolSizePerWorker } from './config.ts';
import { openDatabase } from './db/pool.ts';
import { HttpServers } from './http/servers.ts';
import { warmValidators } from './http/validation.ts';
import { WORKER_READY, WORKER_SHUTDOWN } from './ipc.ts';
import { createLogger } from './log.ts';
import { setupWorkerMetrics } from './metrics/worker.metrics.ts';
import { version } from './version.ts';

const cfg = config();
const workerId = String(cluster.worker?.id ?? 0);
process.title = `ferrite-worker-${workerId}`;
const log = createLogger(cfg.LOG_LEVEL, { role: 'worker', worker: workerId });

let shuttingDown: Promise<void> | undefined;

// Process-level failures end the worker; the primary replaces it.
process.on('uncaughtException', (err) => {
  log.fatal({ err }, 'uncaught exception; worker exiting');
  process.exit(1);
});
process.on('unhandledRejection', (err) => {
  log.fatal({ err }, 'unhandled rejection; worker exiting');
  process.exit(1);
});

const databaseUrl = cfg.DATABASE_URL;
if (!databaseUrl) {
  log.fatal('worker started without DATABASE_URL; the primary provides it');
  process.exit(1);
}

const metrics = setupWorkerMetrics(workerId);
const db = openDatabase(
  cfg,
  {
    connectionString: databaseUrl,
    max: poolSizePerWorker(cfg),
    applicationName: `ferrite-worker-${workerId}`,
    listenApplicationName: `ferrite-listener-${workerId}`,
  },
  log,
);
metrics.trackPool(db.pool);

// Start-up time line, in ms since this process started (`npm run bench -- footprint` reads it).
const startup: Record<string, number> = { modules: Math.round(performance.now()) };
let servers: HttpServers | undefined;
const {
  app,
  live,
  close: closeModules,
} = createApp({
  config: cfg,
  log,
  db,
  metrics,
  worker: workerId,
  version,
  draining: () => servers?.draining ?? shuttingDown !== undefined,
});
startup.app = Math.round(performance.now());

servers = new HttpServers(
  app,
  {
    host: cfg.HOST,
    httpPort: cfg.HTTP_PORT,
    httpsPort: cfg.HTTPS_PORT,
    tls:
      cfg.HTTPS_PORT !== null && cfg.TLS_CERT && cfg.TLS_KEY
        ? { cert: readFileSync(cfg.TLS_CERT), key: readFileSync(cfg.TLS_KEY) }
        : undefined,
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
servers.onUpgrade(live.upgrade);

function shutdown(reason: string): Promise<void> {
  shuttingDown ??= (async () => {
    log.info({ reason }, 'worker draining');
    // Whatever happens below, the worker is gone by the deadline.
    setTimeout(() => {
      log.error('shutdown deadline passed; exiting');
      process.exit(1);
    }, cfg.SHUTDOWN_TIMEOUT_MS).unref();
    live.close();
    // drain() stops accepting at once; streams ended after that reconnect to another worker.
    const drained = servers?.drain(Math.max(100, cfg.SHUTDOWN_TIMEOUT_MS - 1000));
    await closeModules().catch((err) => log.warn({ err }, 'closing modules failed'));
    await drained;
    await db.close().catch((err) => log.warn({ err }, 'closing the pool failed'));
    log.info('worker stopped');
    process.exit(0);
  })();
  return shuttingDown;
}

process.on('message', (msg: { type?: string }) => {
  if (msg?.type === WORKER_SHUTDOWN) void shutdown('primary request');
});
// The primary coordinates signals; a signal sent to the worker alone still drains it.
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
// A primary that died outright leaves no one to supervise this worker.
process.on('disconnect', () => void shutdown('primary disconnected'));

// Ready means: the pool has answered a query and the listeners are up.
for (let attempt = 1; ; attempt++) {
  try {
    await db.ping();
    break;
  } catch (err) {
    if (attempt === 1 || attempt % 10 === 0) log.warn({ err, attempt }, 'waiting for postgres');
    await sleep(500);
  }
}
startup.postgres = Math.round(performance.now());
const ports = await servers.listen();
startup.listening = Math.round(performance.now());
process.send?.({ type: WORKER_READY, ports });
log.info({ ports, startup }, 'worker ready');
// Request validators not yet needed compile now, between requests (see warmValidators).
void warmValidators();
