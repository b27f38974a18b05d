import cluster, { type Worker } from 'node:cluster';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { HANDED_CONFIG, handOn } from './config/handed.ts';
import type { Config } from './config.ts';
import { WORKER_GO, WORKER_HOLD, WORKER_READY, WORKER_SHUTDOWN } from './ipc.ts';
import type { Logger } from './log.ts';
import type { createClusterMetrics } from './metrics/cluster.metrics.ts';
import { serveMetrics } from './metrics/server.ts';

export interface PrimaryOptions {
  config: Config;
  log: Logger;
  /** Called once everything is stopped, before the process exits. */
  onStopped: () => Promise<void>;
  /** Stopped before the workers (e.g. the miner). */
  beforeStop?: () => Promise<void>;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  retiring: boolean;
  /** Forked before start-up finished: loads its modules, then waits for WORKER_GO. */
  held: boolean;
}

/**
 * The thin primary: forks, supervises, restarts (rolling on SIGHUP), stops, and serves the
 * aggregated metrics. It never loads express or the route modules.
 */
export class Primary {
  readonly #cfg: Config;
  readonly #log: Logger;
  /** What start-up created (DATABASE_URL of the embedded server, dev TLS files); set by `start`. */
  #serviceEnv: Record<string, string> | undefined;
  readonly #onStopped: () => Promise<void>;
  readonly #beforeStop: (() => Promise<void>) | undefined;
  readonly #slots = new Map<number, Slot>();
  readonly #crashes: number[] = [];
  /** Workers started to replace one, by reason (`ferrite_worker_restarts_total`). */
  readonly #restarts = new Map<string, number>();
  #metrics: ReturnType<typeof createClusterMetrics> | undefined;
  #metricsServer: Server | undefined;
  #stopping = false;
  #rolling: Promise<void> | undefined;
  #rollAgain = false;
  #consecutiveCrashes = 0;
  #onAllReady: ((ports: { http?: number; https?: number }) => void) | undefined;

  constructor(opts: PrimaryOptions) {
    this.#cfg = opts.config;
    this.#log = opts.log;
    this.#onStopped = opts.onStopped;
    this.#beforeStop = opts.beforeStop;
    cluster.setupPrimary({
      exec: fileURLToPath(new URL('./worker.ts', import.meta.url)),
      // The lab's `npm run profile`: each worker writes a V8 CPU profile when it exits.
      execArgv: this.#cfg.CPU_PROFILE_DIR
        ? [...process.execArgv, '--cpu-prof', `--cpu-prof-dir=${this.#cfg.CPU_PROFILE_DIR}`]
        : process.execArgv,
    });
    cluster.on('exit', (worker, code, signal) => this.#onExit(worker, code, signal));
  }

  /**
   * Forks the workers while start-up is still under way (migrations, the embedded server): each
   * loads its modules, the larger part of its start, and then waits for `start` to release it.
   */
  prefork(): void {
    for (let i = this.#slots.size; i < this.#cfg.WORKERS; i++) this.#spawn();
  }

  /**
   * Serves: releases the preforked workers with what start-up created (`serviceEnv`), forks the
   * rest, and resolves once every worker is listening.
   */
  async start(serviceEnv: Record<string, string>): Promise<void> {
    this.#serviceEnv = serviceEnv;
    if (this.#cfg.METRICS_PORT !== null) {
      this.#metricsServer = await serveMetrics(
        this.#cfg.METRICS_HOST,
        this.#cfg.METRICS_PORT,
        () => this.#renderMetrics(),
        this.#log,
      );
    }
    const allReady = new Promise<{ http?: number; https?: number }>((resolve) => {
      this.#onAllReady = resolve;
    });
    // A worker that dies before it is ready is replaced by the exit handler.
    for (const slot of [...this.#slots.values()].filter((s) => s.held)) {
      slot.held = false;
      this.#whenReady(slot.worker).catch(() => undefined);
      slot.worker.send({ type: WORKER_GO, env: serviceEnv });
    }
    for (let i = this.#slots.size; i < this.#cfg.WORKERS; i++) {
      this.#whenReady(this.#spawn()).catch(() => undefined);
    }
    const ports = await allReady;
    this.#log.info(
      {
        workers: this.#cfg.WORKERS,
        http: ports?.http,
        https: ports?.https,
        metrics: (this.#metricsServer?.address() as AddressInfo | null)?.port,
        startupMs: Math.round(performance.now()),
      },
      'ferrite ready',
    );
  }

  async #renderMetrics() {
    if (!this.#metrics) {
      const { createClusterMetrics } = await import('./metrics/cluster.metrics.ts');
      this.#metrics ??= createClusterMetrics(
        () => [...this.#slots.values()].map((s) => s.worker),
        () => this.#restarts,
      );
    }
    return this.#metrics.render();
  }

  #countRestart(reason: string): void {
    this.#restarts.set(reason, (this.#restarts.get(reason) ?? 0) + 1);
  }

