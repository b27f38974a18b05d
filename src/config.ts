import { availableParallelism } from 'node:os';
import path from 'node:path';
import { z } from 'zod';

// A port of 0 or "off" switches that listener off; ephemeral ports are chosen by the caller.
const port = (fallback: number) =>
  z
    .union([z.literal('off'), z.coerce.number().int().min(0).max(65535)])
    .default(fallback)
    .transform((v) => (v === 'off' ? 0 : v));

const int = (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === '' ? undefined : v));

/**
 * Every environment key the service reads, with its default. The README's configuration
 * table mirrors this object; `test/config.test.ts` fails when a key is missing there.
 */
export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  WORKERS: int(availableParallelism(), 1, 256),
  HOST: z.string().min(1).default('0.0.0.0'),
  HTTP_PORT: port(8080),
  HTTPS_PORT: port(8443),
  TLS_CERT: optionalString,
  TLS_KEY: optionalString,
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  METRICS_PORT: port(9464),
  DATA_DIR: z.string().min(1).default('.data'),
  DATABASE_URL: optionalString.pipe(z.url({ protocol: /^postgres(ql)?$/ }).optional()),
  EMBEDDED_PG_PORT: int(0, 0, 65535),
  PG_POOL_TOTAL: int(20, 1, 10_000),
  PG_CONNECT_TIMEOUT_MS: int(3000, 100),
  PG_IDLE_TIMEOUT_MS: int(30_000, 0),
  PG_STATEMENT_TIMEOUT_MS: int(10_000, 0),
  SHUTDOWN_TIMEOUT_MS: int(10_000, 100),
  WORKER_READY_TIMEOUT_MS: int(30_000, 1000),
  CRASH_LOOP_MAX: int(5, 1),
  CRASH_LOOP_WINDOW_MS: int(30_000, 1000),
  RESPAWN_BACKOFF_MAX_MS: int(5000, 0),
  KEEP_ALIVE_TIMEOUT_MS: int(75_000, 1000),
  HEADERS_TIMEOUT_MS: int(20_000, 1000),
  REQUEST_TIMEOUT_MS: int(60_000, 1000),
  MAX_HEADER_SIZE: int(16_384, 1024, 1_048_576),
  BODY_LIMIT_BYTES: int(1_048_576, 1024),
  H2_MAX_CONCURRENT_STREAMS: int(128, 1, 10_000),
  H2_MAX_SESSION_MEMORY_MB: int(16, 1, 1024),
  COMPRESSION_THRESHOLD_BYTES: int(1024, 0),
  TRUST_PROXY: z.string().default('loopback'),
  DB_RETRY_AFTER_SECONDS: int(5, 1, 3600),
  EXPOSE_ERRORS: bool(false),
});

export type Config = Readonly<z.infer<typeof configSchema>>;

export class ConfigError extends Error {
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super(`invalid configuration:\n  ${issues.join('\n  ')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** Parses the environment once; reports every bad key together. */
export function parseConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const result = configSchema.safeParse(env);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(issues);
  }
  const cfg = result.data;
  const issues: string[] = [];
  if ((cfg.TLS_CERT === undefined) !== (cfg.TLS_KEY === undefined)) {
    issues.push('TLS_CERT/TLS_KEY: set both or neither');
  }
  if (cfg.HEADERS_TIMEOUT_MS > cfg.REQUEST_TIMEOUT_MS) {
    issues.push('HEADERS_TIMEOUT_MS: must not exceed REQUEST_TIMEOUT_MS');
  }
  if (cfg.HTTP_PORT === 0 && cfg.HTTPS_PORT === 0) {
    issues.push('HTTP_PORT/HTTPS_PORT: at least one listener must be on');
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return Object.freeze({ ...cfg, DATA_DIR: path.resolve(cfg.DATA_DIR) });
}

let cached: Config | undefined;

/** The process-wide configuration, parsed on first use and frozen. */
export function config(): Config {
  cached ??= parseConfig();
  return cached;
}

/** Per-worker pool size from the total budget; every worker keeps at least two. */
export function poolSizePerWorker(cfg: Pick<Config, 'PG_POOL_TOTAL' | 'WORKERS'>): number {
  return Math.max(2, Math.floor(cfg.PG_POOL_TOTAL / cfg.WORKERS));
}
