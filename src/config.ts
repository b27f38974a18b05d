import { availableParallelism } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { bool, ConfigError, int, list, optionalString, parseEnv, port, words } from './config/parsers.ts';

export { ConfigError };

// An upstream's base URL: its path is prepended to what is forwarded; query, fragment and
// credentials have no defined meaning there.
const upstreamUrl = optionalString.pipe(
  z
    .url({ protocol: /^https?$/ })
    .refine((u) => {
      const url = new URL(u);
      return !url.search && !url.hash && !url.username && !url.password;
    }, 'an http(s) URL without query, fragment or credentials')
    .optional(),
);

export interface GatewayRoute {
  prefix: string;
  /** Scope family: GET/HEAD need `<family>:read`, other methods `<family>:write`. */
  family: 'task' | 'trade' | 'projects';
  url: string;
}

const BUILTIN_PREFIXES = ['/v1/task', '/v1/trade'];
// Ferrite's own paths can never be handed to an upstream.
const RESERVED_PREFIX = /^\/(api|ws|assets)(\/|$)/;
const ROUTE_ENTRY = /^(\/[A-Za-z0-9._~!$&'()*+;:@%/-]*[^/])=(task|trade|projects):(\S+)$/;

// `prefix=family:url,…`, e.g. `/v1/orders=trade:http://orders.internal:8080`.
const gatewayRoutes = z
  .string()
  .default('')
  .transform((value, ctx) => {
    const routes: GatewayRoute[] = [];
    const seen = new Set(BUILTIN_PREFIXES);
    for (const entry of value.split(',').map((s) => s.trim())) {
      if (!entry) continue;
      const m = ROUTE_ENTRY.exec(entry);
      const url = m?.[3] ?? '';
      const parsed = URL.canParse(url) ? new URL(url) : undefined;
      const problem = !m
        ? 'is not prefix=task|trade|projects:http(s)://host[:port][/path]'
        : !parsed || !/^https?:$/.test(parsed.protocol) || parsed.search || parsed.hash || parsed.username
          ? 'needs an http(s) URL without query, fragment or credentials'
          : RESERVED_PREFIX.test(m[1] as string) || /(^|\/)\.{0,2}(\/|$)/.test((m[1] as string).slice(1))
            ? 'has a reserved or malformed prefix'
            : seen.has(m[1] as string)
              ? 'repeats a prefix'
              : undefined;
      if (problem || !m) {
        ctx.addIssue({ code: 'custom', message: `"${entry}" ${problem}` });
        continue;
      }
      seen.add(m[1] as string);
      routes.push({ prefix: m[1] as string, family: m[2] as GatewayRoute['family'], url });
    }
    return routes;
  });

// Only idempotent methods may ever be retried.
const retryMethods = z
  .string()
  .default('GET,HEAD,OPTIONS')
  .transform((v) =>
    v
      .split(',')
      .map((m) => m.trim().toUpperCase())
      .filter(Boolean),
  )
  .pipe(z.array(z.enum(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'])));

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
  BODY_IDLE_TIMEOUT_MS: int(30_000, 100),
  MAX_HEADER_SIZE: int(16_384, 1024, 1_048_576),
  BODY_LIMIT_BYTES: int(1_048_576, 1024),
  H2_MAX_CONCURRENT_STREAMS: int(128, 1, 10_000),
  H2_MAX_SESSION_MEMORY_MB: int(16, 1, 1024),
  COMPRESSION_THRESHOLD_BYTES: int(1024, 0),
  TRUST_PROXY: z.string().default('loopback'),
  DB_RETRY_AFTER_SECONDS: int(5, 1, 3600),
  EXPOSE_ERRORS: bool(false),
  JWT_ALGORITHM: z.enum(['HS256', 'EdDSA']).default('HS256'),
  JWT_SECRET: optionalString,
  JWT_PRIVATE_KEY_FILE: optionalString,
  JWT_PUBLIC_KEY_FILE: optionalString,
  JWT_KEY_ID: z.string().min(1).max(64).default('ferrite-1'),
  JWT_ISSUER: z.string().min(1).default('ferrite'),
  JWT_AUDIENCE: z.string().min(1).default('ferrite'),
  ACCESS_TOKEN_TTL_SECONDS: int(900, 30, 86_400),
  REFRESH_TOKEN_TTL_SECONDS: int(2_592_000, 60),
  ARGON2_MEMORY_KIB: int(19_456, 8, 4_194_304),
  ARGON2_TIME_COST: int(2, 1, 100),
  ARGON2_PARALLELISM: int(1, 1, 16),
  ARGON2_CONCURRENCY: int(1, 1, 64),
  ARGON2_QUEUE_MAX: int(32, 0, 100_000),
  REGISTRATION_ENABLED: bool(true),
  REGISTER_MAX_PER_IP: int(10, 1),
  REGISTER_WINDOW_SECONDS: int(3600, 1),
  DEFAULT_SCOPES: z.string().default('miner:read,projects:read,projects:write'),
  LOGIN_MAX_FAILURES_PER_CLIENT: int(5, 1),
  LOGIN_EMAIL_SLOWDOWN_AFTER: int(20, 1),
  LOGIN_EMAIL_SLOWDOWN_MS: int(2000, 0, 60_000),
  LOGIN_MAX_ATTEMPTS_PER_IP: int(50, 1),
  LOGIN_WINDOW_SECONDS: int(900, 1),
  MINER_CMD: optionalString,
  MINER_ARGS: words(),
  MINER_AUTOSTART: bool(false),
  MINER_STOP_TIMEOUT_MS: int(5000, 100),
  MINER_RESTART: z.enum(['on-failure', 'always', 'never']).default('on-failure'),
  MINER_RESTART_BACKOFF_MAX_MS: int(30_000, 0),
  MINER_ENV_PASSTHROUGH: list(),
  STATS_PERSIST_INTERVAL_MS: int(10_000, 100),
  STATS_PUSH_INTERVAL_MS: int(1000, 50),
  WS_PING_INTERVAL_MS: int(30_000, 100),
  WS_ALLOWED_ORIGINS: z.string().default(''),
  STREAMS_MAX_PER_USER: int(20, 1, 100_000),
  CPU_PROFILE_DIR: optionalString,
  WORKER_NODE_OPTIONS: optionalString,
  TASK_UPSTREAM_URL: upstreamUrl,
  TRADE_UPSTREAM_URL: upstreamUrl,
  GATEWAY_ROUTES: gatewayRoutes,
  GATEWAY_FORWARD_AUTHORIZATION: bool(false),
  GATEWAY_CONNECT_TIMEOUT_MS: int(1000, 10),
  GATEWAY_HEADERS_TIMEOUT_MS: int(10_000, 10),
  GATEWAY_BODY_TIMEOUT_MS: int(30_000, 10),
  GATEWAY_POOL_CONNECTIONS: int(128, 1, 10_000),
  GATEWAY_KEEP_ALIVE_TIMEOUT_MS: int(4000, 100),
  GATEWAY_RETRIES: int(2, 0, 2),
  GATEWAY_RETRY_METHODS: retryMethods,
  GATEWAY_RETRY_BACKOFF_MS: int(25, 1, 10_000),
  GATEWAY_RETRY_BACKOFF_MAX_MS: int(250, 1, 60_000),
  GATEWAY_RETRY_BUDGET_PERCENT: int(10, 0, 100),
  GATEWAY_RETRY_BUDGET_MIN: int(10, 0),
  GATEWAY_BREAKER_WINDOW_MS: int(10_000, 100),
  GATEWAY_BREAKER_MIN_REQUESTS: int(20, 1),
  GATEWAY_BREAKER_ERROR_PERCENT: int(50, 1, 100),
  GATEWAY_BREAKER_OPEN_MS: int(5000, 10),
  LEGACY_UPSTREAM_URL: upstreamUrl,
  SHADOW_UPSTREAM_URL: upstreamUrl,
  SHADOW_PERCENT: z.coerce.number().min(0).max(100).default(5),
  SHADOW_PATHS: z.string().default(''),
  SHADOW_IGNORE_FIELDS: z.string().default('requestId,timestamp,updatedAt'),
  SHADOW_MAX_CONCURRENCY: int(16, 1, 10_000),
  SHADOW_TIMEOUT_MS: int(5000, 10),
  SHADOW_MAX_BODY_BYTES: int(262_144, 1024, 16_777_216),
  SHADOW_LOG_DIFFS: int(20, 0),
  NODE_RPC_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  NODE_RPC_METHODS: z
    .string()
    .default(
      'eth_blockNumber,eth_getBlockByHash,eth_getBlockByNumber,eth_chainId,eth_syncing,net_version,net_peerCount,web3_clientVersion',
    ),
  NODE_RPC_TIMEOUT_MS: int(5000, 100),
  NODE_RPC_MAX_BODY_BYTES: int(262_144, 1024),
  NODE_RPC_MAX_BATCH: int(50, 1, 1000),
  BLOCK_VALIDATE_METHOD: z.string().min(1).default('eth_getBlockByHash'),
  BLOCK_VALIDATE_RETRY_MS: int(5000, 100),
  WORKFLOW_PLANNER: z.enum(['auto', 'rules', 'gemini']).default('auto'),
  WORKFLOW_MAX_STEPS: int(50, 1, 1000),
  WORKFLOW_RUN_CONCURRENCY: int(4, 1, 256),
  WORKFLOW_WORKER_CONCURRENCY: int(16, 1, 1024),
  WORKFLOW_MAX_ACTIVE_RUNS: int(20, 1, 10_000),
  WORKFLOW_STEP_TIMEOUT_MS: int(120_000, 100),
  WORKFLOW_LEASE_MS: int(30_000, 500),
  WORKFLOW_HEARTBEAT_MS: int(5000, 100),
  WORKFLOW_SWEEP_INTERVAL_MS: int(5000, 100),
  WORKFLOW_OUTPUT_MAX_BYTES: int(16_384, 256, 1_048_576),
  SEARCH_THREADS: int(2, 1, 64),
  SEARCH_TIMEOUT_MS: int(5000, 50),
  SEARCH_MAX_MATCHES: int(200, 1, 10_000),
  GEMINI_API_KEY: optionalString,
  GEMINI_BASE_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  GEMINI_MODEL: z.string().min(1).default('gemini-2.5-flash'),
  GEMINI_TIMEOUT_MS: int(30_000, 100),
  VFS_MAX_FILE_BYTES: int(5_242_880, 1, 268_435_456),
  VFS_QUOTA_BYTES: int(104_857_600, 1),
  VFS_MAX_FILES: int(10_000, 1, 10_000_000),
  VFS_MAX_PATH_BYTES: int(1024, 16, 4096),
  VFS_MAX_PATH_DEPTH: int(32, 1, 256),
  PROJECTS_MAX_PER_USER: int(100, 1, 1_000_000),
  USER_QUOTA_BYTES: int(1_073_741_824, 1),
  EXPORT_POOL_SIZE: int(2, 1, 100),
  EXPORT_MAX_PER_USER: int(1, 1, 100),
  EXPORT_DRAIN_TIMEOUT_MS: int(30_000, 100),
  SSE_HEARTBEAT_MS: int(15_000, 50),
  SSE_RETRY_MS: int(2000, 0),
  SSE_MAX_BUFFER_BYTES: int(1_048_576, 1024),
  EVENTS_RETAIN_PER_PROJECT: int(10_000, 100),
  EVENTS_RETAIN_SECONDS: int(604_800, 0),
});

export type Config = Readonly<z.infer<typeof configSchema>>;

/** Parses the environment once; reports every bad key together. */
export function parseConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cfg = parseEnv(configSchema, env);
  const issues: string[] = [];
  if ((cfg.TLS_CERT === undefined) !== (cfg.TLS_KEY === undefined)) {
    issues.push('TLS_CERT/TLS_KEY: set both or neither');
  }
  if (cfg.HEADERS_TIMEOUT_MS > cfg.REQUEST_TIMEOUT_MS) {
    issues.push('HEADERS_TIMEOUT_MS: must not exceed REQUEST_TIMEOUT_MS');
  }
  if (cfg.JWT_ALGORITHM === 'EdDSA' && !(cfg.JWT_PRIVATE_KEY_FILE && cfg.JWT_PUBLIC_KEY_FILE)) {
    issues.push('JWT_PRIVATE_KEY_FILE/JWT_PUBLIC_KEY_FILE: EdDSA needs both');
  }
  if (cfg.NODE_ENV === 'production' && cfg.JWT_ALGORITHM === 'HS256') {
    const weak = weakSecret(cfg.JWT_SECRET);
    if (weak) issues.push(`JWT_SECRET: ${weak} (required in production)`);
  }
  for (const scope of cfg.DEFAULT_SCOPES.split(',').filter(Boolean)) {
    if (!(SCOPES as readonly string[]).includes(scope)) issues.push(`DEFAULT_SCOPES: unknown scope ${scope}`);
  }
  if (cfg.WORKFLOW_HEARTBEAT_MS * 2 > cfg.WORKFLOW_LEASE_MS) {
    issues.push('WORKFLOW_HEARTBEAT_MS: must be at most half of WORKFLOW_LEASE_MS');
  }
  if (cfg.WORKFLOW_PLANNER === 'gemini' && !cfg.GEMINI_API_KEY) {
    issues.push('WORKFLOW_PLANNER: gemini needs GEMINI_API_KEY');
  }
  if (cfg.HTTP_PORT === 0 && cfg.HTTPS_PORT === 0) {
    issues.push('HTTP_PORT/HTTPS_PORT: at least one listener must be on');
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return Object.freeze({ ...cfg, DATA_DIR: path.resolve(cfg.DATA_DIR) });
}

/** Every scope a token can carry; `admin` implies all others. */
export const SCOPES = [
  'admin',
  'miner:read',
  'miner:control',
  'node:rpc',
  'task:read',
  'task:write',
  'trade:read',
  'trade:write',
  'projects:read',
  'projects:write',
] as const;
export type Scope = (typeof SCOPES)[number];

/** Why a signing secret is unacceptable in production, or undefined when it is fine. */
export function weakSecret(secret: string | undefined): string | undefined {
  if (!secret) return 'missing';
  if (secret.length < 32) return 'shorter than 32 characters';
  if (new Set(secret).size < 10) return 'too few distinct characters';
  if (/^(change.?me|secret|password|example|test|dev)/i.test(secret)) return 'a placeholder value';
  return undefined;
}

let cached: Config | undefined;

/** The process-wide configuration, parsed on first use and frozen. */
export function config(): Config {
  cached ??= parseConfig();
  return cached;
}

/** Whether this host runs a miner: MINER_CMD, or the simulated one outside production. */
export function minerConfigured(cfg: Pick<Config, 'MINER_CMD' | 'NODE_ENV'>): boolean {
  return Boolean(cfg.MINER_CMD) || cfg.NODE_ENV !== 'production';
}

/** Per-worker pool size from the total budget; every worker keeps at least two. */
export function poolSizePerWorker(cfg: Pick<Config, 'PG_POOL_TOTAL' | 'WORKERS'>): number {
  return Math.max(2, Math.floor(cfg.PG_POOL_TOTAL / cfg.WORKERS));
}