  #spawn(): Worker {
    const held = !this.#serviceEnv;
    const env: Record<string, string> = held
      ? { [HANDED_CONFIG]: handOn(this.#cfg, {}), [WORKER_HOLD]: '1' }
      : { ...this.#serviceEnv, [HANDED_CONFIG]: handOn(this.#cfg, this.#serviceEnv ?? {}) };
    // The lab's `npm run profile:doctor` instruments the workers only (clinic refuses a cluster).
    if (this.#cfg.WORKER_NODE_OPTIONS) env.NODE_OPTIONS = this.#cfg.WORKER_NODE_OPTIONS;
    const worker = cluster.fork(env);
    this.#slots.set(worker.id, { worker, ready: false, retiring: false, held });
    return worker;
  }

  /** Resolves with the worker's ports once it says it is ready; rejects if it dies or is too slow. */
  #whenReady(worker: Worker): Promise<{ http?: number; https?: number }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        this.#log.error({ worker: worker.id }, 'worker not ready in time; killing it');
        worker.process.kill('SIGKILL');
        reject(new Error(`worker ${worker.id} was not ready within WORKER_READY_TIMEOUT_MS`));
      }, this.#cfg.WORKER_READY_TIMEOUT_MS);
      const onMessage = (msg: { type?: string; ports?: { http?: number; https?: number } }) => {
        if (msg?.type !== WORKER_READY) return;
        cleanup();
        const slot = this.#slots.get(worker.id);
        if (slot) slot.ready = true;
        this.#consecutiveCrashes = 0;
        const ports = msg.ports ?? {};
        const ready = [...this.#slots.values()].filter((s) => s.ready && !s.retiring).length;
        if (ready >= this.#cfg.WORKERS) {
          this.#onAllReady?.(ports);
          this.#onAllReady = undefined;
        }
        resolve(ports);
      };
      const onExit = () => {
        cleanup();
        reject(new Error(`worker ${worker.id} exited before it was ready`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.once('exit', onExit);
    });
  }

  #onExit(worker: Worker, code: number | null, signal: string | null): void {
    const slot = this.#slots.get(worker.id);
    this.#slots.delete(worker.id);
    if (this.#stopping || slot?.retiring) return;
    // Before start: `start` forks one in its place (and its own readiness check applies).
    if (slot?.held) {
      this.#log.error({ worker: worker.id, code, signal }, 'worker died while start-up was under way');
      return;
    }

    const now = Date.now();
    this.#crashes.push(now);
    while (this.#crashes.length > 0 && (this.#crashes[0] as number) < now - this.#cfg.CRASH_LOOP_WINDOW_MS) {
      this.#crashes.shift();
    }
    if (this.#crashes.length >= this.#cfg.CRASH_LOOP_MAX) {
      this.#log.fatal(
        { crashes: this.#crashes.length, windowMs: this.#cfg.CRASH_LOOP_WINDOW_MS },
        'workers are crash-looping; giving up so the process manager restarts the service',
      );
      void this.stop(1);
      return;
    }
    const backoff = Math.min(this.#cfg.RESPAWN_BACKOFF_MAX_MS, 100 * 2 ** this.#consecutiveCrashes);
    this.#consecutiveCrashes++;
    this.#log.error({ worker: worker.id, code, signal, respawnInMs: backoff }, 'worker died; replacing it');
    this.#countRestart(signal ? `signal:${signal}` : `exit:${code}`);
    setTimeout(() => {
      if (this.#stopping) return;
      this.#whenReady(this.#spawn()).catch((err) =>
        this.#log.error({ err }, 'replacement worker failed to start'),
      );
    }, backoff).unref();
  }

  /** Rolling restart: one worker at a time, the new one ready before the old one drains. */
  reload(): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    if (this.#rolling) {
      this.#rollAgain = true;
      return this.#rolling;
    }
    this.#rolling = (async () => {
      do {
        this.#rollAgain = false;
        this.#log.info('rolling restart started');
        const old = [...this.#slots.values()].filter((s) => !s.retiring);
        for (const slot of old) {
          if (this.#stopping) return;
          try {
            await this.#whenReady(this.#spawn());
          } catch (err) {
            this.#log.error({ err }, 'rolling restart aborted: a new worker did not become ready');
            return;
          }
          await this.#retire(slot);
          this.#countRestart('reload');
        }
        this.#log.info('rolling restart finished');
      } while (this.#rollAgain && !this.#stopping);
    })().finally(() => {
      this.#rolling = undefined;
    });
    return this.#rolling;
  }

  /**
   * Asks a worker to drain (after reporting not ready for `delayMs`) and waits for it to exit,
   * killing it after the shutdown timeout.
   */
  #retire(slot: Slot, delayMs = 0): Promise<void> {
    slot.retiring = true;
    const { worker } = slot;
    return new Promise((resolve) => {
      if (worker.isDead()) {
        resolve();
        return;
      }
      const timer = setTimeout(
        () => {
          this.#log.warn({ worker: worker.id }, 'worker did not exit in time; killing it');
          worker.process.kill('SIGKILL');
        },
        this.#cfg.SHUTDOWN_TIMEOUT_MS + delayMs + 2000,
      );
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      try {
        worker.send({ type: WORKER_SHUTDOWN, delayMs });
      } catch {
        worker.process.kill('SIGTERM');
      }
    });
  }

  /** First SIGTERM/SIGINT: graceful stop. Second: exit at once. */
  onStopSignal(signal: string): void {
    if (this.#stopping) {
      this.#log.warn({ signal }, 'second signal; exiting now');
      for (const slot of this.#slots.values()) slot.worker.process.kill('SIGKILL');
      void Promise.race([this.#onStopped(), new Promise((r) => setTimeout(r, 2000))]).finally(() =>
        process.exit(1),
      );
      return;
    }
    this.#log.info({ signal }, 'shutting down');
    void this.stop(0);
  }

  async stop(exitCode: number): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#metricsServer?.close();
    await this.#beforeStop?.().catch((err) => this.#log.error({ err }, 'stopping failed'));
    // The whole host is leaving: every worker first reports not ready for SHUTDOWN_DELAY_MS.
    await Promise.all([...this.#slots.values()].map((s) => this.#retire(s, this.#cfg.SHUTDOWN_DELAY_MS)));
    try {
      await this.#onStopped();
    } catch (err) {
      this.#log.error({ err }, 'stopping failed');
      exitCode ||= 1;
    }
    this.#log.info({ exitCode }, 'ferrite stopped');
    process.exit(exitCode);
  }
}
