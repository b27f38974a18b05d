import { z } from 'zod';
import { bool, int, list, optionalString, optionalUrl, words } from './parsers.ts';

export const rigKeys = {
  MINER_CMD: optionalString.describe(
    'the miner executable; unset: the simulated miner outside production, no miner in production',
  ),
  MINER_ARGS: words().describe('its arguments'),
  MINER_AUTOSTART: bool(false).describe('start the miner when the service starts'),
  MINER_STOP_TIMEOUT_MS: int(5000, 100).describe('SIGTERM, then SIGKILL after this long'),
  MINER_RESTART: z
    .enum(['on-failure', 'always', 'never'])
    .default('on-failure')
    .describe('after an unexpected exit: `on-failure` (non-zero exit or signal), `always`, `never`'),
  MINER_RESTART_BACKOFF_MAX_MS: int(30_000, 0).describe('ceiling of the restart backoff (250 ms doubling)'),
  MINER_ENV_PASSTHROUGH: list().describe(
    "names of variables passed from ferrite's environment to the miner, which otherwise gets only `PATH`, `HOME`, `LANG`, `LC_ALL`, `TZ` and the `SIM_MINER_*` keys below (never `JWT_SECRET`, `DATABASE_URL` or any other ferrite setting)",
  ),
  STATS_PERSIST_INTERVAL_MS: int(10_000, 100).describe(
    'how often the latest stats snapshot is stored in `stats_samples`',
  ),
  STATS_PUSH_INTERVAL_MS: int(1000, 50).describe('how often `/ws` clients get the latest stats'),
  WS_PING_INTERVAL_MS: int(30_000, 100).describe(
    'WebSocket ping interval; a peer that missed the previous pong is dropped',
  ),
  WS_ALLOWED_ORIGINS: list().describe(
    "origins (e.g. `https://app.example.com`) allowed to open `/ws` from a browser besides the request's own; another `Origin` gets 403",
  ),
  STREAMS_MAX_PER_USER: int(20, 1, 100_000).describe(
    'event streams (SSE) and WebSockets one user may hold open at once on one worker; one more gets 429',
  ),
  NODE_RPC_URL: optionalUrl(/^https?$/, 'http(s) URL').describe(
    "the blockchain node's JSON-RPC endpoint; unset: no RPC proxy, no block validation",
  ),
  NODE_RPC_METHODS: list(
    'eth_blockNumber,eth_getBlockByHash,eth_getBlockByNumber,eth_chainId,eth_syncing,net_version,net_peerCount,web3_clientVersion',
  ).describe('methods `POST /api/node/rpc` forwards; others get JSON-RPC error -32601'),
  NODE_RPC_TIMEOUT_MS: int(5000, 100).describe('connect/headers/body timeout towards the node (then 504)'),
  NODE_RPC_MAX_BODY_BYTES: int(262_144, 1024).describe('largest JSON-RPC body accepted (413)'),
  NODE_RPC_MAX_BATCH: int(50, 1, 1000).describe('most calls in one batch (413 with a JSON-RPC error)'),
  BLOCK_VALIDATE_METHOD: z
    .string()
    .min(1)
    .default('eth_getBlockByHash')
    .describe('JSON-RPC method that confirms a found block (`[hash, false]`; a non-null result confirms)'),
  BLOCK_VALIDATE_RETRY_MS: int(5000, 100).describe(
    'retry interval while the node is unreachable or does not know the block yet',
  ),
  DASHBOARD_GPU_TEMP_ALERT_C: int(85, 1, 150).describe(
    'the dashboard raises an alert while a GPU is at or above this temperature (°C)',
  ),
  DASHBOARD_HASHRATE_ALERT_RATIO: z.coerce
    .number()
    .gt(0)
    .lt(1)
    .default(0.8)
    .describe(
      'the dashboard raises an alert while the hashrate is below this fraction of its 15-minute average',
    ),
  EXPORT_POOL_SIZE: int(2, 1, 100).describe(
    'Postgres connections per worker for exports, apart from the main pool; also the exports one worker streams at once (429 beyond)',
  ),
  EXPORT_MAX_PER_USER: int(1, 1, 100).describe(
    'exports one user may stream at once from one worker (429 beyond)',
  ),
  EXPORT_DRAIN_TIMEOUT_MS: int(30_000, 100).describe(
    'an export whose client takes nothing for this long is cut off and its connection released',
  ),
};
