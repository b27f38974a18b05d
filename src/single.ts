// `PROCESS_MODEL=single`: the serving side, the miner's supervisor and the metrics endpoint in
// the one process that did the start-up (src/start.ts), for hosts too small for a cluster. There
// is no one to respawn it: a crash ends the process and the process manager restarts it.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { poolSize } from './config/derived.ts';
import type { Config } from './config.ts';
import { localLink, type ServingEnds } from './ipc.ts';
import type { Logger } from './log.ts';
import { serveMetrics } from './metrics/server.ts';
import { createServing } from './serve.ts';

export interface SingleOptions {
  /** The start-up's configuration, with what it created (DATABASE_URL, TLS files, dev secret). */
  config: Config;
  log: Logger;
  /** Connects the miner's supervisor (if any) to the app, as the primary does to its workers. */
  connectSupervisor: (ends: ServingEnds) => void;
  /** Stopped before the app drains (the miner, the recorder). */
  beforeStop: () => Promise<void>;
  /** Called once everything is stopped, before the process exits (the embedded Postgres). */
  onStopped: () => Promise<void>;
}

export interface SingleProcess {
  onStopSignal(signal: string): void;
  reload(): void;
}

export async function runSingle({
  config: cfg,
  log,
  connectSupervisor,
  beforeStop,
  onStopped,
}: SingleOptions): Promise<SingleProcess> {
  const link = localLink();
  connectSupervisor(link.supervising);
  const serving = createServing({
    config: cfg,
    // Request lines carry the `worker` that served them, as a worker's do.
    log: log.child({ worker: 'single' }),
    workerId: 'single',
    poolSize: poolSize(cfg),
    supervisor: link.serving,
  });
  let metricsServer: Server | undefined;
  let stopping = false;

  const stop = async (reason: string, exitCode: number) => {
    if (stopping) return;
    stopping = true;
    // Whatever happens below, the process is gone by the deadline.
    setTimeout(
      () => {
        log.error('shutdown deadline passed; exiting');
        process.exit(1);
      },
      cfg.SHUTDOWN_TIMEOUT_MS + cfg.SHUTDOWN_DELAY_MS + 2000,
    ).unref();
    metricsServer?.close();
    await beforeStop().catch((err) => log.error({ err }, 'stopping failed'));
    await serving.shutdown(reason, Math.max(100, cfg.SHUTDOWN_TIMEOUT_MS - 1000), cfg.SHUTDOWN_DELAY_MS);
    try {
      await onStopped();
    } catch (err) {
      log.error({ err }, 'stopping failed');
      exitCode ||= 1;
    }
    log.info({ exitCode }, 'ferrite stopped');
    process.exit(exitCode);
  };

  const ports = await serving.listen();
  if (cfg.METRICS_PORT !== null) {
    const { registry } = serving.metrics;
    metricsServer = await serveMetrics(
      cfg.METRICS_HOST,
      cfg.METRICS_PORT,
      async () => ({ body: await registry.metrics(), contentType: registry.contentType }),
      log,
    );
  }
  log.info(
    {
      processModel: 'single',
      http: ports.http,
      https: ports.https,
      metrics: (metricsServer?.address() as AddressInfo | null)?.port,
      startupMs: Math.round(performance.now()),
    },
    'ferrite ready',
  );

  return {
    onStopSignal(signal) {
      if (stopping) {
        log.warn({ signal }, 'second signal; exiting now');
        void Promise.race([onStopped(), new Promise((r) => setTimeout(r, 2000))]).finally(() =>
          process.exit(1),
        );
        return;
      }
      log.info({ signal }, 'shutting down');
      void stop(signal, 0);
    },
    reload() {
      // No second process to hand the listeners to: what can change in place does.
      try {
        serving.reloadTls();
      } catch (err) {
        log.error({ err }, 'reload failed; keeping the current certificate');
      }
      try {
        serving.reloadRoutes();
      } catch (err) {
        log.error({ err }, 'reload failed; keeping the current cut-over routes');
      }
      log.info(
        'reload done: the TLS certificate and the routes file are re-read; other settings need a restart',
      );
    },
  };
}
