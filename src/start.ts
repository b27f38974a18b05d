// Start-up: configuration, embedded Postgres, migrations, dev certificate, then the cluster's
// primary (PROCESS_MODEL=cluster) or the one serving process (single).
import { type Config, ConfigError, parseConfig } from './config.ts';
import { type EmbeddedPostgres, startEmbeddedPostgres } from './db/embedded.ts';
import { migrate } from './db/migrate.ts';
import { openDatabase } from './db/pool.ts';
import { ensureDevCertificate } from './http/tls-cert.ts';
import { clusterEnds } from './ipc.ts';
import { createLogger } from './log.ts';
import { connectMiner, createMiner, RigRecorder } from './modules/rig/primary.ts';
import { buildWeb } from './modules/web/index.ts';
import { writePidFile } from './pidfile.ts';
import { ensureDevJwtSecret } from './secrets.ts';

interface Supervisor {
  onStopSignal(signal: string): void;
  reload(): void | Promise<void>;
}

let cfg: Config;
try {
  cfg = parseConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`ferrite: ${err.message}\n`);
    process.exit(78); // EX_CONFIG
  }
  throw err;
}

const single = cfg.PROCESS_MODEL === 'single';
process.title = single ? 'ferrite-single' : 'ferrite-primary';
const log = createLogger(cfg.LOG_LEVEL, { role: single ? 'single' : 'primary' });
writePidFile(cfg.DATA_DIR);
let embedded: EmbeddedPostgres | undefined;
let primary: Supervisor | undefined;

const stopEmbedded = async () => {
  const pg = embedded;
  embedded = undefined;
  await pg?.stop();
};

// Signals that arrive before the primary exists still leave nothing running behind.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (primary) return primary.onStopSignal(signal);
    log.info({ signal }, 'stopped during start-up');
    void stopEmbedded().finally(() => process.exit(0));
  });
}
process.on('SIGHUP', () => void primary?.reload());
process.on('uncaughtException', (err) => {
  log.fatal({ err }, 'uncaught exception in the primary');
  void stopEmbedded().finally(() => process.exit(1));
});

try {
  const workerEnv: Record<string, string> = {};
  // Start-up time line, in ms since this process started (`npm run bench -- footprint` reads it).
  const steps: Record<string, number> = { modules: Math.round(performance.now()) };
  let databaseUrl = cfg.DATABASE_URL;
  if (!databaseUrl) {
    embedded = await startEmbeddedPostgres(cfg.DATA_DIR, cfg.EMBEDDED_PG_PORT, log);
    databaseUrl = embedded.url;
    workerEnv.DATABASE_URL = databaseUrl;
  }
  steps.postgres = Math.round(performance.now());
  await migrate(databaseUrl, log);
  steps.migrations = Math.round(performance.now());
  await buildWeb(cfg.DATA_DIR);
  steps.page = Math.round(performance.now());
  if (cfg.HTTPS_PORT !== null && !cfg.TLS_CERT) {
    const files = await ensureDevCertificate(cfg.DATA_DIR, log);
    workerEnv.TLS_CERT = files.cert;
    workerEnv.TLS_KEY = files.key;
  }
  if (cfg.JWT_ALGORITHM === 'HS256' && !cfg.JWT_SECRET) {
    workerEnv.JWT_SECRET = await ensureDevJwtSecret(cfg.DATA_DIR, log);
  }
  steps.secrets = Math.round(performance.now());
  log.info({ steps }, single ? 'start-up steps done; serving' : 'start-up steps done; forking the workers');
  const miner = createMiner(cfg, log);
  const recorderDb = miner
    ? openDatabase(cfg, { connectionString: databaseUrl, max: 2, applicationName: 'ferrite-recorder' }, log)
    : undefined;
  const recorder = recorderDb
    ? new RigRecorder(recorderDb, cfg, log.child({ component: 'recorder' }))
    : undefined;
  const beforeStop = async () => {
    await miner?.stop();
    await recorder?.close();
    await recorderDb?.close();
  };
  if (miner) recorder?.attach(miner);
  if (single) {
    // Loaded here, not above: the cluster's primary never loads the app.
    const { runSingle } = await import('./single.ts');
    primary = await runSingle({
      // What the workers would get in their environment, the app gets in its configuration.
      config: parseConfig({ ...process.env, DATABASE_URL: databaseUrl, ...workerEnv }),
      log,
      connectSupervisor: (ends) => {
        if (miner) connectMiner(miner, ends);
      },
      beforeStop,
      onStopped: stopEmbedded,
    });
  } else {
    const { Primary } = await import('./primary.ts');
    if (miner) connectMiner(miner, clusterEnds());
    const cluster = new Primary({ config: cfg, log, workerEnv, onStopped: stopEmbedded, beforeStop });
    primary = cluster;
    await cluster.start();
  }
  if (miner && cfg.MINER_AUTOSTART) miner.start();
} catch (err) {
  log.fatal({ err }, 'start-up failed');
  await stopEmbedded().catch(() => undefined);
  process.exit(1);
}
