// The one-time start work, in a process of its own that exits when it is done, so that none of
// it stays resident in the long-lived process (the cluster's primary, or the single process):
// parsing and checking the configuration (zod), then, once the database is up, migrations (pg),
// the page build, the development certificate (selfsigned) and the development JWT secret.
//
// Talks to src/start.ts over IPC: sends PREPARE_CONFIG (or exits 78 on a bad configuration),
// waits for PREPARE_RUN with the database URL, sends PREPARE_DONE with what the serving side's
// environment needs on top of its own, and exits.
import { once } from 'node:events';
import { ConfigError, parseConfig } from './config.ts';
import { PREPARE_CONFIG, PREPARE_DONE, PREPARE_RUN } from './ipc.ts';

process.title = 'ferrite-prepare';
if (!process.send) {
  process.stderr.write('ferrite: src/prepare.ts is started by src/start.ts\n');
  process.exit(64);
}
const send = (msg: object) => new Promise<void>((resolve) => process.send?.(msg, () => resolve()));

let cfg: ReturnType<typeof parseConfig>;
try {
  cfg = parseConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`ferrite: ${err.message}\n`);
    process.exit(78); // EX_CONFIG
  }
  throw err;
}
// The routes file too: a bad one stops the start here, not in a crash loop of workers.
if (cfg.ROUTES_FILE) {
  const { loadRoutesFile, RoutesFileError } = await import('./modules/cutover/index.ts');
  try {
    loadRoutesFile(cfg.ROUTES_FILE);
  } catch (err) {
    if (!(err instanceof RoutesFileError)) throw err;
    process.stderr.write(`ferrite: invalid configuration:\n  ROUTES_FILE: ${err.message}\n`);
    process.exit(78);
  }
}
// And the existing service's OpenAPI document, compiled as the workers will.
if (cfg.LEGACY_OPENAPI_FILE) {
  const { Contract, ContractFileError } = await import('./modules/gateway/index.ts');
  try {
    Contract.load(cfg.LEGACY_OPENAPI_FILE);
  } catch (err) {
    if (!(err instanceof ContractFileError)) throw err;
    process.stderr.write(`ferrite: invalid configuration:\n  LEGACY_OPENAPI_FILE: ${err.message}\n`);
    process.exit(78);
  }
}
// The configuration goes back first; the rest loads while the database starts.
await send({ type: PREPARE_CONFIG, config: cfg });
const [{ migrate }, { ensureDevCertificate }, { createLogger }, { buildWeb }, { ensureDevJwtSecret }] =
  await Promise.all([
    import('./db/migrate.ts'),
    import('./http/tls-cert.ts'),
    import('./log.ts'),
    import('./modules/web/index.ts'),
    import('./secrets.ts'),
  ]);
const log = createLogger(cfg.LOG_LEVEL, { role: 'prepare' });

const [msg] = (await once(process, 'message')) as [{ type?: string; databaseUrl?: string }];
if (msg?.type !== PREPARE_RUN || !msg.databaseUrl) process.exit(64);
try {
  const env: Record<string, string> = {};
  // Start-up time line, in ms since the start-up process started (it adds its own offset).
  const steps: Record<string, number> = { modules: Math.round(performance.now()) };
  await migrate(msg.databaseUrl, log);
  steps.migrations = Math.round(performance.now());
  await buildWeb(cfg.DATA_DIR, {
    gpuTempAlertC: cfg.DASHBOARD_GPU_TEMP_ALERT_C,
    hashrateAlertRatio: cfg.DASHBOARD_HASHRATE_ALERT_RATIO,
  });
  steps.page = Math.round(performance.now());
  if (cfg.HTTPS_PORT !== null && !cfg.TLS_CERT) {
    const files = await ensureDevCertificate(cfg.DATA_DIR, log);
    env.TLS_CERT = files.cert;
    env.TLS_KEY = files.key;
  }
  if (cfg.JWT_ALGORITHM === 'HS256' && !cfg.JWT_SECRET) {
    env.JWT_SECRET = await ensureDevJwtSecret(cfg.DATA_DIR, log);
  }
  steps.secrets = Math.round(performance.now());
  await send({ type: PREPARE_DONE, env, steps });
  process.exit(0);
} catch (err) {
  log.fatal({ err }, 'start-up work failed');
  process.exit(1);
}
