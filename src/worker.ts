// A cluster worker: the serving side (src/serve.ts) under the primary's supervision.
import cluster from 'node:cluster';
import { poolSize } from './config/derived.ts';
import { handedConfig } from './config/handed.ts';
import type { Config } from './config.ts';
import { processChannel, WORKER_GO, WORKER_HOLD, WORKER_READY, WORKER_SHUTDOWN } from './ipc.ts';
import { createLogger } from './log.ts';
import { createServing, type Serving } from './serve.ts';

const handed = handedConfig();
const workerId = String(cluster.worker?.id ?? 0);
process.title = `ferrite-worker-${workerId}`;
const log = createLogger(handed.LOG_LEVEL, { role: 'worker', worker: workerId });

// Process-level failures end the worker; the primary replaces it.
process.on('uncaughtException', (err) => {
  log.fatal({ err }, 'uncaught exception; worker exiting');
  process.exit(1);
});
process.on('unhandledRejection', (err) => {
  log.fatal({ err }, 'unhandled rejection; worker exiting');
  process.exit(1);
});

const primary = processChannel();
let serving: Serving | undefined;
let shuttingDown: Promise<void> | undefined;
/** `delayMs`: how long to report not ready, still serving, before draining (the host stops). */
function shutdown(reason: string, delayMs = 0): Promise<void> {
  shuttingDown ??= (async () => {
    // Whatever happens below, the worker is gone by the deadline.
    setTimeout(() => {
      log.error('shutdown deadline passed; exiting');
      process.exit(1);
    }, handed.SHUTDOWN_TIMEOUT_MS + delayMs).unref();
    await serving?.shutdown(reason, Math.max(100, handed.SHUTDOWN_TIMEOUT_MS - 1000), delayMs);
    log.info('worker stopped');
    process.exit(0);
  })();
  return shuttingDown;
}

// Forked while start-up was under way: the modules are loaded; serve once the primary says so,
// with what start-up created (the embedded server's DATABASE_URL, the dev certificate).
const released = new Promise<Config>((resolve) => {
  if (!process.env[WORKER_HOLD]) return resolve(handed);
  primary.onMessage((msg) => {
    if (msg.type === WORKER_GO) resolve(Object.freeze({ ...handed, ...(msg.env as Record<string, string>) }));
  });
});
primary.onMessage((msg) => {
  if (msg.type === WORKER_SHUTDOWN) void shutdown('primary request', Number(msg.delayMs) || 0);
});
// The primary coordinates signals; a signal sent to the worker alone still drains it.
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
// A primary that died outright leaves no one to supervise this worker.
process.on('disconnect', () => void shutdown('primary disconnected'));

const cfg = await released;
if (!cfg.DATABASE_URL) {
  log.fatal('worker started without DATABASE_URL; the primary provides it');
  process.exit(1);
}
serving = createServing({
  config: cfg,
  log,
  workerId,
  poolSize: poolSize(cfg),
  supervisor: primary,
  metricsScrape: primary,
});

const ports = await serving.listen();
primary.send({ type: WORKER_READY, ports });
