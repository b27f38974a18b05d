// Start-up: a one-time helper process (src/prepare.ts) checks the configuration, this process
// starts the embedded Postgres if needed, the helper migrates and builds what the serving side
// needs and exits; then this process becomes the cluster's primary (PROCESS_MODEL=cluster) or
// the one serving process (single). Until then it loads no zod, no pg and none of the app.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { minerConfigured } from './config/derived.ts';
import type { Config } from './config.ts';
import type { EmbeddedPostgres } from './db/embedded.ts';
import { clusterEnds, PREPARE_CONFIG, PREPARE_DONE, PREPARE_RUN } from './ipc.ts';
import { createLogger, type Logger } from './log.ts';
import { writePidFile } from './pidfile.ts';

interface Supervisor {
  onStopSignal(signal: string): void;
  reload(): void | Promise<void>;
}

let log: Logger | undefined;
let embedded: EmbeddedPostgres | undefined;
let primary: Supervisor | undefined;
let exiting = false;
let prepare: ReturnType<typeof startPrepare> | undefined;

const stopEmbedded = async () => {
  const pg = embedded;
  embedded = undefined;
  await pg?.stop();
};
const exitNow = (code: number) => {
  exiting = true;
  if (prepare?.child.exitCode === null) prepare.child.kill();
  void stopEmbedded()
    .catch(() => undefined)
    .finally(() => process.exit(code));
};

// Signals that arrive before the primary exists still leave nothing running behind.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (primary) return primary.onStopSignal(signal);
    log?.info({ signal }, 'stopped during start-up');
    exitNow(0);
  });
}
process.on('SIGHUP', () => void primary?.reload());
process.on('uncaughtException', (err) => {
  if (log) log.fatal({ err }, 'uncaught exception');
  else process.stderr.write(`ferrite: ${err.stack ?? err}\n`);
  exitNow(1);
});

/** The one-time helper: its messages in order, and its exit. */
function startPrepare() {
  const child = fork(fileURLToPath(new URL('./prepare.ts', import.meta.url)), [], { stdio: 'inherit' });
  const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
  const next = <T>(type: string) =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (msg: { type?: string }) => {
        if (msg?.type !== type) return;
        child.off('message', onMessage);
        resolve(msg as T);
      };
      child.on('message', onMessage);
      // A helper that exits before it answers: its exit code is the start-up's (78: bad config).
      void exited.then((code) => {
        child.off('message', onMessage);
        reject(Object.assign(new Error(`the start-up helper exited with ${code}`), { exitCode: code }));
      });
    });
  return { child, exited, next };
}

// Start-up time line, in ms since this process started (`npm run bench -- footprint` reads it).
const steps: Record<string, number> = {};
prepare = startPrepare();
try {
  const { config: parsed } = await prepare.next<{ config: Config }>(PREPARE_CONFIG);
  const cfg: Config = Object.freeze(parsed);
  steps.config = Math.round(performance.now());
  const single = cfg.PROCESS_MODEL === 'single';
  process.title = single ? 'ferrite-single' : 'ferrite-primary';
  log = createLogger(cfg.LOG_LEVEL, { role: single ? 'single' : 'primary' });
  writePidFile(cfg.DATA_DIR);

  // Stopped before the serving side: the miner, then its recorder (set below on a rig).
  let beforeStopParts: Array<() => Promise<void>> = [];
  const beforeStop = async () => {
    for (const part of beforeStopParts) await part();
  };
  // The serving side loads while the helper checks migrations and the embedded server starts:
  // the primary forks its workers now (each waits for `start`), the single process imports its
  // app. Most of a serving process's start is loading its modules.
  const servingSide = single
    ? import('./single.ts')
    : import('./primary.ts').then(({ Primary }) => {
        const cluster = new Primary({ config: cfg, log: log as Logger, onStopped: stopEmbedded, beforeStop });
        cluster.prefork();
        return cluster;
      });
  // Nothing waits on it until the steps below are done; its failure is the start-up's then.
  servingSide.catch(() => undefined);

  let databaseUrl = cfg.DATABASE_URL;
  const serviceEnv: Record<string, string> = {};
  if (!databaseUrl) {
    const { startEmbeddedPostgres } = await import('./db/embedded.ts');
    embedded = await startEmbeddedPostgres(cfg.DATA_DIR, cfg.EMBEDDED_PG_PORT, log);
    databaseUrl = embedded.url;
    serviceEnv.DATABASE_URL = databaseUrl;
  }
  steps.postgres = Math.round(performance.now());
  prepare.child.send({ type: PREPARE_RUN, databaseUrl });
  const done = await prepare.next<{ env: Record<string, string>; steps: Record<string, number> }>(
    PREPARE_DONE,
  );
  Object.assign(serviceEnv, done.env);
  steps.prepared = Math.round(performance.now());
  log.info(
    { steps, helper: done.steps },
    single ? 'start-up steps done; serving' : 'start-up steps done; releasing the workers',
  );

  // The miner's supervisor and its recorder (and with it pg) only on a host that runs a miner.
  const rig = minerConfigured(cfg) ? await import('./modules/rig/primary.ts') : undefined;
  const miner = await rig?.createMiner(cfg, log);
  const recorderDb = miner
    ? (await import('./db/pool.ts')).openDatabase(
        cfg,
        { connectionString: databaseUrl, max: 2, applicationName: 'ferrite-recorder' },
        log,
      )
    : undefined;
  const recorder =
    rig && recorderDb
      ? new rig.RigRecorder(recorderDb, cfg, log.child({ component: 'recorder' }))
      : undefined;
  if (miner) recorder?.attach(miner);
  beforeStopParts = [
    async () => miner?.stop(),
    async () => recorder?.close(),
    async () => recorderDb?.close(),
  ];
  const side = await servingSide;
  if ('runSingle' in side) {
    primary = await side.runSingle({
      // What the workers are handed, the app gets here.
      config: Object.freeze({ ...cfg, ...serviceEnv }),
      log,
      connectSupervisor: (ends) => {
        if (miner) rig?.connectMiner(miner, ends);
      },
      beforeStop,
      onStopped: stopEmbedded,
    });
  } else {
    if (miner) rig?.connectMiner(miner, clusterEnds());
    primary = side;
    await side.start(serviceEnv);
  }
  if (miner && cfg.MINER_AUTOSTART) miner.start();
} catch (err) {
  const code = (err as { exitCode?: number }).exitCode;
  if (code === undefined) log?.fatal({ err }, 'start-up failed');
  if (!exiting) exitNow(code === 78 ? 78 : 1);
}
