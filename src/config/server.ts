import { availableParallelism } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { bool, int, list, optionalString, optionalUrl, port } from './parsers.ts';

export const processKeys = {
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalString.describe(
    'OpenTelemetry: the OTLP/HTTP collector (`http://collector:4318`); set (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), each worker exports traces with the official SDK, which reads the other standard `OTEL_*` variables (`OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`, `OTEL_EXPORTER_OTLP_HEADERS`, …); unset: no SDK is loaded',
  ),
  NATIVE_ADDONS: z
    .enum(['on', 'off'])
    .default('on')
    .describe(
      '`off`: the fallbacks (JWT on node:crypto; argon2id, bcrypt and XXH64 in hash-wasm) even where the prebuilt Rust addons load, as on a platform without them; read from the environment when the addons load',
    ),
  NODE_ENV: z
    .enum(['development', 'production', 'test'])
    .default('development')
    .describe(
      '`production` requires a strong `JWT_SECRET` and runs no simulated miner; error bodies are the same in every mode',
    ),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('pino level'),
  PROCESS_MODEL: z
    .enum(['cluster', 'single'])
    .default('cluster')
    .describe(
      '`cluster`: a primary forks `WORKERS` worker processes and supervises them (crash respawn, rolling `SIGHUP` restart); `single`: everything in one process, for small hosts such as a rig (less than half the memory of a two-worker cluster; no respawn: the process manager restarts it, and `SIGHUP` reloads only the TLS certificate)',
    ),
  WORKERS: int(availableParallelism(), 1, 256)
    .meta({ defaultText: 'available parallelism' })
    .describe('worker processes forked by the primary (`PROCESS_MODEL=cluster`)'),
  DATA_DIR: z
    .string()
    .min(1)
    .default('.data')
    .transform((dir) => path.resolve(dir))
    .describe(
      'embedded Postgres (its data, socket directory and `postgres-password`), dev certificate, pid file; relative to the working directory',
    ),
  SHUTDOWN_TIMEOUT_MS: int(10_000, 100).describe('drain deadline on SIGTERM/SIGINT and per worker on reload'),
  SHUTDOWN_DELAY_MS: int(0, 0).describe(
    "on SIGTERM/SIGINT, how long /api/ready answers 503 while everything still serves, before draining starts: a load balancer's health checks take the host out first (set it above their interval × fall)",
  ),
  WORKER_READY_TIMEOUT_MS: int(30_000, 1000).describe(
    'a worker not ready by then is killed (and counts as a crash)',
  ),
  CRASH_LOOP_MAX: int(5, 1).describe('crashes within the window that make the primary give up'),
  CRASH_LOOP_WINDOW_MS: int(30_000, 1000).describe('the crash-loop window'),
  RESPAWN_BACKOFF_MAX_MS: int(5000, 0).describe('ceiling of the respawn backoff'),
  METRICS_HOST: z
    .string()
    .min(1)
    .default('127.0.0.1')
    .describe("address of the primary's Prometheus endpoint"),
  METRICS_PORT: port(9464).describe(
    'port of `GET /metrics`; `0` or `off` disables; `any`: one the OS chooses',
  ),
  CPU_PROFILE_DIR: optionalString.describe(
    'when set, every worker writes a V8 CPU profile there on exit (used by `npm run profile`)',
  ),
  WORKER_NODE_OPTIONS: optionalString.describe(
    "when set, the workers' (not the primary's) `NODE_OPTIONS`, e.g. clinic doctor's sampler (used by `npm run profile:doctor`)",
  ),
};

export const httpKeys = {
  HOST: z.string().min(1).default('0.0.0.0').describe('address the HTTP listeners bind'),
  HTTP_PORT: port(8080).describe(
    'cleartext HTTP/1.1 + h2c; `0` or `off` disables; `any`: one the OS chooses',
  ),
  HTTPS_PORT: port(8443).describe(
    'TLS with ALPN h2/http1.1; `0` or `off` disables; `any`: one the OS chooses',
  ),
  TLS_CERT: optionalString.describe(
    'PEM certificate file; with `TLS_KEY`; unset: self-signed dev certificate in `DATA_DIR/tls`',
  ),
  TLS_KEY: optionalString.describe('PEM private key file; with `TLS_CERT`'),
  KEEP_ALIVE_TIMEOUT_MS: int(75_000, 1000).describe('idle HTTP/1.1 keep-alive and HTTP/2 session timeout'),
  HEADERS_TIMEOUT_MS: int(20_000, 1000).describe(
    'time to receive request headers (also for the first bytes of a connection); at most `REQUEST_TIMEOUT_MS`',
  ),
  REQUEST_TIMEOUT_MS: int(60_000, 1000).describe(
    'time to receive a whole HTTP/1.1 request, and the whole body of an HTTP/2 stream (408)',
  ),
  BODY_IDLE_TIMEOUT_MS: int(30_000, 100).describe(
    'an HTTP/2 request body that sends nothing for this long is cut off (408)',
  ),
  MAX_HEADER_SIZE: int(16_384, 1024, 1_048_576).describe(
    'bytes of request headers (HTTP/1.1 and the HTTP/2 header list)',
  ),
  BODY_LIMIT_BYTES: int(1_048_576, 1024).describe('JSON body limit; larger bodies get 413'),
  H2_MAX_CONCURRENT_STREAMS: int(128, 1, 10_000).describe('per HTTP/2 session'),
  H2_MAX_SESSION_MEMORY_MB: int(16, 1, 1024).describe('per HTTP/2 session'),
  COMPRESSION_THRESHOLD_BYTES: int(1024, 0).describe('smaller responses are sent uncompressed'),
  // Express parses it itself: `loopback`, addresses and subnets (comma-separated), or a hop count.
  TRUST_PROXY: z
    .string()
    .default('loopback')
    .describe('express `trust proxy` (which `X-Forwarded-*` to believe)'),
  CORS_ORIGINS: list()
    .pipe(
      z.array(
        z
          .string()
          .refine(
            (o) => o === '*' || (URL.canParse(o) && new URL(o).origin === o),
            'each an origin (`https://app.example.com`, no path) or `*`',
          ),
      ),
    )
    .describe(
      'origins whose browser apps may call the API (CORS: preflights answered before authentication on every route, a preflight from another origin refused with 403); `*`: any (not with credentials); unset: CORS off',
    ),
  CORS_CREDENTIALS: bool(false).describe(
    '`true`: cross-origin requests may carry cookies and HTTP authentication (`Access-Control-Allow-Credentials`)',
  ),
  CORS_EXPOSED_HEADERS: list('ETag,X-Request-Id,Location,Retry-After').describe(
    'response headers a cross-origin page may read',
  ),
  CORS_MAX_AGE_SECONDS: int(600, 0, 86_400).describe('how long a browser may cache a preflight answer'),
  EXPOSE_ERRORS: bool(false).describe(
    "`true`: 500 responses carry the error's message and stack (never set it on a reachable host); the only switch for that, whatever `NODE_ENV` says",
  ),
};

export const postgresKeys = {
  DATABASE_URL: optionalUrl(/^postgres(ql)?$/, '`postgres://…` URL').describe('unset: embedded Postgres'),
  EMBEDDED_PG_PORT: int(0, 0, 65535).describe(
    'TCP port of the embedded Postgres on 127.0.0.1 (SCRAM only); `0`: no TCP, the private Unix socket only',
  ),
  PG_POOL_TOTAL: int(20, 1, 10_000).describe(
    'connection budget across all workers of a host (each gets at least 2)',
  ),
  PG_CONNECT_TIMEOUT_MS: int(3000, 100).describe('giving up on a new connection'),
  PG_IDLE_TIMEOUT_MS: int(30_000, 0).describe('closing an idle pooled connection'),
  PG_STATEMENT_TIMEOUT_MS: int(10_000, 0).describe('server-side `statement_timeout`; `0` disables'),
  DB_RETRY_AFTER_SECONDS: int(5, 1, 3600).describe('`Retry-After` on 503s while the database is unreachable'),
};
